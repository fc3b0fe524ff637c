"""Settings for every framedex process, read from `FRAMEDEX_*` environment variables.

One `Settings` object is built at start-up (CLI, app factory, worker) and passed down;
no module reads the environment on its own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

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
        default=None, description="SQLAlchemy URL; default is SQLite (WAL) inside data_dir."
    )
    public_url: str | None = Field(
        default=None,
        description="Base URL clients reach this server at; used for upload and thumbnail URLs.",
    )
    auth_enabled: bool = True

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
    url_download_timeout_seconds: float = 60.0
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
        "model, ~28 KiB a token), least recently used evicted first; 0 = none saved."
    )
    analysis_prepare: bool = Field(
        default=True, description="After a video in an index with a pegasus model is ready, prepare its "
        "summary, chapters, highlights, gist and prompt state in the background."
    )
    analyze_media_wait_seconds: float = Field(
        default=300.0, ge=0, description="How long /analyze waits for a url/base64 video to be indexed."
    )
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_urls: list[str] = Field(
        default_factory=list, description="Webhook endpoints that receive every analyze.task.* event."
    )

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'framedex.db').resolve()}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"
