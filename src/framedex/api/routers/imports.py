"""Imports from storage: the legacy `tasks.transfers` calls, and the 1.3.6 data connectors, which this
server does not offer (they need a third-party OAuth service) and answer with a clear 403."""

from __future__ import annotations

import re
from typing import Annotated, Any, NoReturn

from fastapi import APIRouter, Depends, Query

from framedex.api.deps import PlatformDep, TenantDep
from framedex.api.schemas.forms import json_body, obj, repeated, text
from framedex.api.schemas.imports import (
    ImportLogSchema,
    TransferImportRequest,
    TransferImportResponse,
    TransferLogsResponse,
    TransferStatusResponse,
)
from framedex.domain_errors import ServiceError
from framedex.services.imports import transfers
from framedex.services.paging import MAX_PAGE_LIMIT

router = APIRouter(tags=["imports"])


@router.post("/tasks/transfers/import/{integration_id}", response_model=TransferImportResponse)
def create_transfer(integration_id: str, body: TransferImportRequest, platform: PlatformDep,
                    tenant: TenantDep) -> TransferImportResponse:
    started = transfers.start_import(platform, tenant, integration_id, index_id=body.index_id,
                                     incremental_import=body.incremental_import, retry_failed=body.retry_failed,
                                     user_metadata=body.user_metadata)
    return TransferImportResponse.of(started)


@router.get("/tasks/transfers/import/{integration_id}/status", response_model=TransferStatusResponse)
def transfer_status(integration_id: str, platform: PlatformDep, tenant: TenantDep,
                    index_id: str | None = None) -> TransferStatusResponse:
    return TransferStatusResponse.of(transfers.import_status(platform, tenant, integration_id, index_id))


@router.get("/tasks/transfers/import/{integration_id}/logs", response_model=TransferLogsResponse)
def transfer_logs(integration_id: str, platform: PlatformDep, tenant: TenantDep,
                  page: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
                  page_limit: Annotated[int | None, Query(ge=1, le=MAX_PAGE_LIMIT)] = None) -> TransferLogsResponse:
    logs = transfers.import_logs(platform, tenant, integration_id, page=page, page_limit=page_limit)
    return TransferLogsResponse(data=[ImportLogSchema.of(entry) for entry in logs])


# --- data connectors (SDK 1.3.6 `data_connectors.*`, `imports.*`) -------------------------------------

CONNECTORS_UNSUPPORTED = (
    "Data connectors (Google Drive and other providers authorized through OAuth) need the hosted Twelve Labs "
    "service and are not available on this self-hosted server. Import from a folder or an S3-compatible bucket "
    "that the operator declared in FRAMEDEX_INTEGRATIONS with POST /tasks/transfers/import/{integration_id} "
    "(see docs/imports.md)."
)


def connectors_unsupported(_tenant: TenantDep) -> NoReturn:
    """After authentication, so an anonymous caller still gets 401 first."""
    raise ServiceError(CONNECTORS_UNSUPPORTED, code="data_connectors_not_supported", status=403)


_refused = [Depends(connectors_unsupported)]
# method, path, documented JSON body fields (the SDK's; refused all the same, but documented so that
# fuzzers and generated clients see the routes as the real API has them)
_CONNECTOR_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/connections:authorize", {"provider": text("The provider, e.g. google_drive."),
                                        "redirect_uri": text("Where the user returns after consent."),
                                        "custom_id": text("Your label for the connection.")}),
    ("GET", "/connections", None),
    ("GET", "/connections/redirect-uris", None),
    ("POST", "/connections/redirect-uris", {"redirect_uri": text("The redirect URI to register.")}),
    ("DELETE", "/connections/redirect-uris/{redirect_uri_id}", None),
    ("GET", "/connections/{connection_id}", None),
    ("DELETE", "/connections/{connection_id}", None),
    ("POST", "/connections/{connection_id}/picker-token", None),
    ("GET", "/connections/{connection_id}/imports", None),
    ("POST", "/connections/{connection_id}/imports",
     {"items": repeated(obj({"source_id": text("The provider's file id.")}, ("source_id",), title="ImportItem"),
                        "The files to import.", min_items=1, max_items=100)}),
    ("GET", "/connections/{connection_id}/imports/{import_id}", None),
]


def _never() -> None:  # the dependency always raises first
    raise AssertionError("unreachable")


def _documented(path: str, fields: dict[str, Any] | None) -> dict[str, Any]:
    """The route's path parameters and body for the OpenAPI document (the handler reads neither)."""
    extra: dict[str, Any] = {"parameters": [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", path)]}
    if fields is not None:
        extra.update(json_body(obj(fields, title="ConnectorRequest")))
    return extra


for _method, _path, _fields in _CONNECTOR_ROUTES:
    router.add_api_route(_path, _never, methods=[_method], dependencies=_refused, include_in_schema=True,
                         summary="Not available on a self-hosted server (403 data_connectors_not_supported)",
                         openapi_extra=_documented(_path, _fields))
