"""Knowledge stores, their items and item collections (reference B.17-B.18): the resource tree every call
walks with the same tenant/store ownership checks.

The services take the checked requests of `inputs` and answer rows: a store with its item count
(`KnowledgeStore`), an item with its indexed asset and asset (`KnowledgeItem`, whose `status` is the API's),
a collection's `KnowledgeCollectionRow`; the router shapes them into the API's JSON.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from framedex.domain_errors import InvalidParameter, NotFound
from framedex.ids import is_id, new_id, utcnow
from framedex.services import assets as asset_service
from framedex.services import indexes, videos
from framedex.services.knowledge_stores.inputs import (
    ITEM_KINDS,
    CollectionInput,
    CollectionItems,
    CollectionUpdate,
    ItemInput,
    StoreInput,
    StoreUpdate,
)
from framedex.services.paging import Page, PageRequest, order_by_field, paginate, paginate_list
from framedex.services.platform import Platform
from framedex.storage.tables import AssetRow, IndexedAssetRow
from framedex.storage.tables_knowledge import (
    KnowledgeCollectionRow,
    KnowledgeStoreItemRow,
    KnowledgeStoreRow,
)

STORE_INDEX_MODELS = [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]
# Ingest statuses → item statuses of the API.
ITEM_STATUS = {"pending": "pending", "validating": "pending", "queued": "queued", "indexing": "processing",
               "ready": "ready", "failed": "failed"}


@dataclass(frozen=True)
class KnowledgeStore:
    """A store and how many items it holds."""

    row: KnowledgeStoreRow
    item_count: int


@dataclass(frozen=True)
class KnowledgeItem:
    """An item, its indexed asset in the store's hidden index (None for an item from before images were
    indexed) and its asset."""

    row: KnowledgeStoreItemRow
    video: IndexedAssetRow | None
    asset: AssetRow | None

    @property
    def status(self) -> str:
        """The API's status: its indexed asset's, else (an image or document without one) its asset's."""
        if self.video is not None:
            return ITEM_STATUS.get(self.video.status, "processing")
        return "failed" if self.asset is not None and self.asset.status == "failed" else "ready"


def _sorted(query: Any, column_owner: Any, sort_by: str | None, sort_option: str | None) -> Any:
    return order_by_field(query, column_owner, sort_by, sort_option, fields=("created_at", "updated_at"),
                          fields_hint="Use created_at or updated_at.")


# --- stores ----------------------------------------------------------------------------------------------


def get_store(s: Any, tenant_id: str, store_id: str) -> KnowledgeStoreRow:
    row = s.get(KnowledgeStoreRow, store_id) if is_id(store_id) else None
    if row is None or row.tenant_id != tenant_id:
        raise NotFound("knowledge store", store_id)
    return row


def require_store(platform: Platform, tenant_id: str, store_id: str) -> None:
    """404 unless the tenant has the store: routes whose store is looked up before their body is checked."""
    with platform.store.session() as s:
        get_store(s, tenant_id, store_id)


def _counts(s: Any, store_ids: list[str]) -> dict[str, int]:
    rows = s.execute(select(KnowledgeStoreItemRow.store_id, func.count())
                     .where(KnowledgeStoreItemRow.store_id.in_(store_ids))
                     .group_by(KnowledgeStoreItemRow.store_id)).all()
    found = {r[0]: int(r[1]) for r in rows}
    return {i: found.get(i, 0) for i in store_ids}


def _with_count(s: Any, row: KnowledgeStoreRow) -> KnowledgeStore:
    return KnowledgeStore(row, _counts(s, [row.id])[row.id])


def create_store(platform: Platform, tenant_id: str, new: StoreInput) -> KnowledgeStore:
    store_id = new_id()
    index = indexes.create(platform, tenant_id, name=f"framedex-knowledge-store-{store_id}",
                           models=STORE_INDEX_MODELS, hidden=True)
    row = KnowledgeStoreRow(id=store_id, tenant_id=tenant_id, name=new.name, description=new.description,
                            meta=new.metadata, index_id=index.id)
    with platform.store.session() as s:
        s.add(row)
    return KnowledgeStore(row, 0)


