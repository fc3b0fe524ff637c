"""Embeddings: `POST /embed-v2`, `/embed-v2/tasks`, and the v1 `POST /embed` and `/embed/tasks` (B.11-B.14).

v1 bodies are multipart (the SDK forces it; lists are repeated parts); v2 bodies are JSON, turned into the
typed requests of `services.embed` (`EmbedInput.from_body`, `EmbedTaskInput.from_body`), which own the rules
and report the API's errors; the answers (`Embeddings`, task rows) are shaped here into the API's JSON.
A 413 on `POST /embed-v2` uses the nested `{"error": {"code", "message"}}` envelope the SDK expects.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse

from framedex.api import json_limits
from framedex.api.deps import PageDep, PlatformDep, TenantDep
from framedex.api.query import repeated
from framedex.api.schemas.common import PagedResponse, PageInfo
from framedex.api.schemas.embed import (
    EMBED_TASK_BODY,
    EmbeddingData,
    EmbeddingSuccessResponse,
    EmbeddingTaskResponse,
    EmbeddingUsage,
    EmbedTaskError,
    EmbedV1TaskCreated,
    EmbedV1TaskResponse,
    EmbedV1TaskStatus,
    EmbedV2Request,
    EmbedV2TaskCreated,
    MediaEmbeddingTask,
    MetadataWrapper,
    V1Segment,
    V1VideoEmbedding,
)
from framedex.domain_errors import InvalidParameter, PayloadTooLarge
from framedex.services import embed as embeddings
from framedex.services.embed import tasks as embed_tasks
from framedex.services.embed.extract import to_wire
from framedex.services.embed.inputs import EmbedTaskInput
from framedex.services.media import MAX_IMAGE_BYTES
from framedex.storage.tables_entities import EmbedTaskRow

router = APIRouter(tags=["embed"])

_MAX_V1_FILE = MAX_IMAGE_BYTES


def _nested_413(exc: PayloadTooLarge) -> JSONResponse:
    return JSONResponse({"error": {"code": exc.code, "message": exc.message}}, status_code=413)


def embeddings_json(result: embeddings.Embeddings) -> EmbeddingSuccessResponse:
    """The API's `EmbeddingSuccessResponse`: each vector in its wire form, at the requested dimension."""
    data = [EmbeddingData(embedding=to_wire(p.vector, result.dimension), embedding_option=p.option,
                          embedding_scope=p.scope, start_sec=p.start, end_sec=p.end) for p in result.pieces]
    usage = None
    if result.usage is not None:
        truncated = result.usage.truncated
        usage = EmbeddingUsage(input_tokens=result.usage.input_tokens, truncated=truncated,
                               truncation_reason="model_context_window" if truncated else None)
    return EmbeddingSuccessResponse(data=data, usage=usage, metadata=result.metadata)


@router.post("/embed-v2", response_model=EmbeddingSuccessResponse, response_model_exclude_none=True)
def create_embeddings_v2(body: EmbedV2Request, platform: PlatformDep,
                         tenant: TenantDep) -> EmbeddingSuccessResponse | JSONResponse:
    try:
        request = embeddings.EmbedInput.from_body(body.model_dump(exclude_none=True))
        result = embeddings.create_v2(platform, tenant, request)
    except PayloadTooLarge as exc:
        return _nested_413(exc)
    return embeddings_json(result)


# --- v2 tasks ---


def _v2_task(platform: Any, row: EmbedTaskRow, *, with_data: bool) -> EmbeddingTaskResponse:
    created, updated = embed_tasks.task_times(row)
    result = embed_tasks.task_result(platform, row) if with_data else None
    metadata = None
    if row.status == "ready" and row.meta.get("input_type"):
        metadata = {k: v for k, v in row.meta.items() if v is not None}
    return EmbeddingTaskResponse.model_validate({
        "id": row.id, "status": row.status, "created_at": created, "updated_at": updated,
        "data": result["data"] if result else None, "metadata": metadata,
        "error": EmbedTaskError(message=row.error) if row.status == "failed" and row.error else None,
    })


