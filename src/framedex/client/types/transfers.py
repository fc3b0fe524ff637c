"""Imports from storage (``client.tasks.transfers``): the shapes of the legacy transfers calls."""

from __future__ import annotations

from .shared import Model


class TransferFailedFile(Model):
    filename: str | None = None
    error_message: str | None = None


class TransferVideo(Model):
    video_id: str | None = None
    filename: str | None = None


class TransferCreateResponse(Model):
    """``POST /tasks/transfers/import/{integration_id}``: the videos the import takes, and the files it
    refused (too large, unreadable)."""

    failed_files: list[TransferFailedFile] | None = None
    videos: list[TransferVideo] | None = None


class TransferVideoItem(Model):
    video_id: str | None = None
    filename: str | None = None
    created_at: str | None = None


class TransferVideoItemFailed(Model):
    filename: str | None = None
    created_at: str | None = None
    error_message: str | None = None


class TransferStatus(Model):
    """``GET …/status``: every file of the integration by the status of its video in one index."""

    not_imported: list[str] | None = None
    validating: list[TransferVideoItem] | None = None
    pending: list[TransferVideoItem] | None = None
    queued: list[TransferVideoItem] | None = None
    indexing: list[TransferVideoItem] | None = None
    ready: list[TransferVideoItem] | None = None
    failed: list[TransferVideoItemFailed] | None = None


class ImportLogVideoStatus(Model):
    ready: int | None = None
    validating: int | None = None
    queued: int | None = None
    pending: int | None = None
    indexing: int | None = None
    failed: int | None = None


class ImportLog(Model):
    index_id: str | None = None
    index_name: str | None = None
    created_at: str | None = None
    ended_at: str | None = None
    video_status: ImportLogVideoStatus | None = None
    failed_files: list[TransferFailedFile] | None = None


class TransferLogs(Model):
    """``GET …/logs``: the integration's imports, oldest first."""

    data: list[ImportLog] | None = None
