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

Size (~560 lines): the v1 and v2 endpoints and their async tasks share limits and the task table. The v2
services take typed requests (`inputs.py`: `EmbedInput`, `EmbedTaskInput`, built by the router from the wire
body) and answer `Embeddings` or task rows, which the router shapes into the API's JSON; the extraction
itself is in `extract.py`, media sources in `services.media`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from dataclasses import dataclass, field, replace
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
    to_wire,
)
from framedex.services.embed.inputs import (
    EmbedInput,
    EmbedTaskInput,
    ImageInput,
    MediaInput,
    MultiInput,
    TextInput,
    settle,
)
from framedex.services.media import (
    MAX_IMAGE_BYTES,
    Media,
    MediaSource,
    check_source,
    decode_base64,
    load_image,
    open_media,
)
from framedex.services.paging import Page, PageRequest, paginate
from framedex.services.platform import Platform
from framedex.storage.tables_entities import EmbedTaskRow

log = logging.getLogger("framedex.embeddings")

EMBED_TASK_JOB = "embed_task"
SYNC_MAX_SECONDS = {"marengo3.0": 600.0, "marengo3.5": 30.0}
BASE64_MAX_BYTES = {"marengo3.0": 36 * 1024**2, "marengo3.5": 32 * 1024**2}
IMAGE_MAX_BYTES = MAX_IMAGE_BYTES
TASK_MAX_SECONDS = 4 * 3600.0
RETENTION = timedelta(days=7)
V1_AUDIO_SEGMENT_SECONDS = 10.0
_OPTION_ORDER = {"visual": 0, "audio": 1, "transcription": 2, "fused": 3}


def _ordered(pieces: list[Piece]) -> list[Piece]:
    """A media input's pieces in the order the API lists them: clips by time, then the whole asset."""
    return sorted(pieces, key=lambda p: (p.scope == "asset", p.start or 0.0, _OPTION_ORDER.get(p.option or "", 9)))


def _data(pieces: list[Piece], dim: int) -> list[dict[str, Any]]:
    """A v2 task's stored result data (the API's `EmbeddingData` items)."""
    return [{"embedding": to_wire(p.vector, dim), "embedding_option": p.option, "embedding_scope": p.scope,
             "start_sec": p.start, "end_sec": p.end} for p in _ordered(pieces)]


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


@dataclass(frozen=True)
class Usage:
    """What a Marengo 3.5 request used: tokens per modality, in the order met, and whether its text was over
    the model's limit."""

    input_tokens: dict[str, int]
    truncated: bool = False


@dataclass(frozen=True)
class Embeddings:
    """The answer of a synchronous embedding request: its vectors (joint space, `to_wire` at ``dimension``
    makes them the API's), what they were made of (``metadata``, the same record a task keeps; None for a
    text), and for Marengo 3.5 the ``usage``."""

    pieces: list[Piece]
    dimension: int
    metadata: dict[str, Any] | None = None
    usage: Usage | None = None


@dataclass
class _Tally:
    """Tokens counted while embedding (`Usage.input_tokens`), and whether a text was over its limit."""

    tokens: dict[str, int] = field(default_factory=dict)
    truncated: bool = False

    def text(self, text: TextInput) -> str:
        """The text to embed, counted."""
        self.tokens["text"] = text.tokens
        self.truncated = text.truncated
        return text.text

    def add(self, kind: str, count: int) -> None:
        self.tokens[kind] = self.tokens.get(kind, 0) + count


