"""Async embedding tasks (`/embed-v2/tasks`, v1 `/embed/tasks`) and their job, apart from the sync endpoints."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from framedex.domain_errors import InvalidParameter, MissingParameter, NotFound, PayloadTooLarge, ServiceError
from framedex.ids import is_id, new_id, parse_rfc3339, rfc3339, utcnow
from framedex.services import documents
from framedex.services.embed import BASE64_MAX_BYTES, IMAGE_MAX_BYTES, media_metadata, ordered_pieces, v1_model
from framedex.services.embed.extract import (
    WIRE_DIM,
    MediaPlan,
    Piece,
    embed_audio_file,
    embed_images,
    embed_video_file,
    to_wire,
)
from framedex.services.embed.inputs import EmbedTaskInput, settle
from framedex.services.media import MediaSource, check_source, decode_base64, load_image, open_media
from framedex.services.paging import Page, PageRequest, paginate
from framedex.services.platform import Platform
from framedex.storage.tables_entities import EmbedTaskRow

EMBED_TASK_JOB = "embed_task"
TASK_MAX_SECONDS = 4 * 3600.0
RETENTION = timedelta(days=7)


def _data(pieces: list[Piece], dim: int) -> list[dict[str, Any]]:
    """A v2 task's stored result data (the API's `EmbeddingData` items)."""
    return [{"embedding": to_wire(p.vector, dim), "embedding_option": p.option, "embedding_scope": p.scope,
             "start_sec": p.start, "end_sec": p.end} for p in ordered_pieces(pieces)]


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
    model = v1_model(model_name)
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
                meta = media_metadata(input_type, media, plan, media_result, model, dim)
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
