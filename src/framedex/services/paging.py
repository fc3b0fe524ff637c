"""Page-number paging shared by every list endpoint."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from framedex.domain_errors import InvalidParameter

T = TypeVar("T")
MAX_PAGE_LIMIT = 50


@dataclass(frozen=True)
class PageRequest:
    page: int = 1
    page_limit: int = 10

    def __post_init__(self) -> None:
        if self.page < 1:
            raise InvalidParameter("page", "It must be 1 or greater.")
        if not 1 <= self.page_limit <= MAX_PAGE_LIMIT:
            raise InvalidParameter("page_limit", f"It must be between 1 and {MAX_PAGE_LIMIT}.")

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_limit


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    request: PageRequest
    total: int

    @property
    def page_info(self) -> dict[str, int]:
        return {
            "page": self.request.page,
            "limit_per_page": self.request.page_limit,
            "total_page": max(1, math.ceil(self.total / self.request.page_limit)),
            "total_results": self.total,
        }


def paginate(session: Session, query: Select[Any], request: PageRequest) -> Page[Any]:
    """Run `query` for one page. Past the last page the items are empty, never an error:
    the official SDK stops iterating only on an empty `data`."""
    total = session.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar_one()
    items = list(session.scalars(query.offset(request.offset).limit(request.page_limit)))
    return Page(items, request, int(total))


def paginate_list(items: list[T], request: PageRequest) -> Page[T]:
    return Page(items[request.offset : request.offset + request.page_limit], request, len(items))


def order_by_field(query: Select[Any], model: Any, sort_by: str | None, sort_option: str | None, *,
                   fields: tuple[str, ...], fields_hint: str) -> Select[Any]:
    """``query`` ordered by the column a list endpoint's ``sort_by``/``sort_option`` name (newest first by
    default), then by id so that equal values page stably. ``fields_hint`` is the error's advice, which the
    endpoints word differently."""
    sort_by = sort_by or "created_at"
    if sort_by not in fields:
        raise InvalidParameter("sort_by", fields_hint)
    if (sort_option or "desc") not in ("asc", "desc"):
        raise InvalidParameter("sort_option", "Use asc or desc.")
    column = getattr(model, sort_by)
    return query.order_by(column.asc() if sort_option == "asc" else column.desc(), model.id)
