"""One blob served with HTTP byte ranges, ETag/If-None-Match and If-Range: the original video
(`routers/media.py`) and HLS playlists, segments and thumbnails (`routers/streaming.py`)."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from framedex.services import playback
from framedex.services.platform import Platform


def ranged_blob(platform: Platform, request: Request, *, key: str, size: int, etag: str, content_type: str,
                headers: dict[str, str], range_header: str | None, if_range: str | None,
                if_none_match: str | None) -> Response:
    """`headers` are the route's own (caching, CORS, disposition); the range headers are added here."""
    headers = {"Accept-Ranges": "bytes", "ETag": etag, **headers}
    if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    # A stale If-Range (the file changed since the client's partial copy) asks for the whole file.
    wanted = range_header if not if_range or if_range.strip() == etag else None
    try:
        byte_range = playback.parse_range(wanted, size)
    except playback.RangeNotSatisfiable as exc:
        # The API's error envelope, with the Content-Range header a 416 must carry.
        headers["Content-Range"] = f"bytes */{size}"
        headers.pop("Content-Disposition", None)
        return JSONResponse({"code": exc.code, "message": exc.message}, status_code=exc.status, headers=headers)
    status, start, length = 200, 0, size
    if byte_range is not None:
        status, start, length = 206, byte_range.start, byte_range.length
        headers["Content-Range"] = f"bytes {byte_range.start}-{byte_range.end}/{size}"
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type=content_type)
    return StreamingResponse(playback.read_range(platform, key, start, length), status_code=status,
                             headers=headers, media_type=content_type)