def list_stores(platform: Platform, tenant_id: str, page: PageRequest, *, sort_by: str | None = None,
                sort_option: str | None = None) -> Page[KnowledgeStore]:
    with platform.store.session() as s:
        query = _sorted(select(KnowledgeStoreRow).where(KnowledgeStoreRow.tenant_id == tenant_id),
                        KnowledgeStoreRow, sort_by, sort_option)
        result: Page[KnowledgeStoreRow] = paginate(s, query, page)
        counts = _counts(s, [r.id for r in result.items])
        return Page([KnowledgeStore(r, counts[r.id]) for r in result.items], result.request, result.total)


def retrieve_store(platform: Platform, tenant_id: str, store_id: str) -> KnowledgeStore:
    with platform.store.session() as s:
        return _with_count(s, get_store(s, tenant_id, store_id))


def update_store(platform: Platform, tenant_id: str, store_id: str, update: StoreUpdate) -> KnowledgeStore:
    with platform.store.session() as s:
        row = get_store(s, tenant_id, store_id)
        if update.name is not None:
            row.name = update.name
        if update.description is not None:
            row.description = update.description
        if update.metadata is not None:
            row.meta = update.metadata  # replaces in full
        row.updated_at = utcnow()
        s.flush()
        return _with_count(s, row)


def delete_store(platform: Platform, tenant_id: str, store_id: str) -> None:
    with platform.store.session() as s:
        row = get_store(s, tenant_id, store_id)
        index_id = row.index_id
        s.delete(row)
    # The hidden index takes its indexed assets, vectors and lexical entries with it.
    with contextlib.suppress(NotFound):
        indexes.delete_index(platform, tenant_id, index_id)


# --- items -----------------------------------------------------------------------------------------------


def asset_system_metadata(asset: AssetRow | None) -> dict[str, Any]:
    """The system metadata of an image or document item (and of its search hits)."""
    meta = (asset.system_metadata or {}) if asset is not None else {}
    return {k: meta[k] for k in ("width", "height", "size", "document_page_count") if meta.get(k) is not None}


def _items(s: Any, items: list[KnowledgeStoreItemRow]) -> list[KnowledgeItem]:
    return [KnowledgeItem(item, s.get(IndexedAssetRow, item.video_id) if item.video_id else None,
                          s.get(AssetRow, item.asset_id)) for item in items]


def get_item(s: Any, tenant_id: str, store_id: str, item_id: str) -> KnowledgeStoreItemRow:
    get_store(s, tenant_id, store_id)
    row = s.get(KnowledgeStoreItemRow, item_id) if is_id(item_id) else None
    if row is None or row.store_id != store_id:
        raise NotFound("knowledge store item", item_id)
    return row


def create_item(platform: Platform, tenant_id: str, store_id: str, new: ItemInput) -> KnowledgeItem:
    with platform.store.session() as s:
        store = get_store(s, tenant_id, store_id)
        asset = asset_service.get_asset(s, tenant_id, new.asset_id)
        # A document only when asked for: the official SDK cannot parse a document item or hit (closed unions).
        kind = new.asset_type or ("image" if asset.file_type == "image" else "video")
        if kind not in ITEM_KINDS:
            raise InvalidParameter("asset_type", "Use video, image or document.")
        if asset.file_type not in (None, kind):
            raise InvalidParameter("asset_type", f"The asset is a {asset.file_type}, not a {kind}.")
        index_id = store.index_id
    video_id = videos.index_asset(platform, tenant_id, index_id, new.asset_id, kinds=(kind,)).id
    item = KnowledgeStoreItemRow(id=new_id(), tenant_id=tenant_id, store_id=store_id, asset_id=new.asset_id,
                                 asset_type=kind, video_id=video_id, meta=new.metadata)
    with platform.store.session() as s:
        s.add(item)
        s.flush()
        return _items(s, [item])[0]


def list_items(platform: Platform, tenant_id: str, store_id: str, page: PageRequest, *, sort_by: str | None = None,
               sort_option: str | None = None, status: list[str] | None = None) -> Page[KnowledgeItem]:
    with platform.store.session() as s:
        get_store(s, tenant_id, store_id)
        rows = list(s.scalars(_sorted(select(KnowledgeStoreItemRow).where(KnowledgeStoreItemRow.store_id == store_id),
                                      KnowledgeStoreItemRow, sort_by, sort_option)))
        items = _items(s, rows)
    if status:
        items = [i for i in items if i.status in status]
    return paginate_list(items, page)