def create_v2(platform: Platform, tenant_id: str, request: EmbedInput) -> Embeddings:
    """Synchronous embeddings (`POST /embed-v2`)."""
    model, dim, spec, tally = request.model, request.dimension, request.spec, _Tally()
    if isinstance(spec, TextInput):
        out = Embeddings([Piece(embed_texts(platform, [tally.text(spec)])[0], None, None)], dim)
    elif isinstance(spec, ImageInput):
        out = _image(platform, tenant_id, request.input_type, spec, dim, tally)
    elif isinstance(spec, MediaInput):
        out = _media(platform, tenant_id, model, spec, dim)
    else:
        out = _multi_input(platform, tenant_id, model, spec, dim, tally)
    if model == "marengo3.5":
        meta = out.metadata if out.metadata is not None else {"input_type": request.input_type,
                                                              "embedding_dimension": dim}
        out = replace(out, metadata=meta, usage=Usage(tally.tokens, tally.truncated))
    return out


def _image(platform: Platform, tenant_id: str, input_type: str, spec: ImageInput, dim: int,
           tally: _Tally) -> Embeddings:
    """An ``image`` or a ``text_image``: one vector, the mean of the image's and the text's."""
    check_source(platform, tenant_id, spec.source, input_type)
    vectors: list[FloatArray] = []
    if spec.text is not None:
        vectors.append(embed_texts(platform, [tally.text(settle(spec.text))])[0])
    with open_media(platform, tenant_id, spec.source, input_type, max_bytes=IMAGE_MAX_BYTES) as media:
        vectors.extend(embed_images(platform, [load_image(media.path)]))
        meta = {"input_type": input_type, "input_url": media.input_url, "input_filename": media.input_filename}
    vec = mean_vector(vectors)
    return Embeddings([Piece(vec if vec is not None else vectors[0], None, None)], dim, meta)


def _media(platform: Platform, tenant_id: str, model: str, spec: MediaInput, dim: int) -> Embeddings:
    """An ``audio`` or ``video`` input: a vector per clip, option and scope of its plan."""
    check_source(platform, tenant_id, spec.source, spec.kind)
    limit = platform.settings.max_url_download_bytes
    with open_media(platform, tenant_id, spec.source, spec.kind, max_bytes=limit,
                    base64_max=BASE64_MAX_BYTES[model]) as media:
        embed = embed_audio_file if spec.kind == "audio" else embed_video_file
        result = embed(platform, media.path, spec.plan, max_seconds=SYNC_MAX_SECONDS[model])
        meta = _media_metadata(spec.kind, media, spec.plan, result, model, dim)
    return Embeddings(_ordered(result.pieces), dim, meta)


def _multi_input(platform: Platform, tenant_id: str, model: str, spec: MultiInput, dim: int,
                 tally: _Tally) -> Embeddings:
    """Text with `<@name>` placeholders plus up to 10 media sources, fused into one vector."""
    vectors: list[FloatArray] = []
    if spec.tokens is not None:
        tally.tokens["text"] = spec.tokens
    if spec.plain:
        vectors.append(embed_texts(platform, [spec.plain])[0])
    for checked in spec.sources:
        source = settle(checked)
        if source.document is not None:  # PDF, text, Markdown: services/documents.py
            vector, words = documents.multi_input_vector(platform, tenant_id, source.document)
            vectors.append(vector)
            tally.add("document", words)
            continue
        assert source.image is not None
        check_source(platform, tenant_id, source.image, source.name)
        with open_media(platform, tenant_id, source.image, source.name, max_bytes=IMAGE_MAX_BYTES) as media:
            vectors.extend(embed_images(platform, [load_image(media.path)]))
        tally.add("image", 1)
    vec = mean_vector(vectors)
    if vec is None:
        vec = np.zeros(WIRE_DIM, dtype=np.float32)
    meta: dict[str, Any] = {"input_type": "multi_input"}
    if model == "marengo3.5":
        meta["embedding_dimension"] = dim
    return Embeddings([Piece(vec, None, None)], dim, meta)


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
        clean = TextInput.check("marengo3.0", text, "text", False).text
        out["text_embedding"] = {"segments": [{"float": to_wire(embed_texts(platform, [clean])[0])}]}
    if image_bytes is not None or image_url:
        if image_bytes is not None:
            image = load_image(image_bytes)
            meta = {"input_filename": image_filename}
        else:
            src = MediaSource(url=image_url)
            check_source(platform, tenant_id, src, "image_url")
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
                src = MediaSource(url=audio_url)
                check_source(platform, tenant_id, src, "audio_url")
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


