"""Wire shapes of the legacy `tasks.transfers` calls (reference Part F) and the data-connector error."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from framedex.api.schemas.common import WireModel
from framedex.ids import rfc3339
from framedex.services.imports import transfers


class TransferImportRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    index_id: str | None = None
    incremental_import: bool = True
    retry_failed: bool = False
    user_metadata: dict[str, Any] | None = None


class FailedFile(WireModel):
    filename: str
    error_message: str


class ImportedVideo(WireModel):
    video_id: str
    filename: str


class TransferImportResponse(WireModel):
    failed_files: list[FailedFile]
    videos: list[ImportedVideo]

    @classmethod
    def of(cls, started: transfers.StartedImport) -> TransferImportResponse:
        return cls(failed_files=[FailedFile(filename=f.filename, error_message=f.error_message)
                                 for f in started.failed_files],
                   videos=[ImportedVideo(video_id=v.video_id, filename=v.filename) for v in started.videos])


class VideoItem(WireModel):
    video_id: str
    filename: str
    created_at: str


class VideoItemFailed(WireModel):
    filename: str
    created_at: str
    error_message: str


class TransferStatusResponse(WireModel):
    not_imported: list[str]
    validating: list[VideoItem]
    pending: list[VideoItem]
    queued: list[VideoItem]
    indexing: list[VideoItem]
    ready: list[VideoItem]
    failed: list[VideoItemFailed]

    @classmethod
    def of(cls, status: transfers.ImportStatus) -> TransferStatusResponse:
        def items(name: str) -> list[VideoItem]:
            return [VideoItem(video_id=f.video_id or "", filename=f.filename, created_at=rfc3339(f.created_at) or "")
                    for f in status.by_status.get(name, [])]

        failed = [VideoItemFailed(filename=f.filename, created_at=rfc3339(f.created_at) or "",
                                  error_message=f.error_message or "") for f in status.by_status.get("failed", [])]
        return cls(not_imported=status.not_imported, validating=items("validating"), pending=items("pending"),
                   queued=items("queued"), indexing=items("indexing"), ready=items("ready"), failed=failed)


class VideoStatusCounts(WireModel):
    ready: int
    validating: int
    queued: int
    pending: int
    indexing: int
    failed: int


class ImportLogSchema(WireModel):
    index_id: str
    index_name: str | None
    created_at: str | None
    ended_at: str | None
    video_status: VideoStatusCounts
    failed_files: list[FailedFile]

    @classmethod
    def of(cls, entry: transfers.ImportLog) -> ImportLogSchema:
        counts = {name: entry.video_status.get(name, 0) for name in transfers.VIDEO_STATUSES}
        return cls(index_id=entry.index_id, index_name=entry.index_name, created_at=rfc3339(entry.created_at),
                   ended_at=rfc3339(entry.ended_at), video_status=VideoStatusCounts(**counts),
                   failed_files=[FailedFile(filename=f.filename, error_message=f.error_message)
                                 for f in entry.failed_files])


class TransferLogsResponse(WireModel):
    data: list[ImportLogSchema]
