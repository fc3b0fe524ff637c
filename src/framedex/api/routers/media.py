"""Playback of the original video file, with byte ranges, for <video> elements and download scripts.

`GET /media/{video_id}/original` is authorised by either an `x-api-key` header or a signed URL from
`GET /media/{video_id}/playback-url` (the request guard lets it through without a key for that reason).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from framedex.api.deps import PlatformDep, TenantDep
from framedex.api.ranges import ranged_blob
from framedex.api.routers.uploads import public_base_url
from framedex.domain_errors import InvalidParameter
from framedex.ids import rfc3339
from framedex.services import auth, playback

router = APIRouter(tags=["media"])


@router.get("/media/{video_id}/playback-url")
def playback_url(video_id: str, request: Request, platform: PlatformDep, tenant: TenantDep,
                 ttl: Annotated[int, Query(description="Seconds the URL stays valid.")] = playback.DEFAULT_TTL_SECONDS,
                 ) -> dict[str, str | int]:
    """A URL of the original that a browser can play without the API key, until `expires_at`."""
    if ttl < 1 or ttl > playback.MAX_TTL_SECONDS:
        raise InvalidParameter("ttl", f"It must be between 1 and {playback.MAX_TTL_SECONDS} seconds.")
    original = playback.locate(platform, video_id, tenant)  # 404 now rather than when the player asks
    url, expires = playback.signed_url(platform, public_base_url(platform, request), video_id, ttl)
    return {"url": url, "content_type": original.content_type,
            "expires_at": rfc3339(datetime.fromtimestamp(expires, UTC)) or ""}


@router.get("/media/{video_id}/original", operation_id="get_original_media")
@router.head("/media/{video_id}/original", operation_id="head_original_media")
def original(
    video_id: str, request: Request, platform: PlatformDep,
    sig: str | None = None, exp: int | None = None,
    x_api_key: Annotated[str | None, Header(alias="x-api-key")] = None,
    range_header: Annotated[str | None, Header(alias="range")] = None,
    if_range: Annotated[str | None, Header(alias="if-range")] = None,
    if_none_match: Annotated[str | None, Header(alias="if-none-match")] = None,
) -> Response:
    if sig is not None:
        playback.check_signature(platform, video_id, exp, sig)
        tenant: str | None = None
    elif platform.settings.auth_enabled:
        tenant = auth.authenticate(platform, x_api_key)
    else:
        tenant = auth.LOCAL_TENANT_ID
    media = playback.locate(platform, video_id, tenant)
    return ranged_blob(platform, request, key=media.blob_key, size=media.size, etag=media.etag,
                       content_type=media.content_type, range_header=range_header, if_range=if_range,
                       if_none_match=if_none_match, headers={
                           # Private: the URL (or the key) is the authorisation; shared caches keep neither.
                           "Cache-Control": "private, max-age=3600", "Content-Disposition": "inline"})
