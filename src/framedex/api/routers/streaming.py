"""HLS playlists, segments and representative thumbnails under signed, expiring prefixes.

`GET /streams/{asset_id}/{exp}/{sig}/{name}`: no API key (a `<video>` element, hls.js and `<img>` cannot
send one); the HMAC over the asset and the expiry is the authorisation, checked by the service. Byte
ranges as for the original (`routers/media.py`), since players range-request segments.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from framedex.api.deps import PlatformDep
from framedex.services import playback, streaming

router = APIRouter(tags=["media"])


@router.api_route("/streams/{asset_id}/{exp}/{sig}/{name}", methods=["GET", "HEAD"], include_in_schema=False)
def stream_file(
    asset_id: str, exp: int, sig: str, name: str, request: Request, platform: PlatformDep,
    range_header: Annotated[str | None, Header(alias="range")] = None,
    if_range: Annotated[str | None, Header(alias="if-range")] = None,
    if_none_match: Annotated[str | None, Header(alias="if-none-match")] = None,
) -> Response:
    f = streaming.locate(platform, asset_id, exp, sig, name)
    headers = {
        "Accept-Ranges": "bytes", "ETag": f.etag,
        # The URL is the authorisation: private, so shared caches keep neither it nor the bytes.
        "Cache-Control": "private, max-age=3600",
        # hls.js fetches with XHR; FRAMEDEX_PUBLIC_URL may put the API on another origin than the page.
        "Access-Control-Allow-Origin": "*",
    }
    if if_none_match and f.etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    wanted = range_header if not if_range or if_range.strip() == f.etag else None
    try:
        byte_range = playback.parse_range(wanted, f.size)
    except playback.RangeNotSatisfiable as exc:
        headers["Content-Range"] = f"bytes */{f.size}"
        return JSONResponse({"code": exc.code, "message": exc.message}, status_code=exc.status, headers=headers)
    status, start, length = 200, 0, f.size
    if byte_range is not None:
        status, start, length = 206, byte_range.start, byte_range.length
        headers["Content-Range"] = f"bytes {byte_range.start}-{byte_range.end}/{f.size}"
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=f.content_type)
    return StreamingResponse(playback.read_range(platform, f.key, start, length), status_code=status,
                             headers=headers, media_type=f.content_type)
