"""Stored per-segment embeddings of a video (what the real API returns in a video's `embedding` field), read
from the vector index; `api/routers/videos.py` shapes them."""

from __future__ import annotations

from dataclasses import dataclass

from framedex.models.base import FloatArray
from framedex.services.platform import Platform
from framedex.storage.tables import IndexedAssetRow, IndexRow

# The wire's embedding options and the vector spaces ingest writes for them (all in the joint space).
SPACES_OF_OPTION: dict[str, tuple[str, ...]] = {
    "visual": ("visual",), "visual-text": ("visual", "ocr"), "audio": ("audio",), "transcription": ("transcription",),
}


@dataclass(frozen=True)
class StoredSegment:
    option: str  # the wire's embedding option it answers
    start: float  # seconds, rounded to the millisecond
    end: float
    vector: FloatArray


@dataclass(frozen=True)
class VideoEmbedding:
    model_name: str
    segments: list[StoredSegment]  # by start, then option


def video_embedding(platform: Platform, video: IndexedAssetRow, options: list[str]) -> VideoEmbedding:
    with platform.store.session() as s:
        index = s.get(IndexRow, video.index_id)
        model_name = next((m["model_name"] for m in (index.models if index else [])
                           if m["model_name"].startswith("marengo")), "marengo3.0")
    segments: list[StoredSegment] = []
    for option in options:
        for space in SPACES_OF_OPTION.get(option, ()):
            for record in platform.vectors.segments_for_video(tenant_id=video.tenant_id, index_id=video.index_id,
                                                              space=space, video_id=video.id):
                segments.append(StoredSegment(option, round(record.start, 3), round(record.end, 3), record.vector))
    segments.sort(key=lambda seg: (seg.start, seg.option))
    return VideoEmbedding(model_name, segments)
