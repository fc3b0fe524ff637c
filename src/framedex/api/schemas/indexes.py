from __future__ import annotations

from typing import Any

from pydantic import Field

from framedex.api.schemas.common import WireModel
from framedex.ids import rfc3339
from framedex.services.indexes import IndexStats
from framedex.storage.tables import IndexRow


class IndexModel(WireModel):
    model_name: str
    model_options: list[str]


class IndexCreate(WireModel):
    index_name: str
    models: list[dict[str, Any]]
    addons: list[str] | None = None


class IndexUpdate(WireModel):
    index_name: str


class IndexSchema(WireModel):
    id: str = Field(serialization_alias="_id")
    index_name: str
    created_at: str
    updated_at: str
    expires_at: str | None = None
    total_duration: float
    video_count: int
    models: list[IndexModel]
    addons: list[str]

    @classmethod
    def of(cls, row: IndexRow, stats: IndexStats) -> IndexSchema:
        return cls(
            id=row.id, index_name=row.name, created_at=rfc3339(row.created_at) or "",
            updated_at=rfc3339(row.updated_at) or "", total_duration=stats.total_duration,
            video_count=stats.video_count, models=[IndexModel(**m) for m in row.models], addons=row.addons,
        )
