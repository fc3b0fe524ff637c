"""Signed thumbnail URLs: browsers fetch them from <img> tags, which cannot send an API key."""

from __future__ import annotations

import hashlib
import hmac

from framedex.domain_errors import NotFound
from framedex.ids import is_id
from framedex.ingest.keys import thumbnail_key
from framedex.services.platform import Platform


def signature(platform: Platform, video_id: str, seq: int) -> str:
    msg = f"thumb:{video_id}:{seq}".encode()
    return hmac.new(platform.signing_key, msg, hashlib.sha256).hexdigest()[:32]


def url(platform: Platform, base_url: str, video_id: str, seq: int) -> str:
    return f"{base_url.rstrip('/')}/v1.3/thumbnails/{video_id}/{seq}.jpg?sig={signature(platform, video_id, seq)}"


def read(platform: Platform, video_id: str, seq: int, sig: str) -> bytes:
    if not is_id(video_id) or not hmac.compare_digest(sig, signature(platform, video_id, seq)):
        raise NotFound("thumbnail", f"{video_id}/{seq}")
    key = thumbnail_key(video_id, seq)
    if not platform.blobs.exists(key):
        raise NotFound("thumbnail", f"{video_id}/{seq}")
    with platform.blobs.open(key) as f:
        return f.read()
