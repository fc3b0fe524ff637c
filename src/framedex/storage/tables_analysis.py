"""Tables of asynchronous analysis: ``/analyze/tasks`` and ``/analyze/batches`` (`services.analysis.tasks`).

Imported by `storage.metadata.create_schema` so that `Base.metadata.create_all` creates them with the rest
of the schema (they used to be created lazily by the service at run time).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from framedex.storage.tables import ID, Base, Timestamps
from framedex.storage.types import UTCDateTime


class AnalyzeTaskRow(Timestamps, Base):
    __tablename__ = "analyze_tasks"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(24), index=True)
    batch_id: Mapped[str | None] = mapped_column(String(24), nullable=True, index=True)
    custom_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    analysis_mode: Mapped[str] = mapped_column(String(32), default="general")
    model_name: Mapped[str] = mapped_column(String(32))
    request_params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # as reported on the wire
    video_source: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    video_id: Mapped[str | None] = mapped_column(String(24), nullable=True)
    asset_id: Mapped[str | None] = mapped_column(String(24), nullable=True, index=True)
    video_url: Mapped[str | None] = mapped_column(String(4096), nullable=True)
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    webhook_urls: Mapped[list[Any]] = mapped_column(JSON, default=list)
    webhooks: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    __table_args__ = (Index("ix_analyze_tasks_tenant_created", "tenant_id", "created_at"),)


class AnalyzeBatchRow(Timestamps, Base):
    __tablename__ = "analyze_batches"
    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(24), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    analysis_mode: Mapped[str] = mapped_column(String(32), default="general")
    model_name: Mapped[str] = mapped_column(String(32))
    total_items: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    webhooks: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
