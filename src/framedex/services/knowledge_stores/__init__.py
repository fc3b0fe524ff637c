"""Knowledge stores, their items and item collections, and knowledge-store search (reference B.17-B.19).

Each store owns a hidden index (models: Marengo with visual + audio). Adding an item indexes its asset
into that index with the ordinary ingest pipeline, so an item's status is its indexed asset's and search
is `services.search.rank` over the store's ready items: what is seen (labels, OCR), said (transcripts)
and heard. An image item is indexed as one still frame (one clip, `ctx.still` in ingest): its labels,
joint-space vector, on-screen text and faces, matched on what is seen whatever the video modalities, and
answered as an image hit (no time range). Search results are kept server-side for token paging; a token
past its expiry answers 410 (`search_page_token_expired`), an unknown or malformed one 400.

The services take typed requests (`inputs`: each built by the router from its wire body with
``from_body``, which raises the API's errors) and answer rows and small domain objects (`KnowledgeStore`,
`KnowledgeItem`, `KnowledgeCollectionRow`, `SearchPage`); `api.routers.knowledge_stores` owns the JSON.

- `inputs`: the typed requests, metadata bounds and page tokens;
- `stores`: stores, items and item collections (every call checks the same tenant/store ownership);
- `store_search`: search over a store's items and its kept, token-paged results.
"""

from __future__ import annotations

from framedex.services.knowledge_stores.inputs import (
    ITEM_KINDS,
    MAX_ITEM_IDS,
    MAX_PAGE_SIZE,
    CollectionInput,
    CollectionItems,
    CollectionUpdate,
    ItemInput,
    StoreInput,
    StoreSearchInput,
    StoreUpdate,
    check_metadata,
)
from framedex.services.knowledge_stores.store_search import (
    SEARCH_TTL_SECONDS,
    Gone,
    SearchPage,
    expire_search,
    search_store,
)
from framedex.services.knowledge_stores.stores import (
    ITEM_STATUS,
    STORE_INDEX_MODELS,
    KnowledgeItem,
    KnowledgeStore,
    add_items,
    asset_system_metadata,
    create_collection,
    create_item,
    create_store,
    delete_collection,
    delete_item,
    delete_store,
    get_collection,
    get_item,
    get_store,
    list_collection_items,
    list_collections,
    list_items,
    list_stores,
    remove_items,
    require_collection,
    require_store,
    retrieve_collection,
    retrieve_item,
    retrieve_store,
    update_collection,
    update_store,
)

__all__ = [
    "ITEM_KINDS",
    "ITEM_STATUS",
    "MAX_ITEM_IDS",
    "MAX_PAGE_SIZE",
    "SEARCH_TTL_SECONDS",
    "STORE_INDEX_MODELS",
    "CollectionInput",
    "CollectionItems",
    "CollectionUpdate",
    "Gone",
    "ItemInput",
    "KnowledgeItem",
    "KnowledgeStore",
    "SearchPage",
    "StoreInput",
    "StoreSearchInput",
    "StoreUpdate",
    "add_items",
    "asset_system_metadata",
    "check_metadata",
    "create_collection",
    "create_item",
    "create_store",
    "delete_collection",
    "delete_item",
    "delete_store",
    "expire_search",
    "get_collection",
    "get_item",
    "get_store",
    "list_collection_items",
    "list_collections",
    "list_items",
    "list_stores",
    "remove_items",
    "require_collection",
    "require_store",
    "retrieve_collection",
    "retrieve_item",
    "retrieve_store",
    "search_store",
    "update_collection",
    "update_store",
]
