from __future__ import annotations

from fastapi import APIRouter, Response

from framedex.api.deps import PlatformDep
from framedex.services import thumbnails

router = APIRouter(tags=["media"])


@router.get("/thumbnails/{video_id}/{seq}.jpg", include_in_schema=False)
def get_thumbnail(video_id: str, seq: int, sig: str, platform: PlatformDep) -> Response:
    """No API key: the HMAC signature in the URL is the authorisation."""
    data = thumbnails.read(platform, video_id, seq, sig)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=86400"})
