"""`POST /search` (multipart, as the SDK sends it; JSON also accepted) and `GET /search/{page_token}`."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile

from framedex.api.deps import PlatformDep, TenantDep
from framedex.services import search, thumbnails
from framedex.services.errors import InvalidParameter, MissingParameter
from framedex.services.platform import Platform

router = APIRouter(tags=["search"])

MAX_QUERY_IMAGES = 10
MAX_QUERY_IMAGE_BYTES = 32 * 1024 * 1024


def _bool(name: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if str(raw).lower() in ("true", "1"):
        return True
    if str(raw).lower() in ("false", "0", ""):
        return False
    raise InvalidParameter(name, "It must be true or false.")


async def _read_body(request: Request) -> tuple[dict[str, list[Any]], list[bytes], list[str]]:
    fields: dict[str, list[Any]] = {}
    images: list[bytes] = []
    urls: list[str] = []
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.json()
        if not isinstance(body, dict):
            raise InvalidParameter("body", "It must be a JSON object.")
        for key, value in body.items():
            fields[key] = value if isinstance(value, list) else [value]
    else:
        form = await request.form(max_files=MAX_QUERY_IMAGES, max_fields=200)
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key == "query_media_file":
                    data = await value.read(MAX_QUERY_IMAGE_BYTES + 1)
                    if len(data) > MAX_QUERY_IMAGE_BYTES:
                        raise InvalidParameter("query_media_file", "Each image must be at most 32 MB.")
                    images.append(data)
                continue
            fields.setdefault(key, []).append(value)
    urls = [str(u) for u in fields.pop("query_media_url", [])]
    return fields, images, urls


def _request_from(fields: dict[str, list[Any]], images: list[bytes]) -> search.SearchRequest:
    def one(name: str) -> Any:
        values = fields.get(name)
        return values[-1] if values else None

    index_id = one("index_id")
    if not index_id:
        raise MissingParameter("index_id")
    flt: dict[str, Any] = {}
    raw_filter = one("filter")
    if raw_filter not in (None, ""):
        if isinstance(raw_filter, dict):
            flt = raw_filter
        else:
            try:
                flt = json.loads(raw_filter)
            except json.JSONDecodeError as exc:
                raise InvalidParameter("filter", "It must be a JSON object.", code="search_filter_invalid") from exc
            if not isinstance(flt, dict):
                raise InvalidParameter("filter", "It must be a JSON object.", code="search_filter_invalid")
    page_limit = one("page_limit")
    try:
        limit = int(page_limit) if page_limit not in (None, "") else 10
    except ValueError as exc:
        raise InvalidParameter("page_limit", "It must be an integer.") from exc
    return search.SearchRequest(
        index_id=str(index_id),
        search_options=[str(o) for o in fields.get("search_options", [])],
        query_text=one("query_text"),
        transcription_options=[str(o) for o in fields.get("transcription_options", [])] or ["lexical", "semantic"],
        operator=str(one("operator") or "or"),
        group_by=str(one("group_by") or "clip"),
        page_limit=limit,
        filter=flt,
        include_user_metadata=_bool("include_user_metadata", one("include_user_metadata") or False),
        query_media_type=one("query_media_type"),
        query_images=images,
    )


def _wire(platform: Platform, request: Request, result: search.SearchPageResult) -> dict[str, Any]:
    base = platform.settings.public_url or str(request.base_url)

    def fix(hit: dict[str, Any]) -> dict[str, Any]:
        seq = hit.pop("thumbnail_seq", None)
        if seq is not None:
            hit["thumbnail_url"] = thumbnails.url(platform, base, hit["video_id"], seq)
        return hit

    data = []
    for item in result.data:
        if "clips" in item:
            item["clips"] = [fix(c) for c in item["clips"]]
            data.append(item)
        else:
            data.append(fix(item))
    return {"data": data, "page_info": result.page_info, "search_pool": result.search_pool}


@router.post("/search")
async def create_search(request: Request, platform: PlatformDep, tenant: TenantDep) -> dict[str, Any]:
    from starlette.concurrency import run_in_threadpool

    from framedex.services.media import fetch_query_images

    fields, images, urls = await _read_body(request)
    if urls:
        images += await run_in_threadpool(fetch_query_images, platform, urls)
    if len(images) > MAX_QUERY_IMAGES:
        raise InvalidParameter("query_media_file", f"At most {MAX_QUERY_IMAGES} images.")
    search_request = _request_from(fields, images)
    result = await run_in_threadpool(search.run_search, platform, tenant, search_request)
    return _wire(platform, request, result)


@router.get("/search/{page_token}")
def retrieve_search_page(page_token: str, request: Request, platform: PlatformDep,
                         tenant: TenantDep) -> dict[str, Any]:
    raw = request.query_params.get("include_user_metadata")
    include = None if raw in (None, "") else _bool("include_user_metadata", raw)
    return _wire(platform, request, search.retrieve_page(platform, tenant, page_token, include))
