"""`POST /search` (multipart, as the SDK sends it; JSON also accepted) and `GET /search/{page_token}`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.datastructures import UploadFile

from framedex.api import json_limits
from framedex.api.deps import PlatformDep, TenantDep
from framedex.api.schemas.search import MAX_QUERY_IMAGES, SEARCH_BODY
from framedex.domain_errors import InvalidParameter, MissingParameter
from framedex.services import search, thumbnails
from framedex.services.media import MAX_IMAGE_BYTES
from framedex.services.platform import Platform

router = APIRouter(tags=["search"])

MAX_QUERY_IMAGE_BYTES = MAX_IMAGE_BYTES


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
        # RequestGuard has checked the body (valid JSON, finite, bounded); parse it the same way here.
        body = json_limits.loads(await request.body())
        if not isinstance(body, dict):
            raise InvalidParameter("body", "It must be a JSON object.")
        for key, value in body.items():
            fields[key] = value if isinstance(value, list) else [value]
    else:
        form = await request.form(max_files=MAX_QUERY_IMAGES, max_fields=200)
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key == "query_media_file":
                    if len(images) >= MAX_QUERY_IMAGES:
                        raise InvalidParameter("query_media_file", f"At most {MAX_QUERY_IMAGES} images.")
                    data = await value.read(MAX_QUERY_IMAGE_BYTES + 1)
                    if len(data) > MAX_QUERY_IMAGE_BYTES:
                        raise InvalidParameter("query_media_file", "Each image must be at most 32 MB.")
                    images.append(data)
                continue
            fields.setdefault(key, []).append(value)
    urls = fields.pop("query_media_url", [])
    if not all(isinstance(u, str) for u in urls):
        raise InvalidParameter("query_media_url", "Each URL must be a string.")
    # Count before anything is downloaded: every URL costs a fetch of up to 32 MB.
    if len(urls) + len(images) > MAX_QUERY_IMAGES:
        raise InvalidParameter("query_media_url", f"At most {MAX_QUERY_IMAGES} images (files and URLs together).")
    return fields, images, urls


def _text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidParameter(name, "It must be a string.")
    return value


def _check_filter(flt: dict[str, Any]) -> dict[str, Any]:
    """Range conditions ({"gte": .., "lte": ..}) compare numbers: anything else there is a 400 here rather
    than a type error deep in the search."""
    json_limits.check(flt, "filter", max_depth=4, max_items=1000)
    for key, cond in flt.items():
        if isinstance(cond, dict):
            for op in ("gte", "lte"):
                bound = cond.get(op)
                if op in cond and (isinstance(bound, bool) or not isinstance(bound, int | float)):
                    raise InvalidParameter("filter", f"{key}.{op} must be a number.", code="search_filter_invalid")
    return flt


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
        elif isinstance(raw_filter, str):
            try:
                flt = json_limits.loads(raw_filter, "filter")
            except InvalidParameter as exc:
                raise InvalidParameter("filter", f"It must be a JSON object. {exc.message.split('invalid. ', 1)[-1]}",
                                       code="search_filter_invalid") from exc
        else:
            flt = raw_filter
        if not isinstance(flt, dict):
            raise InvalidParameter("filter", "It must be a JSON object.", code="search_filter_invalid")
        _check_filter(flt)
    page_limit = one("page_limit")
    if isinstance(page_limit, bool) or not isinstance(page_limit, int | float | str | None):
        raise InvalidParameter("page_limit", "It must be an integer.")
    try:
        limit = int(page_limit) if page_limit not in (None, "") else 10
    except (ValueError, OverflowError) as exc:
        raise InvalidParameter("page_limit", "It must be an integer.") from exc
    index_id = _text("index_id", index_id)
    list_fields = ("search_options", "transcription_options")
    for name in list_fields:
        if not all(isinstance(o, str) for o in fields.get(name, [])):
            raise InvalidParameter(name, "Each option must be a string.")
    return search.SearchRequest(
        index_id=str(index_id),
        search_options=list(fields.get("search_options", [])),
        query_text=_text("query_text", one("query_text")),
        transcription_options=list(fields.get("transcription_options", [])) or ["lexical", "semantic"],
        operator=_text("operator", one("operator")) or "or",
        group_by=_text("group_by", one("group_by")) or "clip",
        page_limit=limit,
        filter=flt,
        include_user_metadata=_bool("include_user_metadata", one("include_user_metadata") or False),
        query_media_type=_text("query_media_type", one("query_media_type")),
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


@router.post("/search", openapi_extra=SEARCH_BODY)
async def create_search(request: Request, platform: PlatformDep, tenant: TenantDep) -> dict[str, Any]:
    from starlette.concurrency import run_in_threadpool

    from framedex.services.media import fetch_query_images

    fields, images, urls = await _read_body(request)
    search_request = _request_from(fields, images)  # everything but the URLs checked before any download
    if urls:
        try:  # an unreachable URL is a 400 from the service (services/media.connection_failed)
            search_request.query_images += await run_in_threadpool(fetch_query_images, platform, urls)
        except InvalidParameter as exc:
            if exc.parameter != "video_url":
                raise
            # The shared URL check names the tasks API's field; the caller sent query_media_url.
            raise InvalidParameter("query_media_url", exc.message.split("parameter is invalid.", 1)[-1].strip(),
                                   code=exc.code) from exc
    result = await run_in_threadpool(search.run_search, platform, tenant, search_request)
    return _wire(platform, request, result)


@router.get("/search/{page_token}")
def retrieve_search_page(page_token: str, request: Request, platform: PlatformDep,
                         tenant: TenantDep) -> dict[str, Any]:
    raw = request.query_params.get("include_user_metadata")
    include = None if raw in (None, "") else _bool("include_user_metadata", raw)
    return _wire(platform, request, search.retrieve_page(platform, tenant, page_token, include))
