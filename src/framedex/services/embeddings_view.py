"""Stored per-segment embeddings of a video, in the shape of the real API's `embedding` field."""

from __future__ import annotations

from typing import Any

from framedex.services.platform import Platform
from framedex.storage.tables import IndexedAssetRow, IndexRow


def video_embedding(platform: Platform, video: IndexedAssetRow, options: list[str]) -> dict[str, Any]:
    with platform.store.session() as s:
        index = s.get(IndexRow, video.index_id)
        model_name = next((m["model_name"] for m in (index.models if index else [])
                           if m["model_name"].startswith("marengo")), "marengo3.0")
    segments: list[dict[str, Any]] = []
    # Visual, audio and transcription vectors are written by the modality stages; until a video
    # has them, the list is empty rather than invented.
    vectors = getattr(platform, "vectors", None)
    if vectors is not None:
        for option in options:
            segments.extend(vectors.segments_for_video(video.id, option))
    segments.sort(key=lambda seg: (seg.get("start_offset_sec", 0.0), seg.get("embedding_option", "")))
    return {"model_name": model_name, "video_embedding": {"segments": segments}}
