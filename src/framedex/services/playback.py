"""Playback of an indexed video's original file: signed URLs, byte ranges and the content type.

A `<video>` element cannot send an API key, so the browser gets a URL signed with the data dir's
HMAC key (as thumbnails do) that expires; scripts may send `x-api-key` instead. The original is served
as stored, with HTTP byte ranges, which is all a browser needs to seek in an MP4 or WebM.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import time
from collections.abc import Iterator
from dataclasses import dataclass

from framedex.domain_errors import Forbidden, NotFound, ServiceError
from framedex.ids import is_id
from framedex.services.platform import Platform
from framedex.storage.tables import AssetRow, IndexedAssetRow

# Long enough to watch a long video after one search, short enough that a leaked URL goes stale.
DEFAULT_TTL_SECONDS = 6 * 3600
MAX_TTL_SECONDS = 7 * 24 * 3600
CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True)
class Original:
    video_id: str
    blob_key: str
    size: int
    content_type: str
    etag: str
    filename: str | None


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive, as in Content-Range

    @property
    def length(self) -> int:
        return self.end - self.start + 1


class RangeNotSatisfiable(ServiceError):
    status = 416
    code = "range_not_satisfiable"


def signature(platform: Platform, video_id: str, expires: int) -> str:
    msg = f"media:{video_id}:{expires}".encode()
    return hmac.new(platform.signing_key, msg, hashlib.sha256).hexdigest()[:32]


def signed_url(platform: Platform, base_url: str, video_id: str, ttl: int = DEFAULT_TTL_SECONDS,
               now: float | None = None) -> tuple[str, int]:
    """The URL of the original that works without a key until the returned Unix time."""
    expires = int(now if now is not None else time.time()) + max(1, min(ttl, MAX_TTL_SECONDS))
    url = (f"{base_url.rstrip('/')}/v1.3/media/{video_id}/original"
           f"?exp={expires}&sig={signature(platform, video_id, expires)}")
    return url, expires


def check_signature(platform: Platform, video_id: str, expires: int | None, sig: str) -> None:
    if expires is None or not hmac.compare_digest(sig, signature(platform, video_id, expires)):
        raise Forbidden("The media URL signature is not valid.", code="media_signature_invalid")
    if expires < time.time():
        raise Forbidden("The media URL has expired. Ask for a new one.", code="media_url_expired")


def _sniff(head: bytes) -> str | None:
    """The container from its first bytes: uploads often arrive as application/octet-stream or with no
    extension, and a browser refuses a <video> source whose type it cannot play."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "video/quicktime" if head[8:12] == b"qt  " else "video/mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video/x-matroska" if b"matroska" in head[:64] else "video/webm"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head[:4] == b"OggS":
        return "video/ogg"
    if head[:1] == b"\x47" and len(head) > 188 and head[188:189] == b"\x47":
        return "video/mp2t"
    return None


def locate(platform: Platform, video_id: str, tenant_id: str | None) -> Original:
    """The stored original of an indexed video; `tenant_id` None means a signed URL already authorised it."""
    if not is_id(video_id):
        raise NotFound("video", video_id)
    with platform.store.session() as s:
        video = s.get(IndexedAssetRow, video_id)
        if video is None or (tenant_id is not None and video.tenant_id != tenant_id):
            raise NotFound("video", video_id)
        asset = s.get(AssetRow, video.asset_id)
        key = asset.blob_key if asset is not None else None
        declared = asset.content_type if asset is not None else None
        filename = video.filename
    if not key or not platform.blobs.exists(key):
        raise NotFound("video file", video_id)
    size = platform.blobs.size(key)
    with platform.blobs.open_range(key, 0, 511) as f:
        head = f.read(512)
    content_type = (_sniff(head)
                    or (declared if declared and declared.split("/")[0] in ("video", "audio") else None)
                    or mimetypes.guess_type(filename or "")[0] or "application/octet-stream")
    # The original never changes under its asset's key, so its key and size identify this content.
    etag = '"' + hashlib.sha256(f"{key}:{size}".encode()).hexdigest()[:24] + '"'
    return Original(video_id, key, size, content_type, etag, filename)


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """One byte range from a `Range` header, or None to send the whole file.

    Several ranges, or a unit other than bytes, get the whole file (RFC 9110 lets a server ignore Range);
    a range that starts past the end is a 416."""
    if not header:
        return None
    unit, _, spec = header.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first == "":  # suffix: the last N bytes
            n = int(last)
            if n <= 0:
                raise RangeNotSatisfiable("The requested range is empty.")
            return ByteRange(max(0, size - n), size - 1) if size else None
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None  # malformed: ignored, as the RFC says
    if start >= size:
        raise RangeNotSatisfiable(f"The range starts at byte {start}, past the end of the {size}-byte file.")
    if start < 0 or end < start:
        return None
    return ByteRange(start, min(end, size - 1))


def read_range(platform: Platform, key: str, start: int, length: int) -> Iterator[bytes]:
    with platform.blobs.open_range(key, start, start + length - 1) as f:
        left = length
        while left > 0:
            chunk = f.read(min(CHUNK_BYTES, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk
