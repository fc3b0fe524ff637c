from __future__ import annotations

from typing import Any

from pydantic import Field

from framedex.api.schemas.common import WireModel
from framedex.ids import rfc3339
from framedex.services.videos import TaskView
from framedex.storage.tables import IndexedAssetRow


class SystemMetadata(WireModel):
    filename: str | None = None
    duration: float | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    size: float | None = None


class TranscriptionItem(WireModel):
    start: float
    end: float
    value: str


class VideoSummary(WireModel):
    """`IndexedAsset` / `VideoVector`: the list item shape."""

    id: str = Field(serialization_alias="_id")
    asset_id: str
    index_id: str
    status: str
    created_at: str
    updated_at: str
    indexed_at: str | None = None
    system_metadata: SystemMetadata
    user_metadata: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    @classmethod
    def of(cls, row: IndexedAssetRow) -> VideoSummary:
        return cls(
            id=row.id, asset_id=row.asset_id, index_id=row.index_id, status=row.status,
            created_at=rfc3339(row.created_at) or "", updated_at=rfc3339(row.updated_at) or "",
            indexed_at=rfc3339(row.indexed_at),
            system_metadata=SystemMetadata(filename=row.filename, duration=row.duration, fps=row.fps,
                                           width=row.width, height=row.height, size=row.size),
            user_metadata=row.user_metadata or None, error=row.error,
        )


class IndexRef(WireModel):
    id: str = Field(serialization_alias="_id")
    name: str


class IndexedAssetByAsset(VideoSummary):
    """`IndexedAssetSummary`: a `GET /assets/{id}/indexed-assets` item, `_id` plus `index{_id, name}`.
    The rest of `VideoSummary` rides along for clients that read the status or metadata."""

    index: IndexRef

    @classmethod
    def of_pair(cls, row: IndexedAssetRow, index_name: str) -> IndexedAssetByAsset:
        return cls(**VideoSummary.of(row).model_dump(), index=IndexRef(id=row.index_id, name=index_name))


class VideoDetail(VideoSummary):
    """`IndexedAssetDetailed` / `VideosRetrieveResponse`."""

    hls: dict[str, Any] | None = None
    thumbnail: dict[str, Any] | None = None
    embedding: dict[str, Any] | None = None
    transcription: list[TranscriptionItem] | None = None
    stage_timings: dict[str, Any] | None = None
    language: str | None = None


class IndexedAssetCreate(WireModel):
    asset_id: str
    enable_video_stream: bool | None = None
    user_metadata: dict[str, Any] | None = None


class IndexedAssetCreated(WireModel):
    id: str = Field(serialization_alias="_id")
    asset_id: str
    status: str | None = None


class UserMetadataBody(WireModel):
    user_metadata: dict[str, Any] | None = None


class TaskCreated(WireModel):
    id: str = Field(serialization_alias="_id")
    video_id: str


class TaskSchema(WireModel):
    id: str = Field(serialization_alias="_id")
    video_id: str
    index_id: str
    asset_id: str | None = None
    status: str
    created_at: str
    updated_at: str
    system_metadata: SystemMetadata
    hls: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    @classmethod
    def of(cls, view: TaskView) -> TaskSchema:
        t, v = view.task, view.video
        updated = max(t.updated_at, v.updated_at) if v is not None else t.updated_at
        return cls(
            id=t.id, video_id=t.video_id, index_id=t.index_id, asset_id=t.asset_id, status=view.status,
            created_at=rfc3339(t.created_at) or "", updated_at=rfc3339(updated) or "",
            system_metadata=SystemMetadata(
                filename=v.filename, duration=v.duration, width=v.width, height=v.height, fps=v.fps, size=v.size
            ) if v is not None else SystemMetadata(),
            error=v.error if v is not None else None,
        )
