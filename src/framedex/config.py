"""Settings for every framedex process, read from `FRAMEDEX_*` environment variables.

One `Settings` object is built at start-up (CLI, app factory, worker) and passed down;
no module reads the environment on its own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_models_dir() -> Path:
    """Model packs are shared by all data directories of a user."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "framedex" / "models"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FRAMEDEX_", extra="ignore")

    data_dir: Path = Field(default=Path("./framedex-data"), description="Database, blobs and indexes.")
    models_dir: Path = Field(default_factory=default_models_dir, description="Assembled model packs.")
    database_url: str | None = Field(
        default=None, description="Metadata database: sqlite:///path or postgresql://…; default is SQLite (WAL) "
        "inside data_dir."
    )
    queue_url: str | None = Field(default=None, description="Job dispatch: redis://… or unset for rows in the metadata "
                                  "database (the job state is always there).")
    blob_url: str | None = Field(default=None, description="Blob store: file://<dir> or s3://[KEY:SECRET@]host:port/"
                                 "bucket[/prefix] (or s3://bucket/prefix on AWS); default is data_dir/blobs.")
    blob_cache_max_bytes: int = Field(
        default=20 * 1024**3, ge=0, description="With s3:// blobs: the bound of each process's cache of media "
        "downloaded for decoding (data_dir/cache/blobs), least recently used first out.")
    vector_url: str | None = Field(default=None, description="Vector index: file://<dir> (embedded, one process) or "
                                   "postgresql://… (pgvector); default is data_dir/vectors.")
    public_url: str | None = Field(
        default=None,
        description="Base URL clients reach this server at; used for upload and thumbnail URLs.",
    )
    auth_enabled: bool = True
    api_docs: bool = Field(
        default=True, description="Serve /docs, /redoc and /openapi.json without a key; turn off on a server "
        "that faces the internet, where they only help scanners (review #18).")

    # Workers
    workers: int = Field(default=1, ge=0, description="In-process ingest workers started by `serve`.")
    job_lease_seconds: float = Field(default=60.0, gt=1)
    job_max_attempts: int = Field(default=3, ge=1)
    worker_poll_seconds: float = Field(default=0.5, gt=0)

    # Models
    model_threads: int = Field(default=2, ge=1, description="Thread cap for each model backend.")
    model_idle_ttl_seconds: float = Field(default=600.0, ge=0)
    speech_profile: Literal["base", "tiny.en"] = "base"
    speech_language: str | None = Field(
        default=None,
        description="Whisper language code (en, de, fr, ...) a spoken-language guess falls back to when it is "
        "unsure; unset = English. Detection still runs; an upload's user_metadata 'language' forces one.",
    )
    clip_model_dir: Path | None = Field(
        default=None,
        description="A CLIP/SigLIP ONNX export (image.onnx, text.onnx, tokenizer.json) that replaces the "
        "default ConSE vision encoder. Indexes built with one encoder must be re-indexed to switch.",
    )

    # Limits (the real API's, see reference A.11)
    max_upload_bytes: int = 2 * 1024**3
    max_asset_upload_bytes: int = 200 * 1024**2
    max_multipart_bytes: int = 10 * 1024**3
    multipart_chunk_bytes: int = 10 * 1024**2
    max_url_download_bytes: int = 4 * 1024**3
    url_download_timeout_seconds: float = Field(default=60.0, gt=0, description="Per connect/read/write of a URL.")
    url_download_deadline_seconds: float = Field(
        default=1800.0, gt=0, description="Wall-clock limit for one whole URL download, redirects included."
    )
    url_download_min_bytes_per_second: int = Field(
        default=32 * 1024, ge=0, description="A download averaging less after url_download_timeout_seconds "
        "is stopped, so a drip cannot hold a worker until the deadline; 0 = no floor."
    )
    allow_private_urls: bool = Field(
        default=False, description="Let video_url point at loopback/private addresses (tests, LANs)."
    )
    min_video_seconds: float = 4.0
    max_video_seconds: float = 7200.0
    min_video_side: int = Field(default=96, description="The real API wants 360; our models work lower.")
    max_video_width: int = 7680
    max_video_height: int = 4320

    # Search
    search_page_ttl_seconds: float = 3600.0

    # Imports from storage (`/tasks/transfers/import/{integration_id}`, docs/imports.md). Integrations are
    # declared by the operator only: credentials stay on the server and clients name an integration.
    integrations: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        repr=False,  # it holds S3 secrets: keep them out of any logged or printed Settings
        description='JSON name -> {"type": "local", "path": ...} or {"type": "s3", "endpoint": ..., "bucket": '
        '..., "prefix": ..., "access_key_id": ..., "secret_access_key": ..., "region": ...}.',
    )
    import_roots: list[Path] = Field(
        default_factory=list, description="Directories local integrations must lie under; empty = none allowed."
    )
    import_max_video_bytes: int = Field(default=10 * 1024**3, description="Per file, as data-connector imports.")
    import_max_files: int = Field(default=1000, ge=1, description="Files one import run takes; the next run "
                                  "(incremental) continues with the rest.")
    import_max_listed: int = Field(default=100_000, ge=1, description="Objects one listing walks at most.")

    # Generation (analyze, summarize, gist): a local GGUF through llama.cpp, or any OpenAI-compatible server
    llm_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint (Ollama, vLLM, ...); unset = local llama.cpp."
    )
    llm_api_key: str | None = Field(default=None, description="Bearer token for llm_url, if it needs one.")
    llm_model: str = Field(
        default="qwen2.5-coder-1.5b-instruct", description="Local model pack, or the model name at llm_url."
    )
    llm_models: dict[str, str] = Field(
        default_factory=dict, description="Per API model_name (pegasus1.5, ...) overrides of llm_model."
    )
    llm_model_path: Path | None = Field(default=None, description="A GGUF file to run instead of the pack.")
    llm_threads: int | None = Field(default=None, ge=1, description="llama.cpp threads (default model_threads).")
    llm_context: int = Field(default=8192, ge=1024, description="Context window of the local model, tokens.")
    llm_prompt_budget: int = Field(
        default=3072, ge=256, description="Tokens of video timeline per prompt; longer videos are map-reduced."
    )
    llm_timeout_seconds: float = Field(default=600.0, gt=0)
    llm_state_disk_mib: int = Field(
        default=2048, ge=0, description="Disk for saved prompt states (a video's timeline read by the local "
        "model, ~15 KiB a token with the q8_0 cache), least recently used evicted first; 0 = none saved."
    )
    llm_kv_cache: Literal["f16", "q8_0"] = Field(
        default="q8_0", description="Number format of the local model's KV cache (and so of saved prompt "
        "states): q8_0 halves memory and disk and answers as f16 does but for rounding."
    )
    analysis_prepare: bool = Field(
        default=True, description="After a video in an index with a pegasus model is ready, prepare its "
        "summary, chapters, highlights, gist and prompt state in the background."
    )
    analyze_media_wait_seconds: float = Field(
        default=300.0, ge=0, description="How long /analyze waits for a url/base64 video to be indexed."
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Wall-clock limit for one delivery attempt, the reply included."
    )
    webhook_urls: list[str] = Field(
        default_factory=list, description="Webhook endpoints that receive every analyze.task.* event."
    )

    # Serving bounds: slow or half-open clients, thread starvation, one tenant crowding out the others
    http_header_timeout_seconds: float = Field(
        default=10.0, gt=0, description="A request head (line and headers) must arrive within this; else the "
        "connection is closed (slowloris).")
    http_keep_alive_seconds: int = Field(default=5, ge=1, description="Idle time before a kept-alive "
                                         "connection is closed.")
    http_body_grace_seconds: float = Field(
        default=30.0, gt=0, description="A request body may take this long, plus 1 s per http_min_body_rate "
        "bytes received; a slower body is answered 408 and the connection closed.")
    http_min_body_rate: int = Field(default=32 * 1024, ge=1, description="Bytes per second, see above.")
    max_connections: int = Field(default=1000, ge=1, description="Open client connections; more are answered "
                                 "503 and closed at once.")
    tenant_max_concurrent: int = Field(default=4, ge=1, description="In-flight expensive requests (analysis, "
                                       "search, embed) per tenant; more wait for a turn (below).")
    tenant_queue_seconds: float = Field(default=30.0, ge=0, description="How long a tenant's expensive request "
                                        "may wait for one of its turns before it is answered 429.")
    # Per-key rate limits of the endpoints the real API marks rate-limited (requests per key per
    # `rate_limit_window_seconds`; 0 turns one off). The counters live in the metadata store, so every API
    # process on one database shares them.
    rate_limit_window_seconds: int = Field(default=60, ge=1, description="Length of a rate-limit window.")
    rate_limit_search: int = Field(default=50, ge=0, description="POST /search per key per window.")
    rate_limit_analyze: int = Field(default=30, ge=0, description="POST /analyze (streamed or not) per key "
                                    "per window.")
    rate_limit_analyze_batches: int = Field(default=10, ge=0, description="POST /analyze/batches per key per "
                                            "window.")
    rate_limit_embed_v2: int = Field(default=100, ge=0, description="POST /embed-v2 per key per window.")
    rate_limit_embed_v2_tasks: int = Field(default=30, ge=0, description="POST /embed-v2/tasks per key per "
                                           "window.")
    rate_limit_knowledge_search: int = Field(default=50, ge=0, description="POST /knowledge-stores/{id}/search "
                                             "per key per window.")
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=1, description="How long the first answer to "
                                         "a POST with an Idempotency-Key is replayed for the same key.")
    analysis_threads: int = Field(default=4, ge=1, description="Threads for sync analysis requests, apart "
                                  "from the request threadpool.")
    analysis_queue: int = Field(default=32, ge=0, description="Sync analyses that may wait for one of those "
                                "threads; more are answered 429.")

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'framedex.db').resolve()}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"
