"""Request dependencies, as `Annotated` aliases so routes read like typed functions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from framedex.api.limits import TENANT_SCOPE_KEY
from framedex.domain_errors import InvalidParameter
from framedex.services import auth
from framedex.services.paging import PageRequest
from framedex.services.platform import Platform


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def get_tenant(
    request: Request, platform: PlatformDep, x_api_key: Annotated[str | None, Header(alias="x-api-key")] = None
) -> str:
    # `RequestGuard` authenticated the request before its body was read; this is what it found.
    tenant = request.scope.get(TENANT_SCOPE_KEY)
    if isinstance(tenant, str):
        return tenant
    if not platform.settings.auth_enabled:
        return auth.LOCAL_TENANT_ID
    return auth.authenticate(platform, x_api_key)


TenantDep = Annotated[str, Depends(get_tenant)]


# Past this page every list is empty anyway; beyond it the SQL OFFSET would overflow a 64-bit integer.
MAX_PAGE = 1_000_000


def get_page(page: int = 1, page_limit: int = 10) -> PageRequest:
    if page > MAX_PAGE:
        raise InvalidParameter("page", f"It must be between 1 and {MAX_PAGE}.")
    return PageRequest(page=page, page_limit=page_limit)


PageDep = Annotated[PageRequest, Depends(get_page)]
