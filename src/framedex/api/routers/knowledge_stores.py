"""Knowledge stores, items, item collections and knowledge-store search (reference B.17-B.19).

Bodies are read as JSON objects and checked by `services.knowledge_stores`, which owns the rules
(metadata bounds, page sizes, tokens) so that every error is the API's `{code, message}` envelope.
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
from framedex.services import knowledge_stores as ks

router = APIRouter(tags=["knowledge-stores"])

JsonBody = Annotated[dict[str, Any], Body()]
BASE = "/knowledge-stores/{knowledge_store_id}"


def _listed(result: tuple[list[dict[str, Any]], dict[str, Any]]) -> dict[str, Any]:
    data, info = result
    return {"data": data, "page_info": info}


@router.get("/knowledge-stores")
def list_stores(platform: PlatformDep, tenant: TenantDep, page: PageDep, sort_by: str | None = None,
                sort_option: str | None = None) -> dict[str, Any]:
    return _listed(ks.list_stores(platform, tenant, page, sort_by=sort_by, sort_option=sort_option))


@router.post("/knowledge-stores", status_code=201, openapi_extra=STORE_BODY)
def create_store(body: JsonBody, platform: PlatformDep, tenant: TenantDep) -> dict[str, Any]:
    return ks.create_store(platform, tenant, body)


@router.get(BASE)
def retrieve_store(knowledge_store_id: str, platform: PlatformDep, tenant: TenantDep) -> dict[str, Any]:
    return ks.retrieve_store(platform, tenant, knowledge_store_id)


@router.patch(BASE, openapi_extra=STORE_UPDATE_BODY)
def update_store(knowledge_store_id: str, body: JsonBody, platform: PlatformDep, tenant: TenantDep) -> dict[str, Any]:
    return ks.update_store(platform, tenant, knowledge_store_id, body)


@router.delete(BASE, status_code=204)
def delete_store(knowledge_store_id: str, platform: PlatformDep, tenant: TenantDep) -> Response:
    ks.delete_store(platform, tenant, knowledge_store_id)
    return Response(status_code=204)


@router.post(BASE + "/search", openapi_extra=STORE_SEARCH_BODY)
def search_store(knowledge_store_id: str, body: JsonBody, platform: PlatformDep, tenant: TenantDep) -> dict[str, Any]:
    return ks.search_store(platform, tenant, knowledge_store_id, body)


@router.get(BASE + "/items")
def list_items(knowledge_store_id: str, platform: PlatformDep, tenant: TenantDep, page: PageDep,
               sort_by: str | None = None, sort_option: str | None = None,
               status: Annotated[list[str] | None, Query()] = None) -> dict[str, Any]:
    return _listed(ks.list_items(platform, tenant, knowledge_store_id, page, sort_by=sort_by,
                                 sort_option=sort_option, status=status))


@router.post(BASE + "/items", status_code=201, openapi_extra=ITEM_BODY)
def create_item(knowledge_store_id: str, body: JsonBody, platform: PlatformDep, tenant: TenantDep) -> dict[str, Any]:
    return ks.create_item(platform, tenant, knowledge_store_id, body)


@router.get(BASE + "/items/{item_id}")
def retrieve_item(knowledge_store_id: str, item_id: str, platform: PlatformDep, tenant: TenantDep) -> dict[str, Any]:
    return ks.retrieve_item(platform, tenant, knowledge_store_id, item_id)


@router.delete(BASE + "/items/{item_id}", status_code=204)
def delete_item(knowledge_store_id: str, item_id: str, platform: PlatformDep, tenant: TenantDep) -> Response:
    ks.delete_item(platform, tenant, knowledge_store_id, item_id)
    return Response(status_code=204)


@router.get(BASE + "/item-collections")
def list_collections(knowledge_store_id: str, platform: PlatformDep, tenant: TenantDep, page: PageDep,
                     sort_by: str | None = None, sort_option: str | None = None) -> dict[str, Any]:
    return _listed(ks.list_collections(platform, tenant, knowledge_store_id, page, sort_by=sort_by,
                                       sort_option=sort_option))


@router.post(BASE + "/item-collections", status_code=201, openapi_extra=COLLECTION_BODY)
def create_collection(knowledge_store_id: str, body: JsonBody, platform: PlatformDep,
                      tenant: TenantDep) -> dict[str, Any]:
    return ks.create_collection(platform, tenant, knowledge_store_id, body)


@router.get(BASE + "/item-collections/{collection_id}")
def retrieve_collection(knowledge_store_id: str, collection_id: str, platform: PlatformDep,
                        tenant: TenantDep) -> dict[str, Any]:
    return ks.retrieve_collection(platform, tenant, knowledge_store_id, collection_id)


@router.patch(BASE + "/item-collections/{collection_id}", openapi_extra=COLLECTION_UPDATE_BODY)
def update_collection(knowledge_store_id: str, collection_id: str, body: JsonBody, platform: PlatformDep,
                      tenant: TenantDep) -> dict[str, Any]:
    return ks.update_collection(platform, tenant, knowledge_store_id, collection_id, body)


@router.delete(BASE + "/item-collections/{collection_id}", status_code=204)
def delete_collection(knowledge_store_id: str, collection_id: str, platform: PlatformDep,
                      tenant: TenantDep) -> Response:
    ks.delete_collection(platform, tenant, knowledge_store_id, collection_id)
    return Response(status_code=204)


@router.get(BASE + "/item-collections/{collection_id}/items")
def list_collection_items(knowledge_store_id: str, collection_id: str, platform: PlatformDep, tenant: TenantDep,
                          page: PageDep) -> dict[str, Any]:
    return _listed(ks.list_collection_items(platform, tenant, knowledge_store_id, collection_id, page))


@router.post(BASE + "/item-collections/{collection_id}/items/add", openapi_extra=ITEM_IDS_BODY)
def add_items(knowledge_store_id: str, collection_id: str, body: JsonBody, platform: PlatformDep,
              tenant: TenantDep) -> dict[str, Any]:
    return ks.add_items(platform, tenant, knowledge_store_id, collection_id, body)


@router.post(BASE + "/item-collections/{collection_id}/items/remove", status_code=204,
             openapi_extra=ITEM_IDS_BODY)
def remove_items(knowledge_store_id: str, collection_id: str, body: JsonBody, platform: PlatformDep,
                 tenant: TenantDep) -> Response:
    ks.remove_items(platform, tenant, knowledge_store_id, collection_id, body)
    return Response(status_code=204)
