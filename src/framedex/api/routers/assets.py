"""Assets: direct and URL uploads, listing, details, deletion, transcription, user metadata (reference B.5).

`POST /assets` is multipart/form-data (the SDK forces it): `method`, `file` or `url`, `filename`,
`enable_hls`, `enable_thumbnail` and `user_metadata` as a JSON string.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.types import Message

from framedex.api import json_limits
from framedex.api.deps import PageDep, PlatformDep, TenantDep
from framedex.api.query import repeated
from framedex.api.routers.uploads import public_base_url
from framedex.api.schemas.assets import (
    ASSET_CREATE_BODY,
    Asset,
    AssetDetail,
    AssetTranscriptionResponse,
    TranscriptionEntry,
    TranscriptionError,
    TranscriptionUtterance,
    UserMetadataBody,
)
from framedex.api.schemas.common import PagedResponse, PageInfo
from framedex.domain_errors import InvalidParameter, MissingParameter, PayloadTooLarge
from framedex.services import assets, streaming, uploads, videos
from framedex.services.media import MAX_IMAGE_BYTES
from framedex.services.paging import PageRequest
from framedex.services.platform import Platform

router = APIRouter(tags=["assets"])

METHODS = ("direct", "url")
ASSET_TYPES = ("image", "video", "audio", "document")
TRANSCRIPT_VIEWS = ("words", "sentences", "utterances")
# Room for the multipart framing and the text fields around the file part.
_FORM_OVERHEAD = 1024**2
# A pause this long between speech segments starts a new utterance (there is no diarisation).
UTTERANCE_GAP_SECONDS = 1.0


def _bounded(request: Request, limit: int) -> Request:
    """The same request with a body that fails with 413 once it passes `limit` bytes, so that an
    oversized upload is refused while it streams in rather than after it has been spooled."""
    too_large = f"The request body exceeds the limit of {limit - _FORM_OVERHEAD} bytes."
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(too_large)
    received = 0

    async def receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise PayloadTooLarge(too_large)
        return message

    return Request(request.scope, receive)


def _text(form_value: Any, name: str) -> str | None:
    if form_value is None:
        return None
    if not isinstance(form_value, str):
        raise InvalidParameter(name, "It must be a text field, not a file.")
    return form_value.strip()


def _flag(form_value: Any, name: str) -> bool | None:
    value = _text(form_value, name)
    if value is None or value == "":
        return None
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise InvalidParameter(name, "Use true or false.")


def guess_file_type(filename: str | None, content_type: str | None) -> str:
    """video | audio | image | document, from the part's content type or else the extension; video by default."""
    from framedex.services.documents import guess_is_document

    if guess_is_document(filename, content_type):
        return "document"
    for mime in (content_type, mimetypes.guess_type(filename or "")[0]):
        if mime:
            major = mime.split("/", 1)[0].lower()
            if major in ("video", "audio", "image"):
                return major
    return "video"


@router.post("/assets", status_code=201, response_model=Asset, openapi_extra=ASSET_CREATE_BODY)
async def create_asset(request: Request, platform: PlatformDep, tenant: TenantDep) -> Asset:
    limit = platform.settings.max_asset_upload_bytes + _FORM_OVERHEAD
    async with _bounded(request, limit).form(max_files=1, max_fields=20) as form:
        method = _text(form.get("method"), "method")
        if not method:
            raise MissingParameter("method")
        if method not in METHODS:
            raise InvalidParameter("method", f"Use one of {list(METHODS)}.")
        filename = _text(form.get("filename"), "filename") or None
        # Both default to true on this endpoint (reference, POST /assets).
        enable_hls = _flag(form.get("enable_hls"), "enable_hls") is not False
        enable_thumbnail = _flag(form.get("enable_thumbnail"), "enable_thumbnail") is not False
        metadata = assets.parse_user_metadata(json_limits.parse_metadata_field(form.get("user_metadata")))
        if method == "url":
            if form.get("file") is not None:
                raise InvalidParameter("file", "Send either a file (method=direct) or a url (method=url).")
            url = _text(form.get("url"), "url")
            if not url:
                raise MissingParameter("url")
            row = await run_in_threadpool(_create_from_url, platform, tenant, url, filename, metadata)
            await run_in_threadpool(streaming.request_for_asset, platform, tenant, row.id, hls=enable_hls,
                                    thumbnail=enable_thumbnail)
            return Asset.of(row)
        upload = form.get("file")
        if upload is None:
            raise MissingParameter("file")
        if not isinstance(upload, UploadFile):
            raise InvalidParameter("file", "It must be a file part.")
        if form.get("url"):
            raise InvalidParameter("url", "Send either a file (method=direct) or a url (method=url).")
        name = filename or upload.filename
        file_type = guess_file_type(name, upload.content_type)
        max_bytes = platform.settings.max_asset_upload_bytes
        if file_type == "image":
            max_bytes = min(max_bytes, MAX_IMAGE_BYTES)
        row = await run_in_threadpool(
            lambda: assets.create_direct(platform, tenant, stream=upload.file, filename=name,
                                         file_type=file_type, user_metadata=metadata, max_bytes=max_bytes)
        )
        await run_in_threadpool(streaming.request_for_asset, platform, tenant, row.id, hls=enable_hls,
                                thumbnail=enable_thumbnail)
        return Asset.of(row)


