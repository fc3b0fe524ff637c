"""Knowledge stores, items, item collections and knowledge-store search (reference B.17-B.19).

Bodies are read as JSON objects and turned into the typed requests of `services.knowledge_stores`
(``StoreInput.from_body`` and the like), which own the rules (metadata bounds, page sizes, tokens) so that
every error is the API's `{code, message}` envelope; the services answer rows, shaped here into the API's
JSON (`store_json`, `item_json`, `collection_json`, `search_json`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response

from framedex.api.deps import PageDep, PlatformDep, TenantDep
from framedex.api.schemas.knowledge import (
    COLLECTION_BODY,
    COLLECTION_UPDATE_BODY,
    ITEM_BODY,
    ITEM_IDS_BODY,
    STORE_BODY,
    STORE_SEARCH_BODY,
    STORE_UPDATE_BODY,
)
from framedex.ids import rfc3339
from framedex.services import knowledge_stores as ks
from framedex.services.paging import Page
from framedex.storage.tables_knowledge import KnowledgeCollectionRow

router = APIRouter(tags=["knowledge-stores"])

JsonBody = Annotated[dict[str, Any], Body()]
BASE = "/knowledge-stores/{knowledge_store_id}"


# --- the API's JSON --------------------------------------------------------------------------------------


def store_json(store: ks.KnowledgeStore) -> dict[str, Any]:
    row = store.row
    out: dict[str, Any] = {"_id": row.id, "name": row.name, "item_count": store.item_count,
                           "metadata": row.meta or {}, "created_at": rfc3339(row.created_at),
                           "updated_at": rfc3339(row.updated_at)}
    if row.description is not None:
        out["description"] = row.description
    return out


def item_json(item: ks.KnowledgeItem) -> dict[str, Any]:
    row, video, asset = item.row, item.video, item.asset
    system: dict[str, Any] = {"asset_type": row.asset_type}
    if video is not None and row.asset_type == "video":
        system.update({k: v for k, v in {"filename": video.filename, "duration": video.duration, "fps": video.fps,
                                         "width": video.width, "height": video.height,
                                         "size": video.size}.items() if v is not None})
    elif asset is not None:  # an image or a document: its asset's size and pages
        system.update(ks.asset_system_metadata(asset))
        if asset.filename:
            system["filename"] = asset.filename
    return {"_id": row.id, "asset_type": row.asset_type, "asset_id": row.asset_id, "status": item.status,
            "system_metadata": system, "metadata": row.meta or {}, "created_at": rfc3339(row.created_at),
            "updated_at": rfc3339(row.updated_at)}


def collection_json(row: KnowledgeCollectionRow) -> dict[str, Any]:
    out: dict[str, Any] = {"_id": row.id, "knowledge_store_id": row.store_id, "name": row.name,
                           "metadata": row.meta or {}, "member_count": len(row.item_ids or []),
                           "created_at": rfc3339(row.created_at), "updated_at": rfc3339(row.updated_at)}
    if row.description is not None:
        out["description"] = row.description
    return out


def search_json(page: ks.SearchPage) -> dict[str, Any]:
    data = [{**e, "rank": rank} for rank, e in enumerate(page.entries, start=page.first_rank)]
    out: dict[str, Any] = {"data": data, "effective_search_options": page.options}
    if page.next_page_token is not None:
        out["next_page_token"] = page.next_page_token
    return out


def _listed(data: list[dict[str, Any]], page: Page[Any]) -> dict[str, Any]:
    return {"data": data, "page_info": page.page_info}


def _listed_items(page: Page[ks.KnowledgeItem]) -> dict[str, Any]:
    """A page of items; its page_info keys in the order these routes have always sent them."""
    info = page.page_info
    return {"data": [item_json(i) for i in page.items],
            "page_info": {k: info[k] for k in ("page", "limit_per_page", "total_results", "total_page")}}


# --- routes ----------------------------------------------------------------------------------------------


@router.get("/knowledge-stores")
def list_stores(platform: PlatformDep, tenant: TenantDep, page: PageDep, sort_by: str | None = None,
                sort_option: str | None = None) -> dict[str, Any]:
    result = ks.list_stores(platform, tenant, page, sort_by=sort_by, sort_option=sort_option)
    return _listed([store_json(i) for i in result.items], result)


@router.post("/knowledge-stores", status_code=201, openapi_extra=STORE_BODY)
def create_store(body: JsonBody, platform: PlatformDep, tenant: TenantDep) -> dict[str, Any]:
    return store_json(ks.create_store(platform, tenant, ks.StoreInput.from_body(body)))


@router.get(BASE)
def retrieve_store(knowledge_store_id: str, platform: PlatformDep, tenant: TenantDep) -> dict[str, Any]:
    return store_json(ks.retrieve_store(platform, tenant, knowledge_store_id))


@router.patch(BASE, openapi_extra=STORE_UPDATE_BODY)
def update_store(knowledge_store_id: str, body: JsonBody, platform: PlatformDep, tenant: TenantDep) -> dict[str, Any]:
    ks.require_store(platform, tenant, knowledge_store_id)  # a missing store is reported before the body
    update = ks.StoreUpdate.from_body(body)
    return store_json(ks.update_store(platform, tenant, knowledge_store_id, update))


@router.delete(BASE, status_code=204)
def delete_store(knowledge_store_id: str, platform: PlatformDep, tenant: TenantDep) -> Response:
    ks.delete_store(platform, tenant, knowledge_store_id)
    return Response(status_code=204)


@router.post(BASE + "/search", openapi_extra=STORE_SEARCH_BODY)
def search_store(knowledge_store_id: str, body: JsonBody, platform: PlatformDep, tenant: TenantDep) -> dict[str, Any]:
    ks.require_store(platform, tenant, knowledge_store_id)  # a missing store is reported before the body
    request = ks.StoreSearchInput.from_body(body)
    return search_json(ks.search_store(platform, tenant, knowledge_store_id, request))


@router.get(BASE + "/items")
def list_items(knowledge_store_id: str, platform: PlatformDep, tenant: TenantDep, page: PageDep,
               sort_by: str | None = None, sort_option: str | None = None,
               status: Annotated[list[str] | None, Query()] = None) -> dict[str, Any]:
    return _listed_items(ks.list_items(platform, tenant, knowledge_store_id, page, sort_by=sort_by,
                                       sort_option=sort_option, status=status))


@router.post(BASE + "/items", status_code=201, openapi_extra=ITEM_BODY)
def create_item(knowledge_store_id: str, body: JsonBody, platform: PlatformDep, tenant: TenantDep) -> dict[str, Any]:
    return item_json(ks.create_item(platform, tenant, knowledge_store_id, ks.ItemInput.from_body(body)))


@router.get(BASE + "/items/{item_id}")
def retrieve_item(knowledge_store_id: str, item_id: str, platform: PlatformDep, tenant: TenantDep) -> dict[str, Any]:
    return item_json(ks.retrieve_item(platform, tenant, knowledge_store_id, item_id))


@router.delete(BASE + "/items/{item_id}", status_code=204)
def delete_item(knowledge_store_id: str, item_id: str, platform: PlatformDep, tenant: TenantDep) -> Response:
    ks.delete_item(platform, tenant, knowledge_store_id, item_id)
    return Response(status_code=204)


@router.get(BASE + "/item-collections")
def list_collections(knowledge_store_id: str, platform: PlatformDep, tenant: TenantDep, page: PageDep,
                     sort_by: str | None = None, sort_option: str | None = None) -> dict[str, Any]:
    result = ks.list_collections(platform, tenant, knowledge_store_id, page, sort_by=sort_by,
                                 sort_option=sort_option)
    return _listed([collection_json(r) for r in result.items], result)


@router.post(BASE + "/item-collections", status_code=201, openapi_extra=COLLECTION_BODY)
def create_collection(knowledge_store_id: str, body: JsonBody, platform: PlatformDep,
                      tenant: TenantDep) -> dict[str, Any]:
    new = ks.CollectionInput.from_body(body)
    return collection_json(ks.create_collection(platform, tenant, knowledge_store_id, new))


@router.get(BASE + "/item-collections/{collection_id}")
def retrieve_collection(knowledge_store_id: str, collection_id: str, platform: PlatformDep,
                        tenant: TenantDep) -> dict[str, Any]:
    return collection_json(ks.retrieve_collection(platform, tenant, knowledge_store_id, collection_id))


@router.patch(BASE + "/item-collections/{collection_id}", openapi_extra=COLLECTION_UPDATE_BODY)
def update_collection(knowledge_store_id: str, collection_id: str, body: JsonBody, platform: PlatformDep,
                      tenant: TenantDep) -> dict[str, Any]:
    # A missing store or collection is reported before the body.
    ks.require_collection(platform, tenant, knowledge_store_id, collection_id)
    update = ks.CollectionUpdate.from_body(body)
    return collection_json(ks.update_collection(platform, tenant, knowledge_store_id, collection_id, update))


@router.delete(BASE + "/item-collections/{collection_id}", status_code=204)
def delete_collection(knowledge_store_id: str, collection_id: str, platform: PlatformDep,
                      tenant: TenantDep) -> Response:
    ks.delete_collection(platform, tenant, knowledge_store_id, collection_id)
    return Response(status_code=204)


@router.get(BASE + "/item-collections/{collection_id}/items")
def list_collection_items(knowledge_store_id: str, collection_id: str, platform: PlatformDep, tenant: TenantDep,
                          page: PageDep) -> dict[str, Any]:
    return _listed_items(ks.list_collection_items(platform, tenant, knowledge_store_id, collection_id, page))


@router.post(BASE + "/item-collections/{collection_id}/items/add", openapi_extra=ITEM_IDS_BODY)
def add_items(knowledge_store_id: str, collection_id: str, body: JsonBody, platform: PlatformDep,
              tenant: TenantDep) -> dict[str, Any]:
    added = ks.CollectionItems.from_body(body)
    return collection_json(ks.add_items(platform, tenant, knowledge_store_id, collection_id, added))


@router.post(BASE + "/item-collections/{collection_id}/items/remove", status_code=204,
             openapi_extra=ITEM_IDS_BODY)
def remove_items(knowledge_store_id: str, collection_id: str, body: JsonBody, platform: PlatformDep,
                 tenant: TenantDep) -> Response:
    ks.remove_items(platform, tenant, knowledge_store_id, collection_id, ks.CollectionItems.from_body(body))
    return Response(status_code=204)