def retrieve_item(platform: Platform, tenant_id: str, store_id: str, item_id: str) -> KnowledgeItem:
    with platform.store.session() as s:
        return _items(s, [get_item(s, tenant_id, store_id, item_id)])[0]


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


def get_collection(s: Any, tenant_id: str, store_id: str, collection_id: str) -> KnowledgeCollectionRow:
    get_store(s, tenant_id, store_id)
    row = s.get(KnowledgeCollectionRow, collection_id) if is_id(collection_id) else None
    if row is None or row.store_id != store_id:
        raise NotFound("item collection", collection_id)
    return row


def require_collection(platform: Platform, tenant_id: str, store_id: str, collection_id: str) -> None:
    """404 unless the tenant's store has the collection (see `require_store`)."""
    with platform.store.session() as s:
        get_collection(s, tenant_id, store_id, collection_id)


def create_collection(platform: Platform, tenant_id: str, store_id: str,
                      new: CollectionInput) -> KnowledgeCollectionRow:
    with platform.store.session() as s:
        get_store(s, tenant_id, store_id)
        row = KnowledgeCollectionRow(id=new_id(), tenant_id=tenant_id, store_id=store_id, name=new.name,
                                     description=new.description, meta=new.metadata, item_ids=[])
        s.add(row)
        s.flush()
        return row


def list_collections(platform: Platform, tenant_id: str, store_id: str, page: PageRequest, *,
                     sort_by: str | None = None, sort_option: str | None = None) -> Page[KnowledgeCollectionRow]:
    with platform.store.session() as s:
        get_store(s, tenant_id, store_id)
        query = _sorted(select(KnowledgeCollectionRow).where(KnowledgeCollectionRow.store_id == store_id),
                        KnowledgeCollectionRow, sort_by, sort_option)
        result: Page[KnowledgeCollectionRow] = paginate(s, query, page)
        return result


def retrieve_collection(platform: Platform, tenant_id: str, store_id: str,
                        collection_id: str) -> KnowledgeCollectionRow:
    with platform.store.session() as s:
        return get_collection(s, tenant_id, store_id, collection_id)


def update_collection(platform: Platform, tenant_id: str, store_id: str, collection_id: str,
                      update: CollectionUpdate) -> KnowledgeCollectionRow:
    with platform.store.session() as s:
        row = get_collection(s, tenant_id, store_id, collection_id)
        if update.name is not None:
            row.name = update.name
        if update.description is not None:
            row.description = update.description
        if update.metadata is not None:
            row.meta = update.metadata
        row.updated_at = utcnow()
        s.flush()
        return row


def delete_collection(platform: Platform, tenant_id: str, store_id: str, collection_id: str) -> None:
    with platform.store.session() as s:
        s.delete(get_collection(s, tenant_id, store_id, collection_id))


def add_items(platform: Platform, tenant_id: str, store_id: str, collection_id: str,
              added: CollectionItems) -> KnowledgeCollectionRow:
    with platform.store.session() as s:
        row = get_collection(s, tenant_id, store_id, collection_id)
        for item_id in added.item_ids:
            get_item(s, tenant_id, store_id, item_id)  # only the store's own items
        row.item_ids = list(dict.fromkeys([*row.item_ids, *added.item_ids]))
        row.updated_at = utcnow()
        s.flush()
        return row


def remove_items(platform: Platform, tenant_id: str, store_id: str, collection_id: str,
                 removed: CollectionItems) -> None:
    ids = set(removed.item_ids)
    with platform.store.session() as s:
        row = get_collection(s, tenant_id, store_id, collection_id)
        row.item_ids = [i for i in row.item_ids if i not in ids]
        row.updated_at = utcnow()


def list_collection_items(platform: Platform, tenant_id: str, store_id: str, collection_id: str,
                          page: PageRequest) -> Page[KnowledgeItem]:
    with platform.store.session() as s:
        row = get_collection(s, tenant_id, store_id, collection_id)
        items = [i for i in (s.get(KnowledgeStoreItemRow, x) for x in row.item_ids) if i is not None]
        return paginate_list(_items(s, items), page)