def _create_from_url(platform: Platform, tenant: str, url: str, filename: str | None,
                     metadata: dict[str, Any]) -> Any:
    try:
        return assets.create_from_url(platform, tenant, url=url, filename=filename,
                                      file_type=guess_file_type(url.split("?", 1)[0], None),
                                      user_metadata=metadata)
    except InvalidParameter as exc:
        if exc.parameter == "video_url":  # the shared URL check names the tasks API's field
            raise InvalidParameter("url", exc.message.split("parameter is invalid.", 1)[-1].strip()) from exc
        raise


@router.get("/assets", response_model=PagedResponse[AssetDetail], response_model_exclude_none=True)
def list_assets(request: Request, platform: PlatformDep, tenant: TenantDep,
                page: PageDep) -> PagedResponse[AssetDetail]:
    params = request.query_params
    asset_types = repeated(params, "asset_types")
    for value in asset_types:
        if value not in ASSET_TYPES:
            raise InvalidParameter("asset_types", f"Use any of {list(ASSET_TYPES)}.")
    sort_option = params.get("sort_option", "desc")
    if sort_option not in ("asc", "desc"):
        raise InvalidParameter("sort_option", "Use asc or desc.")
    result = assets.list_assets(
        platform, tenant, page, asset_ids=repeated(params, "asset_ids") or None,
        asset_types=asset_types or None, filename=params.get("filename") or None,
        status=repeated(params, "status") or None, created_at=params.get("created_at"),
        sort_option=sort_option,
    )
    return PagedResponse[AssetDetail](
        data=_details(platform, request, result.items), page_info=PageInfo(**result.page_info)
    )


@router.get("/assets/{asset_id}", response_model=AssetDetail, response_model_exclude_none=True)
def retrieve_asset(asset_id: str, request: Request, platform: PlatformDep, tenant: TenantDep) -> AssetDetail:
    return _details(platform, request, [assets.retrieve(platform, tenant, asset_id)])[0]


def _details(platform: Platform, request: Request, rows: list[Any]) -> list[AssetDetail]:
    """Asset details with their `hls` and `thumbnail` objects (one query for the page's renditions)."""
    base = public_base_url(platform, request)
    known = streaming.states(platform, [r.id for r in rows])
    out = []
    for row in rows:
        detail = AssetDetail.of(row)
        views = streaming.asset_views(platform, base, row.id, known)
        detail.hls, detail.thumbnail = views.get("hls"), views.get("thumbnail")
        out.append(detail)
    return out


@router.delete("/assets/{asset_id}", status_code=204)
def delete_asset(asset_id: str, platform: PlatformDep, tenant: TenantDep, force: bool = False) -> Response:
    if force:
        # Delete what references the asset first (its indexed copies), then the asset itself.
        while True:
            refs = videos.list_by_asset(platform, tenant, asset_id, PageRequest(page=1, page_limit=50))
            if not refs.items:
                break
            for video, _ in refs.items:
                videos.delete_video(platform, tenant, video.index_id, video.id)
    pending_uploads = uploads.upload_ids_for_asset(platform, asset_id)
    assets.delete_asset(platform, tenant, asset_id)
    uploads.discard_chunks(platform, pending_uploads)
    return Response(status_code=204)


