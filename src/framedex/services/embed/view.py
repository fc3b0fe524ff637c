"""Stored per-segment embeddings of a video, in the shape of the real API's `embedding` field."""

from __future__ import annotations

from typing import Any

from framedex.services.embed import to_wire
from framedex.services.platform import Platform
from framedex.storage.tables import IndexedAssetRow, IndexRow

# The wire's embedding options and the vector spaces ingest writes for them (all in the joint space).
SPACES_OF_OPTION: dict[str, tuple[str, ...]] = {
    "visual": ("visual",), "visual-text": ("visual", "ocr"), "audio": ("audio",), "transcription": ("transcription",),
}


def video_embedding(platform: Platform, video: IndexedAssetRow, options: list[str]) -> dict[str, Any]:
    with platform.store.session() as s:
        index = s.get(IndexRow, video.index_id)
        model_name = next((m["model_name"] for m in (index.models if index else [])
                           if m["model_name"].startswith("marengo")), "marengo3.0")
    segments: list[dict[str, Any]] = []
    for option in options:
        for space in SPACES_OF_OPTION.get(option, ()):
            for record in platform.vectors.segments_for_video(tenant_id=video.tenant_id, index_id=video.index_id,
                                                              space=space, video_id=video.id):
                segments.append({
                    "float": to_wire(record.vector),
                    "start_offset_sec": round(record.start, 3), "end_offset_sec": round(record.end, 3),
                    "embedding_option": option, "embedding_scope": "clip",
                })
    segments.sort(key=lambda seg: (seg["start_offset_sec"], seg["embedding_option"]))
    return {"model_name": model_name, "video_embedding": {"segments": segments}}
