"""Signed thumbnail URLs: browsers fetch them from <img> tags, which cannot send an API key."""

from __future__ import annotations

import hashlib
import hmac
import time

from framedex.domain_errors import NotFound
from framedex.ids import is_id
from framedex.ingest.keys import thumbnail_key
from framedex.services.platform import Platform

# A thumbnail URL outlives the search that handed it out by a day, then goes stale: a leaked URL, or one
# given to a key that was since revoked, stops working (review #19). The expiry is rounded up to the hour
# so that one thumbnail keeps one URL for an hour and browsers can cache it.
TTL_SECONDS = 24 * 3600
_ROUND_SECONDS = 3600


def expiry(now: float | None = None) -> int:
    at = int(now if now is not None else time.time()) + TTL_SECONDS
    return -(-at // _ROUND_SECONDS) * _ROUND_SECONDS


def signature(platform: Platform, video_id: str, seq: int, expires: int) -> str:
    msg = f"thumb:{video_id}:{seq}:{expires}".encode()
    return hmac.new(platform.signing_key, msg, hashlib.sha256).hexdigest()[:32]


def url(platform: Platform, base_url: str, video_id: str, seq: int, now: float | None = None) -> str:
    exp = expiry(now)
    return (f"{base_url.rstrip('/')}/v1.3/thumbnails/{video_id}/{seq}.jpg"
            f"?exp={exp}&sig={signature(platform, video_id, seq, exp)}")


def read(platform: Platform, video_id: str, seq: int, sig: str, expires: int | None) -> bytes:
    # Expired, unsigned and forged all answer the same 404, so the URL space reveals nothing.
    if (not is_id(video_id) or expires is None or expires < time.time()
            or not hmac.compare_digest(sig, signature(platform, video_id, seq, expires))):
        raise NotFound("thumbnail", f"{video_id}/{seq}")
    key = thumbnail_key(video_id, seq)
    if not platform.blobs.exists(key):
        raise NotFound("thumbnail", f"{video_id}/{seq}")
    with platform.blobs.open(key) as f:
        return f.read()
