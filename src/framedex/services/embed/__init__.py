"""Embeddings API: `POST /embed-v2`, `/embed-v2/tasks`, and the v1 `POST /embed` and `/embed/tasks`.

Every vector comes from the same joint space the index uses (DESIGN §5): text through the vision
encoder's text tower (MiniLM by default), images and video frames through the frame analyzer (ConSE
into the MiniLM space by default), sounds through the audio tagger's joint embedding, speech as the
text embedding of its transcript. So a text embedding and a video-clip embedding are comparable by
cosine similarity, and both are comparable with what search retrieves.

**Dimension.** Marengo 3.0/3.5 vectors have 512 values (`WIRE_DIM`). The joint space has 384
(MiniLM); vectors go on the wire L2-normalised and zero-padded to 512, which leaves every cosine
similarity (and dot product) unchanged. Marengo 3.5's `embedding_dimension=256` returns the first
256 values, re-normalised (Matryoshka semantics: a prefix of the full vector), which is lossy here.
Every endpoint that emits vectors (v1, v2, tasks) goes through `to_wire`.

Size (~600 lines): the v1 and v2 endpoints and their async tasks share request parsing, limits and the task
table; the extraction itself is in `extract.py`, media sources in `services.media`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from framedex.domain_errors import InvalidParameter, MissingParameter, NotFound, PayloadTooLarge, ServiceError
from framedex.ids import is_id, new_id, parse_rfc3339, rfc3339, utcnow
from framedex.models.base import FloatArray
from framedex.services import documents
from framedex.services.embed.extract import (
    WIRE_DIM,
    MediaPlan,
    MediaResult,
    Piece,
    embed_audio_file,
    embed_images,
    embed_texts,
    embed_video_file,
    mean_vector,
    parse_segmentation,
    to_wire,
)
from framedex.services.media import MAX_IMAGE_BYTES, Media, check_source, decode_base64, load_image, open_media
from framedex.services.paging import Page, PageRequest, paginate
from framedex.services.platform import Platform
from framedex.storage.tables_entities import EmbedTaskRow

log = logging.getLogger("framedex.embeddings")

EMBED_TASK_JOB = "embed_task"
V2_MODELS = ("marengo3.0", "marengo3.5")
SYNC_MAX_SECONDS = {"marengo3.0": 600.0, "marengo3.5": 30.0}
BASE64_MAX_BYTES = {"marengo3.0": 36 * 1024**2, "marengo3.5": 32 * 1024**2}
IMAGE_MAX_BYTES = MAX_IMAGE_BYTES
TASK_MAX_SECONDS = 4 * 3600.0
MAX_TEXT_TOKENS = {"marengo3.0": 500, "marengo3.5": 2000}
MAX_MEDIA_SOURCES = 10
RETENTION = timedelta(days=7)
VIDEO_OPTIONS = ("visual", "audio", "transcription")
AUDIO_OPTIONS = ("audio", "transcription")
V1_AUDIO_SEGMENT_SECONDS = 10.0
_PLACEHOLDER = re.compile(r"<@([^<>\s]+)>")


# --- request parsing ----------------------------------------------------------------------------


def _str_list(raw: Any, name: str, allowed: tuple[str, ...], default: list[str]) -> list[str]:
    if raw is None:
        return list(default)
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list) or not raw or not all(isinstance(x, str) for x in raw):
        raise InvalidParameter(name, f"It must be a non-empty array of {list(allowed)}.")
    bad = [x for x in raw if x not in allowed]
    if bad:
        raise InvalidParameter(name, f"Unsupported values {bad}; use {list(allowed)}.")
    return list(dict.fromkeys(raw))


def _number(raw: Any, name: str) -> float | None:
    if raw is None:
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0:
        raise InvalidParameter(name, "It must be a number of seconds, at least 0.")
    return float(raw)


def media_plan(model: str, kind: str, body: dict[str, Any], *, task: bool) -> MediaPlan:
    """The MediaPlan of a v2 `audio` / `video` input object."""
    audio = kind == "audio"
    option_values: tuple[str, ...] = AUDIO_OPTIONS if audio else VIDEO_OPTIONS
    if model == "marengo3.5":
        default_options = ["audio"] if audio else ["visual", "audio"]
        option_values = tuple(o for o in option_values if o != "transcription")
    else:
        default_options = list(option_values)
    options = _str_list(body.get("embedding_option"), f"{kind}.embedding_option", option_values, default_options)
    scopes = _str_list(body.get("embedding_scope"), f"{kind}.embedding_scope", ("clip", "local", "asset"),
                       ["clip", "asset"])
    scopes = list(dict.fromkeys("clip" if s == "local" else s for s in scopes))
    types = _str_list(body.get("embedding_type"), f"{kind}.embedding_type",
                      ("separate_embedding", "fused_embedding"), ["separate_embedding"])
    strategy, seconds = parse_segmentation(body.get("segmentation"), kind, audio=audio)
    start, end = _number(body.get("start_sec"), f"{kind}.start_sec"), _number(body.get("end_sec"), f"{kind}.end_sec")
    if start is not None and end is not None and end <= start:
        raise InvalidParameter(f"{kind}.end_sec", "end_sec must be greater than start_sec.")
    return MediaPlan(options, scopes, types, start, end, strategy, seconds)


def _model(raw: Any) -> str:
    if not raw:
        raise MissingParameter("model_name")
    if raw not in V2_MODELS:
        raise InvalidParameter("model_name", f"Use one of {list(V2_MODELS)}.", code="model_not_supported")
    return str(raw)


def _check_text(model: str, text: Any, name: str, auto_truncate: bool) -> tuple[str, int, bool]:
    if not isinstance(text, str) or not text.strip():
        raise MissingParameter(name)
    tokens = len(re.findall(r"\w+|[^\w\s]", text))
    limit = MAX_TEXT_TOKENS.get(model, 500)
    if tokens > limit:
        if not auto_truncate:
            raise InvalidParameter(name, f"The text has about {tokens} tokens; the limit is {limit}.",
                                   code="text_too_long")
        return text, tokens, True
    return text, tokens, False


def _data(pieces: list[Piece], dim: int) -> list[dict[str, Any]]:
    order = {"visual": 0, "audio": 1, "transcription": 2, "fused": 3}
    pieces = sorted(pieces, key=lambda p: (p.scope == "asset", p.start or 0.0, order.get(p.option or "", 9)))
    return [{"embedding": to_wire(p.vector, dim), "embedding_option": p.option, "embedding_scope": p.scope,
             "start_sec": p.start, "end_sec": p.end} for p in pieces]


def _dimension(model: str, raw: Any) -> int:
    if raw is None:
        return WIRE_DIM
    if model != "marengo3.5":
        raise InvalidParameter("embedding_dimension", "embedding_dimension requires marengo3.5.")
    if isinstance(raw, bool) or raw not in (256, 512):
        raise InvalidParameter("embedding_dimension", "Use 256 or 512.")
    return int(raw)


def _media_metadata(kind: str, media: Media, plan: MediaPlan, result: MediaResult, model: str,
                    dim: int) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "input_type": kind, "input_url": media.input_url, "input_filename": media.input_filename,
        "embedding_options": plan.options, "embedding_scopes": plan.scopes,
        "duration": round(result.duration, 3), "start_offset_sec": round(result.start, 3),
        "end_offset_sec": round(result.end, 3),
    }
    if kind == "video" and plan.strategy == "fixed":
        meta["clip_length"] = int(plan.seconds)
    if model == "marengo3.5":
        meta["embedding_dimension"] = dim
    return meta


# --- POST /embed-v2 -----------------------------------------------------------------------------


def create_v2(platform: Platform, tenant_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """Synchronous embeddings; returns the `EmbeddingSuccessResponse` JSON."""
    model = _model(body.get("model_name"))
    input_type = body.get("input_type")
    if not input_type:
        raise MissingParameter("input_type")
    allowed = ("multi_input",) if model == "marengo3.5" else ("text", "image", "text_image", "audio", "video",
                                                             "multi_input")
    if input_type not in allowed:
        raise InvalidParameter("input_type", f"{model} accepts input_type {list(allowed)}.")
    for flag in ("auto_truncate", "embedding_uncertainty"):
        if body.get(flag) is not None and model != "marengo3.5":
            raise InvalidParameter(flag, f"{flag} requires marengo3.5.")
    if body.get("embedding_uncertainty"):
        raise InvalidParameter("embedding_uncertainty", "Uncertainty vectors are not available on this server.",
                               code="parameter_not_supported")
    dim = _dimension(model, body.get("embedding_dimension"))
    spec = body.get(input_type)
    if not isinstance(spec, dict):
        raise MissingParameter(str(input_type))
    out: dict[str, Any] = {}
    usage_tokens: dict[str, int] = {}
    truncated = False
    if input_type == "text":
        text, tokens, truncated = _check_text(model, spec.get("input_text"), "text.input_text",
                                              bool(body.get("auto_truncate")))
        usage_tokens["text"] = tokens
        out = {"data": [{"embedding": to_wire(embed_texts(platform, [text])[0], dim)}]}
    elif input_type in ("image", "text_image"):
        src = check_source(platform, tenant_id, spec.get("media_source"), input_type)
        vectors: list[FloatArray] = []
        if input_type == "text_image":
            text, tokens, truncated = _check_text(model, spec.get("input_text"), "text_image.input_text",
                                                  bool(body.get("auto_truncate")))
            usage_tokens["text"] = tokens
            vectors.append(embed_texts(platform, [text])[0])
        with open_media(platform, tenant_id, src, input_type, max_bytes=IMAGE_MAX_BYTES) as media:
            image = load_image(media.path)
            vectors.extend(embed_images(platform, [image]))
            meta = {"input_type": input_type, "input_url": media.input_url, "input_filename": media.input_filename}
        vec = mean_vector(vectors)
        out = {"data": [{"embedding": to_wire(vec if vec is not None else vectors[0], dim)}], "metadata": meta}
    elif input_type in ("audio", "video"):
        plan = media_plan(model, input_type, spec, task=False)
        src = check_source(platform, tenant_id, spec.get("media_source"), input_type)
        limit = platform.settings.max_url_download_bytes
        with open_media(platform, tenant_id, src, input_type, max_bytes=limit,
                        base64_max=BASE64_MAX_BYTES[model]) as media:
            embed = embed_audio_file if input_type == "audio" else embed_video_file
            result = embed(platform, media.path, plan, max_seconds=SYNC_MAX_SECONDS[model])
            out = {"data": _data(result.pieces, dim),
                   "metadata": _media_metadata(input_type, media, plan, result, model, dim)}
    else:  # multi_input
        out = _multi_input(platform, tenant_id, model, spec, dim, usage_tokens)
    if model == "marengo3.5":
        out["usage"] = {"input_tokens": usage_tokens, "truncated": truncated}
        if truncated:
            out["usage"]["truncation_reason"] = "model_context_window"
        out.setdefault("metadata", {"input_type": input_type, "embedding_dimension": dim})
    return out


def _multi_input(platform: Platform, tenant_id: str, model: str, spec: dict[str, Any], dim: int,
                 usage_tokens: dict[str, int]) -> dict[str, Any]:
    """Text with `<@name>` placeholders plus up to 10 media sources, fused into one vector."""
    sources = spec.get("media_sources") or []
    text = spec.get("input_text")
    if not isinstance(sources, list) or len(sources) > MAX_MEDIA_SOURCES:
        raise InvalidParameter("multi_input.media_sources", f"Give at most {MAX_MEDIA_SOURCES} media sources.")
    if not sources and not (isinstance(text, str) and text.strip()):
        raise MissingParameter("multi_input.input_text")
    vectors: list[FloatArray] = []
    names = {str(s.get("name")) for s in sources if isinstance(s, dict) and s.get("name")}
    if isinstance(text, str) and text.strip():
        unknown = [n for n in _PLACEHOLDER.findall(text) if n not in names]
        if unknown:
            raise InvalidParameter("multi_input.input_text", f"No media source is named {unknown[0]!r}.")
        plain = re.sub(r"\s+", " ", _PLACEHOLDER.sub(" ", text)).strip()
        usage_tokens["text"] = len(re.findall(r"\w+|[^\w\s]", text))
        if plain:
            vectors.append(embed_texts(platform, [plain])[0])
    for i, source in enumerate(sources):
        name = f"multi_input.media_sources[{i}]"
        if not isinstance(source, dict):
            raise InvalidParameter(name, "It must be an object.")
        media_type = source.get("media_type")
        if media_type == "document":  # PDF, text, Markdown: services/documents.py
            document = documents.MultiInputDocument.from_body(model, source, name, sources, text)
            vector, words = documents.multi_input_vector(platform, tenant_id, document)
            vectors.append(vector)
            usage_tokens["document"] = usage_tokens.get("document", 0) + words
            continue
        if media_type != "image":
            raise InvalidParameter(name, "Only image media sources are supported here.",
                                   code="parameter_not_supported")
        src = check_source(platform, tenant_id, {k: source.get(k) for k in ("base64_string", "url", "asset_id")}, name)
        with open_media(platform, tenant_id, src, name, max_bytes=IMAGE_MAX_BYTES) as media:
            vectors.extend(embed_images(platform, [load_image(media.path)]))
        usage_tokens["image"] = usage_tokens.get("image", 0) + 1
    vec = mean_vector(vectors)
    if vec is None:
        vec = np.zeros(WIRE_DIM, dtype=np.float32)
    return {"data": [{"embedding": to_wire(vec, dim)}],
            "metadata": {"input_type": "multi_input", **({"embedding_dimension": dim} if model == "marengo3.5"
                                                         else {})}}


# --- POST /embed (v1) ---------------------------------------------------------------------------


def _v1_model(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise MissingParameter("model_name")
    name = raw.strip()
    if not name.lower().startswith(("marengo", "marengo-retrieval")):
        raise InvalidParameter("model_name", "Use marengo3.0.", code="model_not_supported")
    return name


def create_v1(platform: Platform, tenant_id: str, *, model_name: Any, text: str | None,
              image_bytes: bytes | None, image_filename: str | None, image_url: str | None,
              audio_bytes: bytes | None, audio_filename: str | None, audio_url: str | None,
              audio_start_offset_sec: float | None) -> dict[str, Any]:
    """`EmbeddingResponse`: any of text, image and audio in one call."""
    model = _v1_model(model_name)
    if not text and image_bytes is None and not image_url and audio_bytes is None and not audio_url:
        raise MissingParameter("text")
    out: dict[str, Any] = {"model_name": model}
    if text is not None and text != "":
        clean, _, _ = _check_text("marengo3.0", text, "text", False)
        out["text_embedding"] = {"segments": [{"float": to_wire(embed_texts(platform, [clean])[0])}]}
    if image_bytes is not None or image_url:
        if image_bytes is not None:
            image = load_image(image_bytes)
            meta = {"input_filename": image_filename}
        else:
            src = check_source(platform, tenant_id, {"url": image_url}, "image_url")
            with open_media(platform, tenant_id, src, "image_url", max_bytes=IMAGE_MAX_BYTES) as media:
                image = load_image(media.path)
            meta = {"input_url": image_url}
        vec = embed_images(platform, [image])[0]
        out["image_embedding"] = {"segments": [{"float": to_wire(vec)}], "metadata": meta}
    if audio_bytes is not None or audio_url:
        plan = MediaPlan(["audio", "transcription"], ["clip"], ["fused_embedding"],
                         start=audio_start_offset_sec, strategy="fixed", seconds=V1_AUDIO_SEGMENT_SECONDS)
        with contextlib.ExitStack() as stack:
            if audio_bytes is not None:
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="framedex-embed-"))) / "audio"
                tmp.write_bytes(audio_bytes)
                path, meta = tmp, {"input_filename": audio_filename}
            else:
                src = check_source(platform, tenant_id, {"url": audio_url}, "audio_url")
                media = stack.enter_context(open_media(platform, tenant_id, src, "audio_url",
                                                       max_bytes=platform.settings.max_url_download_bytes))
                path, meta = media.path, {"input_url": audio_url}
            result = embed_audio_file(platform, path, plan, max_seconds=SYNC_MAX_SECONDS["marengo3.0"])
        # v1 audio combines sound and speech in one vector per segment.
        out["audio_embedding"] = {
            "segments": [{"float": to_wire(p.vector), "start_offset_sec": p.start, "end_offset_sec": p.end}
                         for p in sorted(result.pieces, key=lambda p: p.start or 0.0)],
            "metadata": meta,
        }
    return out


# --- async tasks (v1 and v2) --------------------------------------------------------------------


def _source_blob_key(task_id: str) -> str:
    return f"embed_tasks/{task_id}/source"


def _result_blob_key(task_id: str) -> str:
    return f"embed_tasks/{task_id}/result.json"


def create_task_v2(platform: Platform, tenant_id: str, body: dict[str, Any]) -> EmbedTaskRow:
    model = _model(body.get("model_name"))
    input_type = body.get("input_type")
    if not input_type:
        raise MissingParameter("input_type")
    allowed = ("audio", "video", "image", "document") if model == "marengo3.5" else ("audio", "video")
    if input_type not in allowed:
        raise InvalidParameter("input_type", f"{model} accepts input_type {list(allowed)} for async tasks.")
    if body.get("embedding_uncertainty"):
        raise InvalidParameter("embedding_uncertainty", "Uncertainty vectors are not available on this server.",
                               code="parameter_not_supported")
    dim = _dimension(model, body.get("embedding_dimension"))
    spec = body.get(input_type)
    if not isinstance(spec, dict):
        raise MissingParameter(str(input_type))
    src = check_source(platform, tenant_id, spec.get("media_source"), str(input_type))
    request: dict[str, Any] = {"dimension": dim}
    if input_type == "document":  # services/documents.py
        request["document"] = documents.DocumentTaskOptions.from_body(spec).to_json()
    if input_type in ("audio", "video"):
        plan = media_plan(model, input_type, spec, task=True)
        request["plan"] = {"options": plan.options, "scopes": plan.scopes, "types": plan.types,
                           "start": plan.start, "end": plan.end, "strategy": plan.strategy, "seconds": plan.seconds}
    return _new_task(platform, tenant_id, api="v2", model=model, input_type=str(input_type), source=src,
                     request=request, base64_max=BASE64_MAX_BYTES[model])


def create_task_v1(platform: Platform, tenant_id: str, *, model_name: Any, video_url: str | None,
                   video_stream: Any, video_filename: str | None, start_offset: float | None,
                   end_offset: float | None, clip_length: float | None, scopes: list[str]) -> EmbedTaskRow:
    model = _v1_model(model_name)
    if (start_offset is None) != (end_offset is None):
        raise InvalidParameter("video_end_offset_sec", "Set both video_start_offset_sec and video_end_offset_sec.")
    length = 6.0 if clip_length is None else float(clip_length)
    if not 2 <= length <= 10:
        raise InvalidParameter("video_clip_length", "It must be between 2 and 10.")
    if start_offset is not None and end_offset is not None and end_offset - start_offset < length - 1e-6:
        raise InvalidParameter("video_end_offset_sec",
                               "The end offset must be at least video_start_offset_sec + video_clip_length.")
    scopes = scopes or ["clip"]
    bad = [s for s in scopes if s not in ("clip", "video")]
    if bad:
        raise InvalidParameter("video_embedding_scope", "Use clip and/or video.")
    legacy = "2.7" in model or "retrieval" in model.lower()
    options = ["visual-text", "audio"] if legacy else ["visual", "audio", "transcription"]
    request: dict[str, Any] = {
        "dimension": WIRE_DIM, "v1_options": options,
        "plan": {"options": ["visual", "audio"] if legacy else ["visual", "audio", "transcription"],
                 "scopes": ["asset" if s == "video" else s for s in dict.fromkeys(scopes)],
                 "types": ["separate_embedding"], "start": start_offset, "end": end_offset,
                 "strategy": "fixed", "seconds": length},
        "clip_length": length, "scopes": list(dict.fromkeys(scopes)),
    }
    if video_url:
        source: dict[str, Any] = {"url": video_url}
        check_source(platform, tenant_id, source, "video_url")
        return _new_task(platform, tenant_id, api="v1", model=model, input_type="video", source=source,
                         request=request)
    if video_stream is None:
        raise MissingParameter("video_file")
    return _new_task(platform, tenant_id, api="v1", model=model, input_type="video", source={},
                     request=request, stream=video_stream, filename=video_filename)


def _new_task(platform: Platform, tenant_id: str, *, api: str, model: str, input_type: str,
              source: dict[str, Any], request: dict[str, Any], base64_max: int | None = None,
              stream: Any = None, filename: str | None = None) -> EmbedTaskRow:
    from framedex.storage.blobs import BlobTooLarge

    task_id = new_id()
    source_key: str | None = None
    stored = {k: v for k, v in source.items() if k != "base64_string"}
    if source.get("base64_string"):
        raw = decode_base64(str(source["base64_string"]), input_type, base64_max or IMAGE_MAX_BYTES)
        source_key = _source_blob_key(task_id)
        platform.blobs.put_bytes(source_key, raw)
    elif stream is not None:
        source_key = _source_blob_key(task_id)
        try:
            platform.blobs.put_stream(source_key, stream, max_bytes=platform.settings.max_upload_bytes)
        except BlobTooLarge as exc:
            platform.blobs.delete_prefix(f"embed_tasks/{task_id}/")
            raise PayloadTooLarge("The video file is too large.") from exc
        stored = {"filename": filename}
    if source_key is not None and input_type in ("audio", "video"):
        _check_playable(platform, source_key, input_type, task_id)
    meta: dict[str, Any] = {"input_url": source.get("url"), "input_filename": filename}
    row = EmbedTaskRow(id=task_id, tenant_id=tenant_id, api=api, model_name=model, input_type=input_type,
                       status="processing", request={**request, "source": stored}, meta=meta,
                       source_key=source_key)
    with platform.store.session() as s:
        s.add(row)
        platform.queue.enqueue(EMBED_TASK_JOB, {"task_id": task_id}, session=s)
    return row


def _check_playable(platform: Platform, key: str, input_type: str, task_id: str) -> None:
    from framedex.ingest.probe import MediaRejected, probe

    try:
        info = probe(platform.blobs.local_path(key))
    except MediaRejected as exc:
        platform.blobs.delete_prefix(f"embed_tasks/{task_id}/")
        raise InvalidParameter(input_type, exc.message, code=f"{input_type}_file_broken") from exc
    if (input_type == "video" and not info.has_video) or (input_type == "audio" and not info.has_audio):
        platform.blobs.delete_prefix(f"embed_tasks/{task_id}/")
        raise InvalidParameter(input_type, f"The file has no {input_type} stream.", code=f"{input_type}_file_broken")


def get_task(platform: Platform, tenant_id: str, task_id: str, api: str) -> EmbedTaskRow:
    with platform.store.session() as s:
        row = s.get(EmbedTaskRow, task_id) if is_id(task_id) else None
        if row is None or row.tenant_id != tenant_id or row.api != api:
            raise NotFound("embedding task", task_id)
        return row


def task_result(platform: Platform, row: EmbedTaskRow) -> dict[str, Any] | None:
    if row.status != "ready" or not row.result_key or not platform.blobs.exists(row.result_key):
        return None
    with platform.blobs.open(row.result_key) as f:
        result: dict[str, Any] = json.loads(f.read())
    return result


def list_tasks(platform: Platform, tenant_id: str, api: str, page: PageRequest, *, started_at: str | None,
               ended_at: str | None, status: str | None) -> Page[EmbedTaskRow]:
    query = select(EmbedTaskRow).where(EmbedTaskRow.tenant_id == tenant_id, EmbedTaskRow.api == api)
    try:
        if started_at:
            query = query.where(EmbedTaskRow.created_at >= parse_rfc3339(started_at))
        if ended_at:
            query = query.where(EmbedTaskRow.created_at <= parse_rfc3339(ended_at))
    except ValueError as exc:
        raise InvalidParameter("started_at", "Use RFC 3339, e.g. 2024-01-01T00:00:00Z.") from exc
    if not started_at and not ended_at:
        query = query.where(EmbedTaskRow.created_at >= utcnow() - RETENTION)
    if status:
        if status not in ("processing", "ready", "failed"):
            raise InvalidParameter("status", "Use processing, ready or failed.")
        query = query.where(EmbedTaskRow.status == status)
    query = query.order_by(EmbedTaskRow.created_at.desc(), EmbedTaskRow.id.desc())
    with platform.store.session() as s:
        return paginate(s, query, page)


def run_task(platform: Platform, task_id: str) -> None:
    """The job: embed the task's media and store the result; failures of the input fail the task."""
    with platform.store.session() as s:
        row = s.get(EmbedTaskRow, task_id)
        if row is None or row.status != "processing":
            return
        tenant_id, request, source_key = row.tenant_id, dict(row.request), row.source_key
        model, input_type, api = row.model_name, row.input_type, row.api
    source = dict(request.get("source") or {})
    dim = int(request.get("dimension") or WIRE_DIM)
    try:
        with open_media(platform, tenant_id, source, input_type, max_bytes=platform.settings.max_url_download_bytes,
                        blob_key=source_key) as media:
            media.input_url = media.input_url or source.get("url")
            media.input_filename = media.input_filename or source.get("filename")
            if input_type == "image":
                vec = embed_images(platform, [load_image(media.path)])[0]
                result: dict[str, Any] = {"data": [{"embedding": to_wire(vec, dim), "embedding_option": "visual",
                                                    "embedding_scope": "asset"}]}
                meta: dict[str, Any] = {"input_type": "image", "input_url": media.input_url,
                                        "input_filename": media.input_filename, "embedding_options": ["visual"],
                                        "embedding_scopes": ["asset"]}
            elif input_type == "document":  # services/documents.py
                options = documents.DocumentTaskOptions.from_json(request["document"])
                pieces = documents.run_task(platform, tenant_id, options, asset_id=source.get("asset_id"),
                                            path=media.path, filename=media.input_filename)
                result = {"data": [{"embedding": to_wire(p.vector, dim), "embedding_option": "text",
                                    "embedding_scope": p.scope, **_document_span(p)} for p in pieces]}
                meta = {"input_type": "document", "input_url": media.input_url, "input_filename":
                        media.input_filename, "embedding_options": ["text"], "embedding_scopes": options.scopes,
                        "embedding_dimension": dim}
            else:
                plan = MediaPlan(**request["plan"])
                embed = embed_audio_file if input_type == "audio" else embed_video_file
                media_result = embed(platform, media.path, plan, max_seconds=TASK_MAX_SECONDS)
                meta = _media_metadata(input_type, media, plan, media_result, model, dim)
                if api == "v1":
                    result = {"segments": _v1_segments(media_result.pieces, request)}
                    meta = {"input_url": media.input_url, "input_filename": media.input_filename,
                            "video_clip_length": request.get("clip_length", 6.0),
                            "video_embedding_scope": request.get("scopes", ["clip"]),
                            "video_embedding_option": request.get("v1_options"),
                            "duration": round(media_result.duration, 3)}
                else:
                    result = {"data": _data(media_result.pieces, dim)}
    except ServiceError as exc:
        _finish(platform, task_id, status="failed", error=exc.message)
        return
    key = _result_blob_key(task_id)
    platform.blobs.put_bytes(key, json.dumps(result).encode())
    _finish(platform, task_id, status="ready", result_key=key, meta=meta)


def _document_span(piece: documents.DocumentPiece) -> dict[str, Any]:
    """Where a document embedding lies: its page or its chunk."""
    if piece.scope == "page":
        return {"start_page_number": piece.number, "end_page_number": piece.number}
    return {"chunk_index": piece.number} if piece.scope == "chunk" else {}


def _v1_segments(pieces: list[Piece], request: dict[str, Any]) -> list[dict[str, Any]]:
    legacy = "visual-text" in (request.get("v1_options") or [])
    out = []
    for p in sorted(pieces, key=lambda p: (p.scope == "asset", p.start or 0.0, p.option or "")):
        option = "visual-text" if legacy and p.option == "visual" else p.option
        out.append({"float": to_wire(p.vector), "start_offset_sec": p.start, "end_offset_sec": p.end,
                    "embedding_option": option, "embedding_scope": "video" if p.scope == "asset" else "clip"})
    return out


def _finish(platform: Platform, task_id: str, *, status: str, error: str | None = None,
            result_key: str | None = None, meta: dict[str, Any] | None = None) -> None:
    with platform.store.session() as s:
        row = s.get(EmbedTaskRow, task_id)
        if row is None:
            return
        row.status = status
        row.error = error
        row.result_key = result_key
        if meta is not None:
            row.meta = meta
        row.updated_at = utcnow()
        if status in ("ready", "failed") and row.source_key:
            platform.blobs.delete(row.source_key)
            row.source_key = None


def give_up_task(platform: Platform, task_id: str, reason: str) -> None:
    _finish(platform, task_id, status="failed", error=f"The embedding task could not complete processing: {reason}")


def job_handlers(platform: Platform) -> dict[str, Any]:
    """Job kinds of this module, for the worker (collected by `framedex.platform.job_handlers`)."""
    from framedex.jobs.worker import JobHandler

    return {EMBED_TASK_JOB: JobHandler(lambda job: run_task(platform, job.payload["task_id"]),
                                       lambda job, reason: give_up_task(platform, job.payload["task_id"], reason))}


def task_times(row: EmbedTaskRow) -> tuple[str | None, str | None]:
    return rfc3339(row.created_at), rfc3339(row.updated_at)
