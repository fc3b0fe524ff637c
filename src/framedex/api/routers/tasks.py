"""Legacy upload-and-index tasks (`/tasks`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, Response, UploadFile

from framedex.api import json_limits
from framedex.api.deps import PageDep, PlatformDep, TenantDep
from framedex.api.query import video_filter
from framedex.api.routers.uploads import public_base_url
from framedex.api.schemas.common import PagedResponse, PageInfo
from framedex.api.schemas.videos import TaskCreated, TaskSchema
from framedex.services import streaming, videos
from framedex.services.platform import Platform

router = APIRouter(tags=["tasks"])


@router.post("/tasks", status_code=201, response_model=TaskCreated)
def create_task(
    platform: PlatformDep, tenant: TenantDep,
    index_id: Annotated[str | None, Form()] = None,
    video_file: Annotated[UploadFile | None, File()] = None,
    video_url: Annotated[str | None, Form()] = None,
    enable_video_stream: Annotated[bool, Form()] = False,
    user_metadata: Annotated[str | None, Form()] = None,
) -> TaskCreated:
    json_limits.parse_metadata_field(user_metadata)  # bounded here; the service reads the checked text
    view = videos.create_task(
        platform, tenant, index_id=index_id,
        stream=video_file.file if video_file is not None else None,
        filename=video_file.filename if video_file is not None else None,
        video_url=video_url or None, enable_video_stream=enable_video_stream, user_metadata=user_metadata,
    )
    return TaskCreated(id=view.task.id, video_id=view.task.video_id)


@router.get("/tasks", response_model=PagedResponse[TaskSchema])
def list_tasks(request: Request, platform: PlatformDep, tenant: TenantDep, page: PageDep,
               index_id: str | None = None) -> PagedResponse[TaskSchema]:
    flt = video_filter(request.query_params, known={"index_id"}, root_level_metadata=False)
    result = videos.list_tasks(platform, tenant, page, index_id=index_id, flt=flt)
    return PagedResponse[TaskSchema](data=_schemas(platform, request, result.items),
                                     page_info=PageInfo(**result.page_info))


@router.get("/tasks/{task_id}", response_model=TaskSchema)
def retrieve_task(task_id: str, request: Request, platform: PlatformDep, tenant: TenantDep) -> TaskSchema:
    return _schemas(platform, request, [videos.get_task(platform, tenant, task_id)])[0]


def _schemas(platform: Platform, request: Request, views: list[videos.TaskView]) -> list[TaskSchema]:
    """Tasks with their `hls` objects (one query for the page's rendition states)."""
    base = public_base_url(platform, request)
    known = streaming.states(platform, [v.video.asset_id for v in views if v.video is not None])
    out = []
    for view in views:
        schema = TaskSchema.of(view)
        if view.video is not None:
            schema.hls = streaming.hls_object(platform, base, view.video, known)
        out.append(schema)
    return out


@router.delete("/tasks/{task_id}", status_code=204)
def delete_task(task_id: str, platform: PlatformDep, tenant: TenantDep) -> Response:
    videos.delete_task(platform, tenant, task_id)
    return Response(status_code=204)