def _entries(items: list[dict[str, Any]], text_key: str) -> list[TranscriptionEntry]:
    out = []
    for item in items:
        text = str(item.get(text_key) or "").strip()
        if text:
            out.append(TranscriptionEntry(start=float(item.get("start", 0.0)),
                                          end=float(item.get("end", 0.0)), value=text))
    return out


def _utterances(sentences: list[TranscriptionEntry]) -> list[TranscriptionUtterance]:
    """Speaker turns approximated by pauses: consecutive sentences closer than the gap form one turn."""
    turns: list[TranscriptionUtterance] = []
    for s in sentences:
        if turns and s.start - turns[-1].end < UTTERANCE_GAP_SECONDS:
            last = turns[-1]
            turns[-1] = TranscriptionUtterance(start=last.start, end=s.end, value=f"{last.value} {s.value}")
        else:
            turns.append(TranscriptionUtterance(start=s.start, end=s.end, value=s.value))
    return turns


@router.get("/assets/{asset_id}/transcription", response_model=AssetTranscriptionResponse,
            response_model_exclude_none=True)
def retrieve_transcription(asset_id: str, request: Request, platform: PlatformDep,
                           tenant: TenantDep) -> AssetTranscriptionResponse:
    include = repeated(request.query_params, "include") or ["words"]
    for value in include:
        if value not in TRANSCRIPT_VIEWS:
            raise InvalidParameter("include", f"Use any of {list(TRANSCRIPT_VIEWS)}.")
    status, document, error = assets.transcription_state(platform, tenant, asset_id)
    if status != "ready" or document is None:
        return AssetTranscriptionResponse(
            status=status, error=TranscriptionError(message=error) if error else None
        )
    segments = [s for s in document.get("segments") or [] if isinstance(s, dict)]
    sentences = _entries(segments, "text")
    response = AssetTranscriptionResponse(status="ready")
    if "words" in include:
        response.words = _entries(
            [w for s in segments for w in s.get("words") or [] if isinstance(w, dict)], "text"
        )
    if "sentences" in include:
        response.sentences = sentences
    if "utterances" in include:
        response.utterances = _utterances(sentences)
    return response


def _metadata_body(body: UserMetadataBody, *, null_deletes: bool) -> Any:
    """Keys set to "" or [] are ignored by PUT and PATCH; null deletes a key in PATCH and is
    ignored in PUT (reference B.5)."""
    data = body.user_metadata
    if data is None:
        raise MissingParameter("user_metadata")
    if not isinstance(data, dict):
        raise InvalidParameter("user_metadata", "It must be a JSON object.")
    json_limits.check_user_metadata(data)
    return {k: v for k, v in data.items() if v != "" and v != [] and (null_deletes or v is not None)}


@router.put("/assets/{asset_id}/user-metadata", status_code=204)
def replace_user_metadata(asset_id: str, body: UserMetadataBody, platform: PlatformDep,
                          tenant: TenantDep) -> Response:
    data = _metadata_body(body, null_deletes=False)
    assets.set_user_metadata(platform, tenant, asset_id, data, mode="replace")
    return Response(status_code=204)


@router.patch("/assets/{asset_id}/user-metadata", status_code=204)
def update_user_metadata(asset_id: str, body: UserMetadataBody, platform: PlatformDep,
                         tenant: TenantDep) -> Response:
    data = _metadata_body(body, null_deletes=True)
    json_limits.check_merged_metadata(assets.retrieve(platform, tenant, asset_id).user_metadata, data)
    assets.set_user_metadata(platform, tenant, asset_id, data, mode="merge")
    return Response(status_code=204)


@router.delete("/assets/{asset_id}/user-metadata", status_code=204)
def delete_user_metadata(asset_id: str, platform: PlatformDep, tenant: TenantDep) -> Response:
    assets.set_user_metadata(platform, tenant, asset_id, None, mode="clear")
    return Response(status_code=204)
