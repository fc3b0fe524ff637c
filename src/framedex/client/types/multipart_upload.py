"""Multipart uploads (``client.multipart_upload``)."""

from __future__ import annotations

from datetime import datetime

from .shared import Model, PageInfo


class PresignedUrlChunk(Model):
    chunk_index: int | None = None
    url: str | None = None
    expires_at: datetime | None = None


class MultipartUploadSession(Model):
    """``POST /assets/multipart-uploads``."""

    upload_id: str | None = None
    asset_id: str | None = None
    upload_urls: list[PresignedUrlChunk] | None = None
    upload_headers: dict[str, str] | None = None
    chunk_size: int | None = None
    total_chunks: int | None = None
    expires_at: datetime | None = None


class ChunkInfo(Model):
    index: int | None = None
    status: str | None = None
    uploaded_at: datetime | None = None
    updated_at: datetime | None = None
    error: str | None = None


class UploadStatus(Model):
    """``GET /assets/multipart-uploads/{upload_id}``."""

    upload_id: str | None = None
    status: str | None = None
    uploaded_chunks: list[ChunkInfo] | None = None
    chunks_completed: int | None = None
    chunks_failed: int | None = None
    chunks_pending: int | None = None
    page_info: PageInfo | None = None
    total_size: int | None = None
    uploaded_size: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class CompletedChunk(Model):
    chunk_index: int
    proof: str
    proof_type: str = "etag"
    chunk_size: int | None = None


class ChunkBatchReport(Model):
    """``POST /assets/multipart-uploads/{upload_id}``; ``url`` is set once the upload is complete."""

    url: str | None = None
    asset_id: str | None = None
    processed_chunks: int | None = None
    duplicate_chunks: int | None = None
    total_completed: int | None = None


class PresignedUrls(Model):
    upload_id: str | None = None
    start_index: int | None = None
    count: int | None = None
    upload_urls: list[PresignedUrlChunk] | None = None
    generated_at: datetime | None = None
    expires_at: datetime | None = None


class IncompleteUpload(Model):
    upload_id: str | None = None
    status: str | None = None
    total_size: int | None = None
    chunk_size: int | None = None
    total_chunks: int | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None


class UploadProgress(Model):
    total_chunks: int
    completed_chunks: int
    percentage: float
    status: str


class UploadResult(Model):
    asset_id: str | None = None
    asset_url: str | None = None
    upload_id: str | None = None