def _listed(row: EmbedTaskRow) -> MediaEmbeddingTask:
    created, updated = embed_tasks.task_times(row)
    meta = {k: v for k, v in row.meta.items() if v is not None}
    if row.api == "v2" and row.meta.get("input_type"):
        # The list item is the legacy MediaEmbeddingTask: name the options/scopes the way it does.
        kind = row.input_type
        meta = {"input_url": row.meta.get("input_url"), "input_filename": row.meta.get("input_filename"),
                f"{kind}_embedding_option": row.meta.get("embedding_options"),
                f"{kind}_embedding_scope": row.meta.get("embedding_scopes"),
                "duration": row.meta.get("duration")}
        if kind == "video":
            meta = {"input_url": meta["input_url"], "input_filename": meta["input_filename"],
                    "video_clip_length": row.meta.get("clip_length"),
                    "video_embedding_scope": row.meta.get("embedding_scopes"),
                    "video_embedding_option": row.meta.get("embedding_options"),
                    "duration": row.meta.get("duration")}
        meta = {k: v for k, v in meta.items() if v is not None}
    wrapper = MetadataWrapper(metadata=meta)
    return MediaEmbeddingTask(
        id=row.id, model_name=row.model_name, status=row.status, created_at=created, updated_at=updated,
        video_embedding=wrapper if row.input_type == "video" else None,
        audio_embedding=wrapper if row.input_type == "audio" else None,
        image_embedding=wrapper if row.input_type == "image" else None,
    )


@router.post("/embed-v2/tasks", status_code=202, response_model=EmbedV2TaskCreated,
             response_model_exclude_none=True)
def create_embedding_task_v2(body: EmbedV2Request, platform: PlatformDep, tenant: TenantDep) -> EmbedV2TaskCreated:
    task = EmbedTaskInput.from_body(body.model_dump(exclude_none=True))
    row = embed_tasks.create_task_v2(platform, tenant, task)
    return EmbedV2TaskCreated(id=row.id, status=row.status)


@router.get("/embed-v2/tasks", response_model=PagedResponse[MediaEmbeddingTask], response_model_exclude_none=True)
def list_embedding_tasks_v2(platform: PlatformDep, tenant: TenantDep, page: PageDep, started_at: str | None = None,
                            ended_at: str | None = None,
                            status: str | None = None) -> PagedResponse[MediaEmbeddingTask]:
    result = embed_tasks.list_tasks(platform, tenant, "v2", page, started_at=started_at, ended_at=ended_at,
                                    status=status)
    return PagedResponse[MediaEmbeddingTask](data=[_listed(r) for r in result.items],
                                             page_info=PageInfo(**result.page_info))


@router.get("/embed-v2/tasks/{task_id}", response_model=EmbeddingTaskResponse, response_model_exclude_none=True)
def retrieve_embedding_task_v2(task_id: str, platform: PlatformDep, tenant: TenantDep) -> EmbeddingTaskResponse:
    return _v2_task(platform, embed_tasks.get_task(platform, tenant, task_id, "v2"), with_data=True)


# --- v1 ---


async def _file_bytes(upload: UploadFile | None, name: str) -> tuple[bytes | None, str | None]:
    if upload is None:
        return None, None
    data = await upload.read(_MAX_V1_FILE + 1)
    if len(data) > _MAX_V1_FILE:
        raise PayloadTooLarge(f"The {name} exceeds the limit of {_MAX_V1_FILE // 1024**2} MB.")
    return data, upload.filename


@router.post("/embed")
async def create_embedding_v1(
    platform: PlatformDep, tenant: TenantDep,
    model_name: Annotated[str | None, Form()] = None,
    text: Annotated[str | None, Form()] = None,
    image_url: Annotated[str | None, Form()] = None,
    audio_url: Annotated[str | None, Form()] = None,
    audio_start_offset_sec: Annotated[float | None, Form()] = None,
    image_file: Annotated[UploadFile | None, File()] = None,
    audio_file: Annotated[UploadFile | None, File()] = None,
) -> dict[str, Any]:
    from starlette.concurrency import run_in_threadpool

    json_limits.finite(audio_start_offset_sec, "audio_start_offset_sec")
    image_bytes, image_name = await _file_bytes(image_file, "image_file")
    audio_bytes, audio_name = await _file_bytes(audio_file, "audio_file")
    # A URL that cannot be reached is a 400 from the service (services/media.connection_failed).
    result = await run_in_threadpool(
        lambda: embeddings.create_v1(
            platform, tenant, model_name=model_name, text=text, image_bytes=image_bytes,
            image_filename=image_name, image_url=image_url or None, audio_bytes=audio_bytes,
            audio_filename=audio_name, audio_url=audio_url or None,
            audio_start_offset_sec=audio_start_offset_sec))
    return legacy_embeddings_json(result)


def legacy_embeddings_json(result: embeddings.LegacyEmbeddings) -> dict[str, Any]:
    """The v1 `EmbeddingResponse`: a medium's key only when it was given."""
    out: dict[str, Any] = {"model_name": result.model}
    if result.text is not None:
        out["text_embedding"] = {"segments": [{"float": to_wire(result.text)}]}
    if result.image is not None:
        out["image_embedding"] = {"segments": [{"float": to_wire(result.image)}],
                                  "metadata": result.image_source}
    if result.audio is not None:
        out["audio_embedding"] = {
            "segments": [{"float": to_wire(p.vector), "start_offset_sec": p.start,
                          "end_offset_sec": p.end} for p in result.audio],
            "metadata": result.audio_source,
        }
    return out


