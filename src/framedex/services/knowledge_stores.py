"""Knowledge stores, their items and item collections, and knowledge-store search (reference B.17-B.19).

Each store owns a hidden index (models: Marengo with visual + audio). Adding an item indexes its asset
into that index with the ordinary ingest pipeline, so an item's status is its indexed asset's and search
is `services.search.rank` over the store's ready items: what is seen (labels, OCR), said (transcripts)
and heard. An image item is indexed as one still frame (one clip, `ctx.still` in ingest): its labels,
joint-space vector, on-screen text and faces, matched on what is seen whatever the video modalities, and
answered as an image hit (no time range). Search results are kept server-side for token paging; a token
past its expiry answers 410 (`search_page_token_expired`), an unknown or malformed one 400.

Size (~550 lines): stores, items, item collections and store search are one resource tree (every call
checks the same tenant/store ownership and metadata rules); search is the part to split if it grows.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from framedex.domain_errors import InvalidParameter, MissingParameter, NotFound, ServiceError
from framedex.ids import is_id, new_id, rfc3339, utcnow
from framedex.ingest.stages import PAGE_SECONDS
from framedex.services import assets as asset_service
from framedex.services import indexes, search, videos
from framedex.services.paging import Page, PageRequest, paginate
from framedex.services.platform import Platform
from framedex.services.search import cache as search_cache
from framedex.storage.tables import AssetRow, IndexedAssetRow
from framedex.storage.tables_knowledge import (
    KnowledgeCollectionRow,
    KnowledgeSearchRow,
    KnowledgeStoreItemRow,
    KnowledgeStoreRow,
)

STORE_INDEX_MODELS = [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]
MAX_PAGE_SIZE = 50
# The API's items are videos and images; a document (PDF, text, Markdown) item is framedex's extension: the
# reference searches documents nowhere else (they are only embedded), and its SDK's asset_type enums are open.
ITEM_KINDS = ("video", "image", "document")
MAX_ITEM_IDS = 500
SEARCH_TTL_SECONDS = 3600.0
# Ingest statuses → item statuses of the API.
ITEM_STATUS = {"pending": "pending", "validating": "pending", "queued": "queued", "indexing": "processing",
               "ready": "ready", "failed": "failed"}


class Gone(ServiceError):
    status = 410
    code = "search_page_token_expired"


# --- metadata --------------------------------------------------------------------------------------------


def check_metadata(value: Any, *, max_pairs: int, max_value: int, name: str = "metadata") -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidParameter(name, "It must be an object of key-value pairs.")
    if len(value) > max_pairs:
        raise InvalidParameter(name, f"At most {max_pairs} pairs are accepted.")
    for key, v in value.items():
        if len(key) > 128:
            raise InvalidParameter(name, f"The key {key[:20]!r}… is longer than 128 characters.")
        ok = (isinstance(v, str) and len(v) <= max_value) \
            or (isinstance(v, bool)) \
            or (isinstance(v, int) and abs(v) <= 9007199254740991) \
            or (isinstance(v, float)) \
            or (isinstance(v, list) and all(isinstance(x, str) and len(x) <= max_value for x in v))
        if not ok:
            raise InvalidParameter(name, f"The value of {key!r} must be a string (up to {max_value} characters), "
                                   "a number, a boolean or an array of strings.")
    return dict(value)


def _sorted(query: Any, column_owner: Any, sort_by: str | None, sort_option: str | None) -> Any:
    sort_by = sort_by or "created_at"
    if sort_by not in ("created_at", "updated_at"):
        raise InvalidParameter("sort_by", "Use created_at or updated_at.")
    if (sort_option or "desc") not in ("asc", "desc"):
        raise InvalidParameter("sort_option", "Use asc or desc.")
    column = getattr(column_owner, sort_by)
    return query.order_by(column.asc() if sort_option == "asc" else column.desc(), column_owner.id)


# --- stores ----------------------------------------------------------------------------------------------


def get_store(s: Any, tenant_id: str, store_id: str) -> KnowledgeStoreRow:
    row = s.get(KnowledgeStoreRow, store_id) if is_id(store_id) else None
    if row is None or row.tenant_id != tenant_id:
        raise NotFound("knowledge store", store_id)
    return row


def store_json(row: KnowledgeStoreRow, item_count: int) -> dict[str, Any]:
    out: dict[str, Any] = {"_id": row.id, "name": row.name, "item_count": item_count, "metadata": row.meta or {},
                           "created_at": rfc3339(row.created_at), "updated_at": rfc3339(row.updated_at)}
    if row.description is not None:
        out["description"] = row.description
    return out


def _counts(s: Any, store_ids: list[str]) -> dict[str, int]:
    rows = s.execute(select(KnowledgeStoreItemRow.store_id, func.count())
                     .where(KnowledgeStoreItemRow.store_id.in_(store_ids))
                     .group_by(KnowledgeStoreItemRow.store_id)).all()
    found = {r[0]: int(r[1]) for r in rows}
    return {i: found.get(i, 0) for i in store_ids}


def create_store(platform: Platform, tenant_id: str, body: dict[str, Any]) -> dict[str, Any]:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise MissingParameter("name")
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise InvalidParameter("description", "It must be a string.")
    meta = check_metadata(body.get("metadata"), max_pairs=10, max_value=2048)
    store_id = new_id()
    index = indexes.create(platform, tenant_id, name=f"framedex-knowledge-store-{store_id}",
                           models=STORE_INDEX_MODELS, hidden=True)
    row = KnowledgeStoreRow(id=store_id, tenant_id=tenant_id, name=name.strip(), description=description, meta=meta,
                            index_id=index.id)
    with platform.store.session() as s:
        s.add(row)
    return store_json(row, 0)


def list_stores(platform: Platform, tenant_id: str, page: PageRequest, *, sort_by: str | None = None,
                sort_option: str | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    with platform.store.session() as s:
        query = _sorted(select(KnowledgeStoreRow).where(KnowledgeStoreRow.tenant_id == tenant_id),
                        KnowledgeStoreRow, sort_by, sort_option)
        result: Page[KnowledgeStoreRow] = paginate(s, query, page)
        counts = _counts(s, [r.id for r in result.items])
        return [store_json(r, counts[r.id]) for r in result.items], result.page_info


def retrieve_store(platform: Platform, tenant_id: str, store_id: str) -> dict[str, Any]:
    with platform.store.session() as s:
        row = get_store(s, tenant_id, store_id)
        return store_json(row, _counts(s, [row.id])[row.id])


def update_store(platform: Platform, tenant_id: str, store_id: str, body: dict[str, Any]) -> dict[str, Any]:
    with platform.store.session() as s:
        row = get_store(s, tenant_id, store_id)
        if "name" in body and body["name"] is not None:
            if not isinstance(body["name"], str) or not body["name"].strip():
                raise InvalidParameter("name", "It must be a non-empty string.")
            row.name = body["name"].strip()
        if "description" in body and body["description"] is not None:
            if not isinstance(body["description"], str):
                raise InvalidParameter("description", "It must be a string.")
            row.description = body["description"]
        if "metadata" in body and body["metadata"] is not None:
            row.meta = check_metadata(body["metadata"], max_pairs=10, max_value=2048)  # replaces in full
        row.updated_at = utcnow()
        s.flush()
        return store_json(row, _counts(s, [row.id])[row.id])


def delete_store(platform: Platform, tenant_id: str, store_id: str) -> None:
    with platform.store.session() as s:
        row = get_store(s, tenant_id, store_id)
        index_id = row.index_id
        s.delete(row)
    # The hidden index takes its indexed assets, vectors and lexical entries with it.
    with contextlib.suppress(NotFound):
        indexes.delete_index(platform, tenant_id, index_id)


# --- items -----------------------------------------------------------------------------------------------


def item_json(item: KnowledgeStoreItemRow, video: IndexedAssetRow | None, asset: AssetRow | None) -> dict[str, Any]:
    system: dict[str, Any] = {"asset_type": item.asset_type}
    if video is not None and item.asset_type == "video":
        status = ITEM_STATUS.get(video.status, "processing")
        system.update({k: v for k, v in {"filename": video.filename, "duration": video.duration, "fps": video.fps,
                                         "width": video.width, "height": video.height,
                                         "size": video.size}.items() if v is not None})
    else:  # an image or a document: its asset's size (an item from before images were indexed has no video)
        status = ITEM_STATUS.get(video.status, "processing") if video is not None else \
            "failed" if asset is not None and asset.status == "failed" else "ready"
        if asset is not None:
            system.update(_image_system(asset))
            if asset.filename:
                system["filename"] = asset.filename
    return {"_id": item.id, "asset_type": item.asset_type, "asset_id": item.asset_id, "status": status,
            "system_metadata": system, "metadata": item.meta or {}, "created_at": rfc3339(item.created_at),
            "updated_at": rfc3339(item.updated_at)}


def _image_system(asset: AssetRow | None) -> dict[str, Any]:
    """The system metadata of an image or document item (and of its search hits)."""
    meta = (asset.system_metadata or {}) if asset is not None else {}
    return {k: meta[k] for k in ("width", "height", "size", "document_page_count") if meta.get(k) is not None}


def _items_json(s: Any, items: list[KnowledgeStoreItemRow]) -> list[dict[str, Any]]:
    out = []
    for item in items:
        video = s.get(IndexedAssetRow, item.video_id) if item.video_id else None
        asset = s.get(AssetRow, item.asset_id)
        out.append(item_json(item, video, asset))
    return out


def get_item(s: Any, tenant_id: str, store_id: str, item_id: str) -> KnowledgeStoreItemRow:
    get_store(s, tenant_id, store_id)
    row = s.get(KnowledgeStoreItemRow, item_id) if is_id(item_id) else None
    if row is None or row.store_id != store_id:
        raise NotFound("knowledge store item", item_id)
    return row


def create_item(platform: Platform, tenant_id: str, store_id: str, body: dict[str, Any]) -> dict[str, Any]:
    asset_id = body.get("asset_id")
    if not isinstance(asset_id, str) or not asset_id:
        raise MissingParameter("asset_id")
    meta = check_metadata(body.get("metadata"), max_pairs=50, max_value=8192)
    with platform.store.session() as s:
        store = get_store(s, tenant_id, store_id)
        asset = asset_service.get_asset(s, tenant_id, asset_id)
        # A document only when asked for: the official SDK cannot parse a document item or hit (closed unions).
        kind = body.get("asset_type") or ("image" if asset.file_type == "image" else "video")
        if kind not in ITEM_KINDS:
            raise InvalidParameter("asset_type", "Use video, image or document.")
        if asset.file_type not in (None, kind):
            raise InvalidParameter("asset_type", f"The asset is a {asset.file_type}, not a {kind}.")
        index_id = store.index_id
    video_id = videos.index_asset(platform, tenant_id, index_id, asset_id, kinds=(kind,)).id
    item = KnowledgeStoreItemRow(id=new_id(), tenant_id=tenant_id, store_id=store_id, asset_id=asset_id,
                                 asset_type=kind, video_id=video_id, meta=meta)
    with platform.store.session() as s:
        s.add(item)
        s.flush()
        return _items_json(s, [item])[0]


def list_items(platform: Platform, tenant_id: str, store_id: str, page: PageRequest, *, sort_by: str | None = None,
               sort_option: str | None = None, status: list[str] | None = None
               ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    with platform.store.session() as s:
        get_store(s, tenant_id, store_id)
        rows = list(s.scalars(_sorted(select(KnowledgeStoreItemRow).where(KnowledgeStoreItemRow.store_id == store_id),
                                      KnowledgeStoreItemRow, sort_by, sort_option)))
        data = _items_json(s, rows)
    if status:
        data = [d for d in data if d["status"] in status]
    return _page_list(data, page)


def _page_list(data: list[dict[str, Any]], page: PageRequest) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    total = len(data)
    start = (page.page - 1) * page.page_limit
    info = {"page": page.page, "limit_per_page": page.page_limit, "total_results": total,
            "total_page": max(1, -(-total // page.page_limit))}
    return data[start:start + page.page_limit], info


def retrieve_item(platform: Platform, tenant_id: str, store_id: str, item_id: str) -> dict[str, Any]:
    with platform.store.session() as s:
        return _items_json(s, [get_item(s, tenant_id, store_id, item_id)])[0]


def delete_item(platform: Platform, tenant_id: str, store_id: str, item_id: str) -> None:
    with platform.store.session() as s:
        item = get_item(s, tenant_id, store_id, item_id)
        video_id, index_id = item.video_id, get_store(s, tenant_id, store_id).index_id
        for coll in s.scalars(select(KnowledgeCollectionRow).where(KnowledgeCollectionRow.store_id == store_id)):
            if item_id in coll.item_ids:
                coll.item_ids = [i for i in coll.item_ids if i != item_id]
        s.delete(item)
    if video_id:
        with contextlib.suppress(NotFound):
            videos.delete_video(platform, tenant_id, index_id, video_id)


# --- item collections ------------------------------------------------------------------------------------


def collection_json(row: KnowledgeCollectionRow) -> dict[str, Any]:
    out: dict[str, Any] = {"_id": row.id, "knowledge_store_id": row.store_id, "name": row.name,
                           "metadata": row.meta or {}, "member_count": len(row.item_ids or []),
                           "created_at": rfc3339(row.created_at), "updated_at": rfc3339(row.updated_at)}
    if row.description is not None:
        out["description"] = row.description
    return out


def get_collection(s: Any, tenant_id: str, store_id: str, collection_id: str) -> KnowledgeCollectionRow:
    get_store(s, tenant_id, store_id)
    row = s.get(KnowledgeCollectionRow, collection_id) if is_id(collection_id) else None
    if row is None or row.store_id != store_id:
        raise NotFound("item collection", collection_id)
    return row


def create_collection(platform: Platform, tenant_id: str, store_id: str, body: dict[str, Any]) -> dict[str, Any]:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise MissingParameter("name")
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise InvalidParameter("description", "It must be a string.")
    meta = check_metadata(body.get("metadata"), max_pairs=10, max_value=2048)
    with platform.store.session() as s:
        get_store(s, tenant_id, store_id)
        row = KnowledgeCollectionRow(id=new_id(), tenant_id=tenant_id, store_id=store_id, name=name.strip(),
                                     description=description, meta=meta, item_ids=[])
        s.add(row)
        s.flush()
        return collection_json(row)


def list_collections(platform: Platform, tenant_id: str, store_id: str, page: PageRequest, *,
                     sort_by: str | None = None, sort_option: str | None = None
                     ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    with platform.store.session() as s:
        get_store(s, tenant_id, store_id)
        query = _sorted(select(KnowledgeCollectionRow).where(KnowledgeCollectionRow.store_id == store_id),
                        KnowledgeCollectionRow, sort_by, sort_option)
        result: Page[KnowledgeCollectionRow] = paginate(s, query, page)
        return [collection_json(r) for r in result.items], result.page_info


def retrieve_collection(platform: Platform, tenant_id: str, store_id: str, collection_id: str) -> dict[str, Any]:
    with platform.store.session() as s:
        return collection_json(get_collection(s, tenant_id, store_id, collection_id))


def update_collection(platform: Platform, tenant_id: str, store_id: str, collection_id: str,
                      body: dict[str, Any]) -> dict[str, Any]:
    with platform.store.session() as s:
        row = get_collection(s, tenant_id, store_id, collection_id)
        if body.get("name") is not None:
            if not isinstance(body["name"], str) or not body["name"].strip():
                raise InvalidParameter("name", "It must be a non-empty string.")
            row.name = body["name"].strip()
        if body.get("description") is not None:
            row.description = str(body["description"])
        if body.get("metadata") is not None:
            row.meta = check_metadata(body["metadata"], max_pairs=10, max_value=2048)
        row.updated_at = utcnow()
        s.flush()
        return collection_json(row)


def delete_collection(platform: Platform, tenant_id: str, store_id: str, collection_id: str) -> None:
    with platform.store.session() as s:
        s.delete(get_collection(s, tenant_id, store_id, collection_id))


def _item_ids(body: dict[str, Any]) -> list[str]:
    ids = body.get("item_ids")
    if not isinstance(ids, list) or not ids:
        raise MissingParameter("item_ids")
    if len(ids) > MAX_ITEM_IDS or not all(isinstance(i, str) for i in ids):
        raise InvalidParameter("item_ids", f"Give up to {MAX_ITEM_IDS} item ids.")
    return list(dict.fromkeys(ids))


def add_items(platform: Platform, tenant_id: str, store_id: str, collection_id: str,
              body: dict[str, Any]) -> dict[str, Any]:
    ids = _item_ids(body)
    with platform.store.session() as s:
        row = get_collection(s, tenant_id, store_id, collection_id)
        for item_id in ids:
            get_item(s, tenant_id, store_id, item_id)  # only the store's own items
        row.item_ids = list(dict.fromkeys([*row.item_ids, *ids]))
        row.updated_at = utcnow()
        s.flush()
        return collection_json(row)


def remove_items(platform: Platform, tenant_id: str, store_id: str, collection_id: str, body: dict[str, Any]) -> None:
    ids = set(_item_ids(body))
    with platform.store.session() as s:
        row = get_collection(s, tenant_id, store_id, collection_id)
        row.item_ids = [i for i in row.item_ids if i not in ids]
        row.updated_at = utcnow()


def list_collection_items(platform: Platform, tenant_id: str, store_id: str, collection_id: str,
                          page: PageRequest) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    with platform.store.session() as s:
        row = get_collection(s, tenant_id, store_id, collection_id)
        items = [i for i in (s.get(KnowledgeStoreItemRow, x) for x in row.item_ids) if i is not None]
        return _page_list(_items_json(s, items), page)


# --- search ----------------------------------------------------------------------------------------------


def _encode(search_id: str, page: int) -> str:
    return base64.urlsafe_b64encode(f"ks:{search_id}:{page}".encode()).decode().rstrip("=")


def _decode(token: Any) -> tuple[str, int]:
    try:
        raw = base64.urlsafe_b64decode(str(token) + "=" * (-len(str(token)) % 4)).decode()
        tag, search_id, page = raw.split(":")
        number = int(page)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidParameter("page_token", "The page token is not valid.", code="search_page_token_invalid") from exc
    if tag != "ks" or number < 1 or not is_id(search_id):
        raise InvalidParameter("page_token", "The page token is not valid.", code="search_page_token_invalid")
    return search_id, number


def search_store(platform: Platform, tenant_id: str, store_id: str, body: dict[str, Any]) -> dict[str, Any]:
    with platform.store.session() as s:
        store = get_store(s, tenant_id, store_id)
        index_id = store.index_id
        item_rows = list(s.scalars(select(KnowledgeStoreItemRow).where(KnowledgeStoreItemRow.store_id == store_id)))
        image_meta = {i.asset_id: _image_system(s.get(AssetRow, i.asset_id))
                      for i in item_rows if i.asset_type != "video"}
    token = body.get("page_token")
    if token is not None:
        search_id, page = _decode(token)
        with platform.store.session() as s:
            row = s.get(KnowledgeSearchRow, search_id)
            if row is None or row.tenant_id != tenant_id or row.store_id != store_id:
                raise InvalidParameter("page_token", "The page token is not recognised.",
                                       code="search_page_token_invalid")
            if row.expires_at < utcnow():
                raise Gone("The page token has expired; send the search again for a fresh token.")
            return _search_page(row.id, row.results, page, row.page_size, row.options)
    query = body.get("query")
    text = query.get("text") if isinstance(query, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise MissingParameter("query.text")
    page_size = body.get("page_size", 10)
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InvalidParameter("page_size", f"It must be between 1 and {MAX_PAGE_SIZE}.")
    group_by = body.get("group_by") or "none"
    if group_by not in ("none", "item"):
        raise InvalidParameter("group_by", "Use none or item.")
    modalities = ["visual"]  # the reference's default: "the video field shows ["visual"] when you don't set it"
    opts = body.get("search_options")
    if isinstance(opts, dict) and isinstance(opts.get("video"), dict) and opts["video"].get("modalities"):
        modalities = [m for m in opts["video"]["modalities"] if m in ("visual", "audio")]
        if not modalities or len(modalities) != len(opts["video"]["modalities"]):
            raise InvalidParameter("search_options.video.modalities", "Use visual and/or audio.")
    items = _filtered(item_rows, body.get("filter"))
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
            request = search.validate(search.SearchRequest(index_id=index_id, search_options=options,
                                                           query_text=text, page_limit=page_size))
            hits.extend(search.rank(platform, tenant_id, request, ids, ready=ready))
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
    effective: dict[str, Any] = {} if _excludes_videos(body.get("filter")) else {"video": {"modalities": modalities}}
    row = KnowledgeSearchRow(id=new_id(), tenant_id=tenant_id, store_id=store_id, page_size=page_size,
                             results=entries, options=effective,
                             expires_at=utcnow() + timedelta(seconds=SEARCH_TTL_SECONDS))
    with platform.store.session() as s:
        s.add(row)
    return _search_page(row.id, entries, 1, page_size, effective)


def _excludes_videos(flt: Any) -> bool:
    """Whether the search's ``filter.asset_type`` leaves videos out (``_filtered`` has checked its shape)."""
    cond = flt.get("asset_type") if isinstance(flt, dict) else None
    if not isinstance(cond, dict):
        return False
    return "video" not in set(cond.get("in") or []) | ({cond["eq"]} if cond.get("eq") is not None else set())


