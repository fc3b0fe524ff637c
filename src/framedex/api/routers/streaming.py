"""HLS playlists, segments and representative thumbnails under signed, expiring prefixes.

`GET /streams/{asset_id}/{exp}/{sig}/{name}`: no API key (a `<video>` element, hls.js and `<img>` cannot
send one); the HMAC over the asset and the expiry is the authorisation, checked by the service. Byte
ranges as for the original (`routers/media.py`), since players range-request segments.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from framedex.api.deps import PlatformDep
from framedex.api.ranges import ranged_blob
from framedex.services import streaming

router = APIRouter(tags=["media"])


@router.api_route("/streams/{asset_id}/{exp}/{sig}/{name}", methods=["GET", "HEAD"], include_in_schema=False)
def stream_file(
    asset_id: str, exp: int, sig: str, name: str, request: Request, platform: PlatformDep,
    range_header: Annotated[str | None, Header(alias="range")] = None,
    if_range: Annotated[str | None, Header(alias="if-range")] = None,
    if_none_match: Annotated[str | None, Header(alias="if-none-match")] = None,
) -> Response:
    f = streaming.locate(platform, asset_id, exp, sig, name)
    return ranged_blob(platform, request, key=f.key, size=f.size, etag=f.etag, content_type=f.content_type,
                       range_header=range_header, if_range=if_range, if_none_match=if_none_match, headers={
                           # The URL is the authorisation: private, so shared caches keep neither it nor the bytes.
                           "Cache-Control": "private, max-age=3600",
                           # hls.js fetches with XHR; FRAMEDEX_PUBLIC_URL may put the API on another origin.
                           "Access-Control-Allow-Origin": "*"})
