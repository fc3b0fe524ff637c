"""ORM table for the renditions made from an asset: the HLS stream and the representative thumbnail.

One row per (asset, kind). Renditions belong to the asset, not to an index: every indexed copy of an
asset (and the asset itself) shares one stream and one thumbnail. The files live in the blob store under
`assets/{asset_id}/`, which deleting the asset removes. Imported by `storage.metadata.create_schema`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from framedex.storage.tables import Base, Timestamps


class RenditionRow(Timestamps, Base):
    __tablename__ = "asset_renditions"
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # hls | thumbnail
    tenant_id: Mapped[str] = mapped_column(String(24), index=True)
    status: Mapped[str] = mapped_column(String(16))  # pending | processing | ready | error
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # hls: segments, bytes; thumbnail: time (s) of the chosen frame.
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
