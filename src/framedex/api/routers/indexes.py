from __future__ import annotations

from fastapi import APIRouter, Response

from framedex.api.deps import PageDep, PlatformDep, TenantDep
from framedex.api.schemas.common import PagedResponse, PageInfo
from framedex.api.schemas.indexes import IndexCreate, IndexSchema, IndexUpdate
from framedex.services import indexes

router = APIRouter(tags=["indexes"])


@router.post("/indexes", status_code=201, response_model=IndexSchema)
def create_index(body: IndexCreate, platform: PlatformDep, tenant: TenantDep) -> IndexSchema:
    row = indexes.create(platform, tenant, name=body.index_name, models=body.models, addons=body.addons)
    # The whole index, not only `_id` as the SDK's schema says: older clients read `index.index_name` and
    # `index.models` right after creating it.
    return IndexSchema.of(row, indexes.IndexStats(video_count=0, total_duration=0.0))


@router.get("/indexes", response_model=PagedResponse[IndexSchema])
def list_indexes(
    platform: PlatformDep, tenant: TenantDep, page: PageDep, sort_by: str = "created_at",
    sort_option: str = "desc", index_name: str | None = None, model_options: str | None = None,
    model_family: str | None = None, created_at: str | None = None, updated_at: str | None = None,
) -> PagedResponse[IndexSchema]:
    result, stats = indexes.list_indexes(
        platform, tenant, page, sort_by=sort_by, sort_option=sort_option, index_name=index_name,
        model_options=model_options, model_family_filter=model_family, created_at=created_at,
        updated_at=updated_at,
    )
    return PagedResponse[IndexSchema](
        data=[IndexSchema.of(r, stats[r.id]) for r in result.items], page_info=PageInfo(**result.page_info)
    )


@router.get("/indexes/{index_id}", response_model=IndexSchema)
def retrieve_index(index_id: str, platform: PlatformDep, tenant: TenantDep) -> IndexSchema:
    row, stats = indexes.retrieve(platform, tenant, index_id)
    return IndexSchema.of(row, stats)


@router.put("/indexes/{index_id}", status_code=204)
def update_index(index_id: str, body: IndexUpdate, platform: PlatformDep, tenant: TenantDep) -> Response:
    indexes.rename(platform, tenant, index_id, body.index_name)
    return Response(status_code=204)


@router.delete("/indexes/{index_id}", status_code=204)
def delete_index(index_id: str, platform: PlatformDep, tenant: TenantDep) -> Response:
    indexes.delete_index(platform, tenant, index_id)
    return Response(status_code=204)
