"""Entity collections and entities (reference B.15-B.16), and `GET /assets/{asset_id}/entities`."""

from __future__ import annotations

from fastapi import APIRouter, Response

from framedex.api.deps import PageDep, PlatformDep, TenantDep
from framedex.api.schemas.common import PagedResponse, PageInfo
from framedex.api.schemas.entities import (
    BulkCreateEntityResponse,
    BulkEntity,
    BulkError,
    Entity,
    EntityAssets,
    EntityBulkCreate,
    EntityCollection,
    EntityCollectionCreate,
    EntityCollectionUpdate,
    EntityCreate,
    EntityUpdate,
)
from framedex.services import entities
from framedex.services.entities import NewEntities, NewEntity

router = APIRouter(tags=["entities"])


@router.post("/entity-collections", status_code=201, response_model=EntityCollection)
def create_collection(body: EntityCollectionCreate, platform: PlatformDep, tenant: TenantDep) -> EntityCollection:
    return EntityCollection.of(entities.create_collection(platform, tenant, name=body.name,
                                                          description=body.description))


@router.get("/entity-collections", response_model=PagedResponse[EntityCollection])
def list_collections(platform: PlatformDep, tenant: TenantDep, page: PageDep, name: str | None = None,
                     sort_by: str | None = None, sort_option: str | None = None) -> PagedResponse[EntityCollection]:
    result = entities.list_collections(platform, tenant, page, name=name, sort_by=sort_by, sort_option=sort_option)
    return PagedResponse[EntityCollection](data=[EntityCollection.of(r) for r in result.items],
                                           page_info=PageInfo(**result.page_info))


@router.get("/entity-collections/{collection_id}", response_model=EntityCollection)
def retrieve_collection(collection_id: str, platform: PlatformDep, tenant: TenantDep) -> EntityCollection:
    return EntityCollection.of(entities.retrieve_collection(platform, tenant, collection_id))


@router.patch("/entity-collections/{collection_id}", response_model=EntityCollection)
def update_collection(collection_id: str, body: EntityCollectionUpdate, platform: PlatformDep,
                      tenant: TenantDep) -> EntityCollection:
    return EntityCollection.of(entities.update_collection(platform, tenant, collection_id, name=body.name,
                                                          description=body.description))


@router.delete("/entity-collections/{collection_id}", status_code=204)
def delete_collection(collection_id: str, platform: PlatformDep, tenant: TenantDep) -> Response:
    entities.delete_collection(platform, tenant, collection_id)
    return Response(status_code=204)


@router.post("/entity-collections/{collection_id}/entities/bulk", status_code=201,
             response_model=BulkCreateEntityResponse)
def create_entities_bulk(collection_id: str, body: EntityBulkCreate, platform: PlatformDep,
                         tenant: TenantDep) -> BulkCreateEntityResponse:
    result = entities.create_bulk(platform, tenant, collection_id, NewEntities.from_body(body.entities))
    return BulkCreateEntityResponse(
        success_count=len(result.entities), failed_count=len(result.errors),
        entities=[BulkEntity(id=e.id, name=e.name, status=e.status) for e in result.entities],
        errors=[BulkError(entity_index=e.index, entity_name=e.name, error_reason=e.reason) for e in result.errors],
    )


@router.post("/entity-collections/{collection_id}/entities", status_code=201, response_model=Entity)
def create_entity(collection_id: str, body: EntityCreate, platform: PlatformDep, tenant: TenantDep) -> Entity:
    return Entity.of(entities.create_entity(platform, tenant, collection_id, NewEntity.from_body(body.model_dump())))


@router.get("/entity-collections/{collection_id}/entities", response_model=PagedResponse[Entity])
def list_entities(collection_id: str, platform: PlatformDep, tenant: TenantDep, page: PageDep,
                  name: str | None = None, status: str | None = None, sort_by: str | None = None,
                  sort_option: str | None = None) -> PagedResponse[Entity]:
    result = entities.list_entities(platform, tenant, collection_id, page, name=name, status=status,
                                    sort_by=sort_by, sort_option=sort_option)
    return PagedResponse[Entity](data=[Entity.of(r) for r in result.items], page_info=PageInfo(**result.page_info))


@router.get("/entity-collections/{collection_id}/entities/{entity_id}", response_model=Entity)
def retrieve_entity(collection_id: str, entity_id: str, platform: PlatformDep, tenant: TenantDep) -> Entity:
    return Entity.of(entities.retrieve_entity(platform, tenant, collection_id, entity_id))


@router.patch("/entity-collections/{collection_id}/entities/{entity_id}", response_model=Entity)
def update_entity(collection_id: str, entity_id: str, body: EntityUpdate, platform: PlatformDep,
                  tenant: TenantDep) -> Entity:
    return Entity.of(entities.update_entity(platform, tenant, collection_id, entity_id, name=body.name,
                                            description=body.description, metadata=body.metadata))


@router.delete("/entity-collections/{collection_id}/entities/{entity_id}", status_code=204)
def delete_entity(collection_id: str, entity_id: str, platform: PlatformDep, tenant: TenantDep) -> Response:
    entities.delete_entity(platform, tenant, collection_id, entity_id)
    return Response(status_code=204)


@router.post("/entity-collections/{collection_id}/entities/{entity_id}/assets", response_model=Entity)
def add_entity_assets(collection_id: str, entity_id: str, body: EntityAssets, platform: PlatformDep,
                      tenant: TenantDep) -> Entity:
    return Entity.of(entities.add_assets(platform, tenant, collection_id, entity_id, body.asset_ids))


@router.delete("/entity-collections/{collection_id}/entities/{entity_id}/assets", response_model=Entity)
def remove_entity_assets(collection_id: str, entity_id: str, body: EntityAssets, platform: PlatformDep,
                         tenant: TenantDep) -> Entity:
    return Entity.of(entities.remove_assets(platform, tenant, collection_id, entity_id, body.asset_ids))


@router.get("/assets/{asset_id}/entities", response_model=PagedResponse[Entity])
def list_entities_by_asset(asset_id: str, platform: PlatformDep, tenant: TenantDep,
                           page: PageDep) -> PagedResponse[Entity]:
    result = entities.list_by_asset(platform, tenant, asset_id, page)
    return PagedResponse[Entity](data=[Entity.of(r) for r in result.items], page_info=PageInfo(**result.page_info))
