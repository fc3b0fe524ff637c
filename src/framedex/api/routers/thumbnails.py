from __future__ import annotations

import time

from fastapi import APIRouter, Response

from framedex.api.deps import PlatformDep
from framedex.services import thumbnails

router = APIRouter(tags=["media"])


@router.get("/thumbnails/{video_id}/{seq}.jpg", include_in_schema=False)
def get_thumbnail(video_id: str, seq: int, sig: str, platform: PlatformDep, exp: int | None = None) -> Response:
    """No API key: the HMAC signature in the URL, with its expiry, is the authorisation."""
    data = thumbnails.read(platform, video_id, seq, sig, exp)
    # A cached copy must not outlive the URL's signature.
    max_age = max(0, int((exp or 0) - time.time()))
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": f"private, max-age={max_age}"})
