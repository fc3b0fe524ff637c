"""Request dependencies, as `Annotated` aliases so routes read like typed functions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from framedex.services import auth
from framedex.services.paging import PageRequest
from framedex.services.platform import Platform


def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(get_platform)]


def get_tenant(
    platform: PlatformDep, x_api_key: Annotated[str | None, Header(alias="x-api-key")] = None
) -> str:
    if not platform.settings.auth_enabled:
        return auth.LOCAL_TENANT_ID
    return auth.authenticate(platform, x_api_key)


TenantDep = Annotated[str, Depends(get_tenant)]


def get_page(page: int = 1, page_limit: int = 10) -> PageRequest:
    return PageRequest(page=page, page_limit=page_limit)


PageDep = Annotated[PageRequest, Depends(get_page)]
