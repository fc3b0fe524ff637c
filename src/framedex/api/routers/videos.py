"""Indexed assets (`/indexes/{id}/indexed-assets`) and their legacy twin (`/indexes/{id}/videos`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from framedex.api import json_limits
from framedex.api.deps import PageDep, PlatformDep, TenantDep
from framedex.api.query import repeated, video_filter
from framedex.api.routers.uploads import public_base_url
from framedex.api.schemas.common import PagedResponse, PageInfo
from framedex.api.schemas.videos import (
    IndexedAssetByAsset,
    IndexedAssetCreate,
    IndexedAssetCreated,
    TranscriptionItem,
    UserMetadataBody,
    VideoDetail,
    VideoSummary,
)
from framedex.domain_errors import InvalidParameter
from framedex.services import streaming, videos
from framedex.services.embed.extract import to_wire
from framedex.services.embed.view import VideoEmbedding, video_embedding

router = APIRouter(tags=["indexed assets"])

_LIST_PARAMS = {"filename", "status", "created_at", "updated_at", "index_id"}


def _page(result: videos.Page[videos.IndexedAssetRow]) -> PagedResponse[VideoSummary]:
    return PagedResponse[VideoSummary](data=[VideoSummary.of(r) for r in result.items],
                                       page_info=PageInfo(**result.page_info))


@router.post("/indexes/{index_id}/indexed-assets", status_code=202, response_model=IndexedAssetCreated)
def create_indexed_asset(index_id: str, body: IndexedAssetCreate, platform: PlatformDep,
                         tenant: TenantDep) -> IndexedAssetCreated:
    json_limits.check_user_metadata(body.user_metadata)
    row = videos.index_asset(platform, tenant, index_id, body.asset_id,
                             enable_video_stream=bool(body.enable_video_stream), user_metadata=body.user_metadata)
    return IndexedAssetCreated(id=row.id, asset_id=row.asset_id, status=row.status)


@router.get("/indexes/{index_id}/indexed-assets", response_model=PagedResponse[VideoSummary])
@router.get("/indexes/{index_id}/videos", response_model=PagedResponse[VideoSummary])
def list_indexed_assets(index_id: str, request: Request, platform: PlatformDep, tenant: TenantDep,
                        page: PageDep) -> PagedResponse[VideoSummary]:
    legacy = request.url.path.endswith("/videos")
    flt = video_filter(request.query_params, known=_LIST_PARAMS, root_level_metadata=legacy)
    return _page(videos.list_videos(platform, tenant, index_id, page, flt))


@router.get("/assets/{asset_id}/indexed-assets", response_model=PagedResponse[IndexedAssetByAsset])
def list_indexed_assets_by_asset(asset_id: str, platform: PlatformDep, tenant: TenantDep,
                                 page: PageDep) -> PagedResponse[IndexedAssetByAsset]:
    result = videos.list_by_asset(platform, tenant, asset_id, page)
    return PagedResponse[IndexedAssetByAsset](data=[IndexedAssetByAsset.of_pair(r, name) for r, name in result.items],
                                              page_info=PageInfo(**result.page_info))


@router.get("/indexes/{index_id}/indexed-assets/{video_id}", response_model=VideoDetail,
            response_model_exclude_none=True)
@router.get("/indexes/{index_id}/videos/{video_id}", response_model=VideoDetail,
            response_model_exclude_none=True)
def retrieve_indexed_asset(index_id: str, video_id: str, request: Request, platform: PlatformDep,
                           tenant: TenantDep,
                           transcription: Annotated[bool, Query()] = False) -> VideoDetail:
    row = videos.retrieve(platform, tenant, index_id, video_id)
    detail = VideoDetail(**VideoSummary.of(row).model_dump(), stage_timings=row.stage_timings or None,
                         language=row.language)
    base = public_base_url(platform, request)
    known = streaming.states(platform, [row.asset_id])
    detail.hls = streaming.hls_object(platform, base, row, known)
    # Not in the real API's IndexedAssetDetailed, but the thumbnail addon's result has nowhere else to go.
    detail.thumbnail = streaming.asset_views(platform, base, row.asset_id, known).get("thumbnail")
    if transcription:
        detail.transcription = [TranscriptionItem(**t) for t in videos.transcription(platform, row.id)]
    options = repeated(request.query_params, "embedding_option")
    if options:
        bad = [o for o in options if o not in ("visual", "audio", "transcription", "visual-text")]
        if bad:
            raise InvalidParameter("embedding_option", f"Unknown options {bad}.")
        detail.embedding = _embedding_json(video_embedding(platform, row, options))
    return detail


def _embedding_json(embedding: VideoEmbedding) -> dict[str, Any]:
    """The real API's `embedding` field of an indexed asset: every stored clip vector asked for."""
    return {"model_name": embedding.model_name, "video_embedding": {"segments": [
        {"float": to_wire(seg.vector), "start_offset_sec": seg.start, "end_offset_sec": seg.end,
         "embedding_option": seg.option, "embedding_scope": "clip"} for seg in embedding.segments]}}


@router.patch("/indexes/{index_id}/indexed-assets/{video_id}", status_code=204)
@router.patch("/indexes/{index_id}/videos/{video_id}", status_code=204)
@router.put("/indexes/{index_id}/videos/{video_id}", status_code=204, include_in_schema=False)
def update_indexed_asset(index_id: str, video_id: str, body: UserMetadataBody, platform: PlatformDep,
                         tenant: TenantDep) -> Response:
    if isinstance(body.user_metadata, dict):
        json_limits.check_user_metadata(body.user_metadata)
        current = videos.retrieve(platform, tenant, index_id, video_id).user_metadata
        json_limits.check_merged_metadata(current, body.user_metadata)
    videos.update_user_metadata(platform, tenant, index_id, video_id, body.user_metadata)
    return Response(status_code=204)


@router.delete("/indexes/{index_id}/indexed-assets/{video_id}", status_code=204)
@router.delete("/indexes/{index_id}/videos/{video_id}", status_code=204)
def delete_indexed_asset(index_id: str, video_id: str, platform: PlatformDep, tenant: TenantDep) -> Response:
    videos.delete_video(platform, tenant, index_id, video_id)
    return Response(status_code=204)
