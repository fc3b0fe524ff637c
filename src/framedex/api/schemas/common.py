from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class WireModel(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="allow")


class PageInfo(WireModel):
    page: int
    limit_per_page: int
    total_page: int
    total_results: int


class PagedResponse(WireModel, Generic[T]):
    data: list[T]
    page_info: PageInfo


class IdResponse(WireModel):
    id: str = Field(serialization_alias="_id")


UserMetadata = dict[str, Any]