def _float_form(value: Any, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidParameter(name, "It must be a number.") from exc
    return json_limits.finite(number, name)


@router.post("/embed/tasks", status_code=201, response_model=EmbedV1TaskCreated, openapi_extra=EMBED_TASK_BODY)
async def create_embedding_task_v1(request: Request, platform: PlatformDep, tenant: TenantDep) -> EmbedV1TaskCreated:
    from starlette.concurrency import run_in_threadpool

    async with request.form(max_files=1, max_fields=30) as form:
        def text(name: str) -> str | None:
            value = form.get(name)
            if value is not None and not isinstance(value, str):
                raise InvalidParameter(name, "It must be a text field.")
            return value.strip() if isinstance(value, str) and value.strip() else None

        upload = form.get("video_file")
        if upload is not None and isinstance(upload, str):
            raise InvalidParameter("video_file", "It must be a file.")
        scopes = [s for v in form.getlist("video_embedding_scope") if isinstance(v, str)
                  for s in v.split(",") if s.strip()]
        video_url = text("video_url")
        row = await run_in_threadpool(
            lambda: embed_tasks.create_task_v1(
                platform, tenant, model_name=text("model_name"), video_url=video_url,
                video_stream=None if video_url or upload is None else upload.file,
                video_filename=None if upload is None or isinstance(upload, str) else upload.filename,
                start_offset=_float_form(text("video_start_offset_sec"), "video_start_offset_sec"),
                end_offset=_float_form(text("video_end_offset_sec"), "video_end_offset_sec"),
                clip_length=_float_form(text("video_clip_length"), "video_clip_length"),
                scopes=[s.strip() for s in scopes]))
    return EmbedV1TaskCreated(id=row.id)


@router.get("/embed/tasks", response_model=PagedResponse[MediaEmbeddingTask], response_model_exclude_none=True)
def list_embedding_tasks_v1(platform: PlatformDep, tenant: TenantDep, page: PageDep, started_at: str | None = None,
                            ended_at: str | None = None,
                            status: str | None = None) -> PagedResponse[MediaEmbeddingTask]:
    result = embed_tasks.list_tasks(platform, tenant, "v1", page, started_at=started_at, ended_at=ended_at,
                                    status=status)
    return PagedResponse[MediaEmbeddingTask](data=[_listed(r) for r in result.items],
                                             page_info=PageInfo(**result.page_info))


def _v1_metadata(row: EmbedTaskRow) -> dict[str, Any]:
    request = row.request
    meta = {"input_url": row.meta.get("input_url"), "input_filename": row.meta.get("input_filename"),
            "video_clip_length": request.get("clip_length"), "video_embedding_scope": request.get("scopes"),
            "video_embedding_option": request.get("v1_options"), "duration": row.meta.get("duration")}
    return {k: v for k, v in meta.items() if v is not None}


@router.get("/embed/tasks/{task_id}/status", response_model=EmbedV1TaskStatus, response_model_exclude_none=True)
def embedding_task_status_v1(task_id: str, platform: PlatformDep, tenant: TenantDep) -> EmbedV1TaskStatus:
    row = embed_tasks.get_task(platform, tenant, task_id, "v1")
    return EmbedV1TaskStatus(id=row.id, model_name=row.model_name, status=row.status,
                             video_embedding=V1VideoEmbedding(metadata=_v1_metadata(row)))


@router.get("/embed/tasks/{task_id}", response_model=EmbedV1TaskResponse, response_model_exclude_none=True)
def retrieve_embedding_task_v1(task_id: str, request: Request, platform: PlatformDep,
                               tenant: TenantDep) -> EmbedV1TaskResponse:
    row = embed_tasks.get_task(platform, tenant, task_id, "v1")
    wanted = set(repeated(request.query_params, "embedding_option"))
    wanted |= {"visual" for w in list(wanted) if w == "visual-text"} | {"visual-text" for w in wanted if w == "visual"}
    segments: list[V1Segment] | None = None
    result = embed_tasks.task_result(platform, row)
    if result is not None:
        segments = [V1Segment(float_=s["float"], start_offset_sec=s.get("start_offset_sec"),
                              end_offset_sec=s.get("end_offset_sec"), embedding_option=s.get("embedding_option"),
                              embedding_scope=s.get("embedding_scope"))
                    for s in result.get("segments", []) if not wanted or s.get("embedding_option") in wanted]
    created, updated = embed_tasks.task_times(row)
    return EmbedV1TaskResponse(id=row.id, model_name=row.model_name, status=row.status, created_at=created,
                               updated_at=updated,
                               video_embedding=V1VideoEmbedding(metadata=_v1_metadata(row), segments=segments))
