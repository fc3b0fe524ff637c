"""Query-string conventions of the SDK: repeated keys for lists, deepObject keys for dicts and ranges."""

from __future__ import annotations

from starlette.datastructures import QueryParams

from framedex.services.videos import RANGE_FIELDS, VideoFilter, parse_range

_PAGING_AND_SORT = {"page", "page_limit", "sort_by", "sort_option"}


def repeated(params: QueryParams, name: str) -> list[str]:
    """`a=x&a=y`, `a[]=x` and the comma form `a=x,y` all give [x, y]."""
    values = params.getlist(name) + params.getlist(f"{name}[]")
    return [v.strip() for raw in values for v in raw.split(",") if v.strip()]


def video_filter(params: QueryParams, *, known: set[str], root_level_metadata: bool) -> VideoFilter:
    """Build a filter from the query string.

    `root_level_metadata`: the SDK's videos.list wrapper flattens user metadata into
    root keys (`?category=news`); accept any unknown key as user metadata there.
    """
    flt = VideoFilter(
        filename=params.get("filename"),
        statuses=repeated(params, "status"),
        created_at=params.get("created_at"),
        updated_at=params.get("updated_at"),
        sort_by=params.get("sort_by", "created_at"),
        sort_option=params.get("sort_option", "desc"),
    )
    for name in RANGE_FIELDS:
        exact, gte, lte = params.get(name), params.get(f"{name}[gte]"), params.get(f"{name}[lte]")
        if exact is not None or gte is not None or lte is not None:
            flt.ranges[name] = parse_range(name, exact, gte, lte)
    for key, value in params.multi_items():
        if key.startswith("user_metadata[") and key.endswith("]"):
            flt.user_metadata[key[len("user_metadata["):-1]] = value
        elif root_level_metadata and "[" not in key and key not in known | _PAGING_AND_SORT | set(RANGE_FIELDS):
            flt.user_metadata[key] = value
    return flt
