"""ORM tables for imports from storage (`/tasks/transfers/import/{integration_id}`).

Imported by `storage.metadata.create_schema` so that `Base.metadata.create_all` creates them.
An import run is one `POST …/import/{integration_id}`; an import object is one file (local path or
S3 key) of an integration, per index, and remembers what was imported from it so that the next
run can skip it (incremental import) or retry it (`retry_failed`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from framedex.storage.tables import ID, Base, Timestamps
from framedex.storage.types import UTCDateTime


class ImportRunRow(Timestamps, Base):
    __tablename__ = "import_runs"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    integration_id: Mapped[str] = mapped_column(String(200))
    index_id: Mapped[str] = mapped_column(ForeignKey("indexes.id", ondelete="CASCADE"), index=True)
    # What this run imported: [{filename, video_id}]; the videos' statuses give the run's progress.
    items: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Files refused before a video was created (too large, unreadable): [{filename, error_message}].
    failed_files: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Set once every video of the run reached ready or failed (observed lazily by status/logs/import).
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    __table_args__ = (Index("ix_import_runs_list", "tenant_id", "integration_id", "created_at"),)


class ImportObjectRow(Timestamps, Base):
    """One file of an integration as imported into one index. `video_id` is the indexed asset made from it;
    `status` is `importing` until the bytes are in the blob store, then `transferred`, or `failed` when the
    file could not be read (the video's own status tells the rest)."""

    __tablename__ = "import_objects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    integration_id: Mapped[str] = mapped_column(String(200))
    index_id: Mapped[str] = mapped_column(ForeignKey("indexes.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(1024))  # path relative to the folder, or the S3 key under the prefix
    # What identifies the content (size + mtime, or the S3 ETag): a changed file is imported again.
    fingerprint: Mapped[str] = mapped_column(String(200))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    run_id: Mapped[str] = mapped_column(String(24), index=True)
    asset_id: Mapped[str | None] = mapped_column(String(24), nullable=True)
    video_id: Mapped[str | None] = mapped_column(String(24), nullable=True, index=True)
    status: Mapped[str] = mapped_column(String(16))  # importing | transferred | failed
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    __table_args__ = (
        UniqueConstraint("tenant_id", "integration_id", "index_id", "key", name="uq_import_object"),
    )
