"""Knowledge-store search (reference B.19): `services.search.rank` over the store's ready items, what is
seen (labels, OCR), said (transcripts) and heard. An image item is matched on what is seen whatever the
video modalities and answered as an image hit (no time range); a document item's hits name its pages.

The ranked results are kept server-side (`KnowledgeSearchRow`) for token paging; a token past its expiry
answers 410 (`search_page_token_expired`), an unknown or malformed one 400. A page is a `SearchPage`: the
kept entries of that page (stored as the API's result objects) and what the router needs to answer it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from framedex.domain_errors import InvalidParameter, ServiceError
from framedex.ids import new_id, utcnow
from framedex.ingest.stages import PAGE_SECONDS
from framedex.services import search
from framedex.services.knowledge_stores.inputs import StoreSearchInput, decode_token, encode_token
from framedex.services.knowledge_stores.stores import asset_system_metadata, get_store
from framedex.services.platform import Platform
from framedex.services.search import cache as search_cache
from framedex.storage.tables import AssetRow
from framedex.storage.tables_knowledge import KnowledgeSearchRow, KnowledgeStoreItemRow

SEARCH_TTL_SECONDS = 3600.0


class Gone(ServiceError):
    status = 410
    code = "search_page_token_expired"


@dataclass(frozen=True)
class SearchPage:
    """One page of a search's kept results: its entries in rank order (the first ranked ``first_rank``), the
    search options that applied, and the token of the next page (None on the last)."""

    entries: list[dict[str, Any]]
    first_rank: int
    options: dict[str, Any]
    next_page_token: str | None


def search_store(platform: Platform, tenant_id: str, store_id: str, request: StoreSearchInput) -> SearchPage:
    with platform.store.session() as s:
        store = get_store(s, tenant_id, store_id)
        index_id = store.index_id
        item_rows = list(s.scalars(select(KnowledgeStoreItemRow).where(KnowledgeStoreItemRow.store_id == store_id)))
        image_meta = {i.asset_id: asset_system_metadata(s.get(AssetRow, i.asset_id))
                      for i in item_rows if i.asset_type != "video"}
    if request.page_token is not None:
        search_id, page = request.page_token
        with platform.store.session() as s:
            row = s.get(KnowledgeSearchRow, search_id)
            if row is None or row.tenant_id != tenant_id or row.store_id != store_id:
                raise InvalidParameter("page_token", "The page token is not recognised.",
                                       code="search_page_token_invalid")
            if row.expires_at < utcnow():
                raise Gone("The page token has expired; send the search again for a fresh token.")
            return _search_page(row.id, row.results, page, row.page_size, row.options)
    text, page_size, group_by = request.text, request.page_size, request.group_by
    modalities = list(request.modalities)
    items = _filtered(item_rows, request)
    item_of_video = {i.video_id: i for i in items if i.video_id}
    ready = search_cache.ready_videos(platform, tenant_id, index_id)
    allowed = set(ready.ids) & set(item_of_video)
    images = {v for v in allowed if item_of_video[v].asset_type != "video"}
    # Images (and documents: what is written) are always matched on what is seen: with the video modalities
    # when they include it, else apart.
    searches = [(modalities, allowed if "visual" in modalities else allowed - images)]
    if "visual" not in modalities:
        searches.append((["visual"], images))
    hits: list[dict[str, Any]] = []
    for wanted, ids in searches:
        if ids:
            options = list(wanted) + (["transcription"] if "audio" in wanted else [])
            query = search.validate(search.SearchRequest(index_id=index_id, search_options=options,
                                                         query_text=text, page_limit=page_size))
            hits.extend(search.rank(platform, tenant_id, query, ids, ready=ready))
    if len(searches) > 1:
        hits.sort(key=lambda h: -float(h["relevance"]))
    entries: list[dict[str, Any]] = []
    by_item: dict[str, dict[str, Any]] = {}
    for h in hits:
        item = item_of_video[h["video_id"]]
        if item.asset_type != "video":
            entry = by_item.get(item.id)
            if entry is None or (item.asset_type == "document" and group_by != "item"):  # an image hits once
                entry = {"asset_type": item.asset_type, "item_id": item.id,
                         "metadata": {"system": image_meta.get(item.asset_id, {}), "user": item.meta or {}}}
                entries.append(entry)
                by_item[item.id] = entry
            if item.asset_type == "document":  # the pages of the hit (page n is clip n-1, see ingest)
                first = int(float(h["start"]) // PAGE_SECONDS) + 1
                last = max(first, -int(-float(h["end"]) // PAGE_SECONDS))
                entry.setdefault("matches", []).append({"start_page_number": first, "end_page_number": last})
            continue
        matched = [m for m, v in (h.get("modalities") or {}).items() if v >= search.RELEVANCE_THRESHOLD] \
            or list(h.get("modalities") or {})[:1]
        wire = sorted({"audio" if m in ("audio", "transcription") else "visual" for m in matched})
        match: dict[str, Any] = {"start_sec": round(float(h["start"]), 3), "end_sec": round(float(h["end"]), 3),
                                 "modalities": wire}
        if h.get("transcription"):
            match["transcription"] = h["transcription"]
        if group_by == "item" and item.id in by_item:
            by_item[item.id]["matches"].append(match)
            continue
        video = ready.by_id.get(h["video_id"])
        system = {k: getattr(video, k) for k in ("duration", "width", "height", "size")
                  if video is not None and getattr(video, k, None) is not None}
        entry = {"asset_type": "video", "item_id": item.id, "metadata": {"system": system, "user": item.meta or {}},
                 "matches": [match]}
        entries.append(entry)
        by_item[item.id] = entry
    # No video options apply when the filter leaves out videos (the reference: the object is then empty).
    effective: dict[str, Any] = {} if request.excludes_videos else {"video": {"modalities": modalities}}
    row = KnowledgeSearchRow(id=new_id(), tenant_id=tenant_id, store_id=store_id, page_size=page_size,
                             results=entries, options=effective,
                             expires_at=utcnow() + timedelta(seconds=SEARCH_TTL_SECONDS))
    with platform.store.session() as s:
        s.add(row)
    return _search_page(row.id, entries, 1, page_size, effective)


def _filtered(items: list[KnowledgeStoreItemRow], request: StoreSearchInput) -> list[KnowledgeStoreItemRow]:
    if request.asset_types is not None:
        items = [i for i in items if i.asset_type in request.asset_types]
    if request.item_ids is not None:
        items = [i for i in items if i.id in request.item_ids]
    return items


def _search_page(search_id: str, entries: list[dict[str, Any]], page: int, size: int,
                 options: dict[str, Any]) -> SearchPage:
    start = (page - 1) * size
    more = start + size < len(entries)
    return SearchPage(entries[start:start + size], start + 1, options,
                      encode_token(search_id, page + 1) if more else None)


def expire_search(platform: Platform, token: str) -> None:
    """Make a page token expire now (tests and operators invalidating results)."""
    search_id, _ = decode_token(token)
    with platform.store.session() as s:
        row = s.get(KnowledgeSearchRow, search_id)
        if row is not None:
            row.expires_at = utcnow() - timedelta(seconds=1)