def _filtered(items: list[KnowledgeStoreItemRow], flt: Any) -> list[KnowledgeStoreItemRow]:
    if flt is None:
        return items
    if not isinstance(flt, dict):
        raise InvalidParameter("filter", "It must be an object.")
    for key, attr in (("asset_type", "asset_type"), ("item_id", "id")):
        cond = flt.get(key)
        if cond is None:
            continue
        if not isinstance(cond, dict):
            raise InvalidParameter(f"filter.{key}", "Use {eq: …} or {in: […]}.")
        wanted = set(cond.get("in") or []) | ({cond["eq"]} if cond.get("eq") is not None else set())
        items = [i for i in items if getattr(i, attr) in wanted]
    return items


def _search_page(search_id: str, entries: list[dict[str, Any]], page: int, size: int,
                 options: dict[str, Any]) -> dict[str, Any]:
    start = (page - 1) * size
    data = [{**e, "rank": rank} for rank, e in enumerate(entries[start:start + size], start=start + 1)]
    out: dict[str, Any] = {"data": data, "effective_search_options": options}
    if start + size < len(entries):
        out["next_page_token"] = _encode(search_id, page + 1)
    return out


def expire_search(platform: Platform, token: str) -> None:
    """Make a page token expire now (tests and operators invalidating results)."""
    search_id, _ = _decode(token)
    with platform.store.session() as s:
        row = s.get(KnowledgeSearchRow, search_id)
        if row is not None:
            row.expires_at = utcnow() - timedelta(seconds=1)