def create_task_v2(platform: Platform, tenant_id: str, task: EmbedTaskInput) -> EmbedTaskRow:
    """An async embedding task (`POST /embed-v2/tasks`), queued for the worker."""
    check_source(platform, tenant_id, task.source, task.input_type)
    options = settle(task.options)
    request: dict[str, Any] = {"dimension": task.dimension}
    if isinstance(options, documents.DocumentTaskOptions):  # services/documents.py
        request["document"] = options.to_json()
    elif isinstance(options, MediaPlan):
        request["plan"] = {"options": options.options, "scopes": options.scopes, "types": options.types,
                           "start": options.start, "end": options.end, "strategy": options.strategy,
                           "seconds": options.seconds}
    return _new_task(platform, tenant_id, api="v2", model=task.model, input_type=task.input_type,
                     source=task.source, request=request, base64_max=BASE64_MAX_BYTES[task.model])


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
        source = MediaSource(url=video_url)
        check_source(platform, tenant_id, source, "video_url")
        return _new_task(platform, tenant_id, api="v1", model=model, input_type="video", source=source,
                         request=request)
    if video_stream is None:
        raise MissingParameter("video_file")
    return _new_task(platform, tenant_id, api="v1", model=model, input_type="video", source=MediaSource(),
                     request=request, stream=video_stream, filename=video_filename)


def _source_json(source: MediaSource) -> dict[str, Any]:
    """A task's source as its row keeps it: the URL or asset id (base64 bytes are kept as a blob)."""
    return {k: v for k, v in (("url", source.url), ("asset_id", source.asset_id)) if v}


def _stored_source(stored: dict[str, Any]) -> MediaSource:
    """The source a task's row keeps (see `_source_json`; rows stored before it may hold more keys)."""
    url, asset_id = stored.get("url"), stored.get("asset_id")
    return MediaSource(url=str(url) if url else None, asset_id=str(asset_id) if asset_id else None)


def _new_task(platform: Platform, tenant_id: str, *, api: str, model: str, input_type: str,
              source: MediaSource, request: dict[str, Any], base64_max: int | None = None,
              stream: Any = None, filename: str | None = None) -> EmbedTaskRow:
    from framedex.storage.blobs import BlobTooLarge

    task_id = new_id()
    source_key: str | None = None
    stored = _source_json(source)
    if source.base64_string:
        raw = decode_base64(source.base64_string, input_type, base64_max or IMAGE_MAX_BYTES)
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
    meta: dict[str, Any] = {"input_url": source.url, "input_filename": filename}
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
    stored = dict(request.get("source") or {})
    source = _stored_source(stored)
    dim = int(request.get("dimension") or WIRE_DIM)
    try:
        with open_media(platform, tenant_id, source, input_type, max_bytes=platform.settings.max_url_download_bytes,
                        blob_key=source_key) as media:
            media.input_url = media.input_url or source.url
            media.input_filename = media.input_filename or stored.get("filename")
            if input_type == "image":
                vec = embed_images(platform, [load_image(media.path)])[0]
                result: dict[str, Any] = {"data": [{"embedding": to_wire(vec, dim), "embedding_option": "visual",
                                                    "embedding_scope": "asset"}]}
                meta: dict[str, Any] = {"input_type": "image", "input_url": media.input_url,
                                        "input_filename": media.input_filename, "embedding_options": ["visual"],
                                        "embedding_scopes": ["asset"]}
            elif input_type == "document":  # services/documents.py
                options = documents.DocumentTaskOptions.from_json(request["document"])
                pieces = documents.run_task(platform, tenant_id, options, asset_id=source.asset_id,
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
