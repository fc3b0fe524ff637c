"""ORM tables of the metadata store (SQLAlchemy 2, portable across SQLite and PostgreSQL).

Every row that belongs to a user carries `tenant_id`; services always filter by it.
Wire ids are 24-hex strings (see `framedex.ids`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from framedex.ids import utcnow
from framedex.storage.types import UTCDateTime

ID = String(24)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Timestamps:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Tenant(Timestamps, Base):
    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))


class ApiKey(Timestamps, Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    # Only a hash is stored: a leaked database does not leak usable keys.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class IndexRow(Timestamps, Base):
    __tablename__ = "indexes"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(500))
    models: Mapped[list[Any]] = mapped_column(JSON)
    addons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Internal indexes (media analysed by URL) are not listed to users.
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_index_name"),)


class AssetRow(Timestamps, Base):
    """Uploaded media, reusable across indexes."""

    __tablename__ = "assets"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    method: Mapped[str] = mapped_column(String(16))  # direct | url | multipart
    status: Mapped[str] = mapped_column(String(16))  # waiting | processing | ready | failed
    file_type: Mapped[str] = mapped_column(String(16), default="video")  # video | audio | image
    filename: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    source_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    blob_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # PostgreSQL INTEGER stops at 2 GiB
    content_type: Mapped[str | None] = mapped_column(String(200), nullable=True)
    system_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    user_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class IndexedAssetRow(Timestamps, Base):
    """An asset indexed into an index; the legacy API calls it a video (`video_id`)."""

    __tablename__ = "indexed_assets"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    index_id: Mapped[str] = mapped_column(ForeignKey("indexes.id", ondelete="CASCADE"), index=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    # pending | validating | queued | indexing | ready | failed
    status: Mapped[str] = mapped_column(String(16), index=True)
    filename: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    fps: Mapped[float | None] = mapped_column(Float, nullable=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # PostgreSQL INTEGER stops at 2 GiB
    system_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    user_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enable_video_stream: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str | None] = mapped_column(String(16), nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # Per-stage bookkeeping so that a restarted worker resumes instead of restarting.
    stages_done: Mapped[list[Any]] = mapped_column(JSON, default=list)
    stage_timings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    indexed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class TaskRow(Timestamps, Base):
    """Legacy upload+index task; its status follows its indexed asset."""

    __tablename__ = "tasks"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    index_id: Mapped[str] = mapped_column(ForeignKey("indexes.id", ondelete="CASCADE"), index=True)
    # No foreign key: the real API deletes the video first and the task after it.
    video_id: Mapped[str] = mapped_column(String(24), index=True)
    asset_id: Mapped[str | None] = mapped_column(String(24), nullable=True)
    # The video's last status, kept when the video itself is deleted.
    status_snapshot: Mapped[str | None] = mapped_column(String(16), nullable=True)


class ClipRow(Base):
    __tablename__ = "clips"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(24), index=True)
    index_id: Mapped[str] = mapped_column(String(24), index=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("indexed_assets.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    thumbnail_key: Mapped[str | None] = mapped_column(String(300), nullable=True)
    __table_args__ = (UniqueConstraint("video_id", "seq", name="uq_clip_seq"),)


class ClipFeatureRow(Base):
    """What a modality stage found in a stretch of a video, as JSON (vectors live in the vector index).

    kind: `visual` (labels, objects, attributes of one sampled frame), `ocr` (one text line),
    `audio` (sound-event tags of one clip), `face` (one detected face). `start`/`end` are seconds.
    """

    __tablename__ = "clip_features"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(24), index=True)
    index_id: Mapped[str] = mapped_column(String(24), index=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("indexed_assets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    clip_seq: Mapped[int] = mapped_column(Integer)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text, default="")  # the searchable/readable words of this feature
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    __table_args__ = (Index("ix_clip_features_video", "video_id", "kind", "start"),)


class SpeechSegmentRow(Base):
    __tablename__ = "speech_segments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(String(24), index=True)
    index_id: Mapped[str] = mapped_column(String(24), index=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("indexed_assets.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    words: Mapped[list[Any]] = mapped_column(JSON, default=list)
    __table_args__ = (UniqueConstraint("video_id", "seq", name="uq_speech_seq"),)


class JobRow(Timestamps, Base):
    """A unit of background work with a lease, so a dead worker's job is retried."""

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # queued | running | done | failed
    status: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    __table_args__ = (Index("ix_jobs_claim", "status", "available_at"),)


class MultipartUploadRow(Timestamps, Base):
    __tablename__ = "multipart_uploads"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(1000))
    file_type: Mapped[str] = mapped_column(String(16))
    total_size: Mapped[int] = mapped_column(BigInteger)
    chunk_size: Mapped[int] = mapped_column(Integer)
    total_chunks: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # active | completed | failed
    # Chunk PUTs carry no API key (the SDK sends none): a per-upload secret in the URL authorises them.
    secret: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UploadChunkRow(Base):
    __tablename__ = "upload_chunks"
    upload_id: Mapped[str] = mapped_column(
        ForeignKey("multipart_uploads.id", ondelete="CASCADE"), primary_key=True
    )
    chunk_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    etag: Mapped[str] = mapped_column(String(64))  # what the client proves: the md5 hex of the bytes
    # Which PUT's blob holds those bytes (`services.uploads.chunk_blob_key`); None for rows of older releases.
    blob_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reported: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SearchSessionRow(Base):
    """A ranked result list kept for token paging until it expires."""

    __tablename__ = "search_sessions"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(24), index=True)
    index_id: Mapped[str] = mapped_column(String(24))
    page_limit: Mapped[int] = mapped_column(Integer)
    results: Mapped[list[Any]] = mapped_column(JSON)
    search_pool: Mapped[dict[str, Any]] = mapped_column(JSON)
    include_user_metadata: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PlatformSecretRow(Base):
    """Process-wide secrets every API process and worker must share (the URL-signing key) when the metadata
    store is a server database; inserted once by whichever process starts first (`INSERT … ON CONFLICT DO
    NOTHING`, then read back), so a cluster never runs with two keys."""

    __tablename__ = "platform_secrets"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary)
