"""Tenants and API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from framedex.domain_errors import NotFound, Unauthorized
from framedex.ids import new_id, utcnow
from framedex.services.platform import Platform
from framedex.storage.tables import ApiKey, Tenant

KEY_PREFIX = "fdx_"
# The tenant used when the operator turns auth off (loopback only).
LOCAL_TENANT_ID = "000000000000000000000001"


@dataclass(frozen=True)
class KeyInfo:
    id: str
    name: str
    tenant_id: str
    prefix: str
    created_at: datetime
    revoked: bool


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(platform: Platform, name: str, tenant_id: str | None = None) -> tuple[str, KeyInfo]:
    """Create an API key, in a new tenant unless `tenant_id` names an existing one."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with platform.store.session() as s:
        if tenant_id is None:
            tenant = Tenant(id=new_id(), name=name)
            s.add(tenant)
            s.flush()
            tenant_id = tenant.id
        elif s.get(Tenant, tenant_id) is None:
            raise NotFound("tenant", tenant_id)
        row = ApiKey(id=new_id(), tenant_id=tenant_id, name=name, key_hash=_hash(key), prefix=key[:10])
        s.add(row)
        s.flush()
        return key, _info(row)


def _info(row: ApiKey) -> KeyInfo:
    return KeyInfo(row.id, row.name, row.tenant_id, row.prefix, row.created_at, row.revoked_at is not None)


def list_keys(platform: Platform) -> list[KeyInfo]:
    with platform.store.session() as s:
        return [_info(r) for r in s.scalars(select(ApiKey).order_by(ApiKey.created_at))]


def revoke_key(platform: Platform, key_id_or_prefix: str) -> KeyInfo:
    with platform.store.session() as s:
        row = s.get(ApiKey, key_id_or_prefix) or s.scalars(
            select(ApiKey).where(ApiKey.prefix == key_id_or_prefix)
        ).first()
        if row is None:
            raise NotFound("api key", key_id_or_prefix)
        row.revoked_at = row.revoked_at or utcnow()
        s.flush()
        return _info(row)


def authenticate(platform: Platform, key: str | None) -> str:
    """Return the tenant id of a valid, unrevoked key."""
    if not key:
        raise Unauthorized("No API key was provided. Set the x-api-key header.", code="api_key_invalid")
    digest = _hash(key)
    with platform.store.session() as s:
        row = s.scalars(select(ApiKey).where(ApiKey.key_hash == digest)).first()
        if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, digest):
            raise Unauthorized("The API key you provided is not valid.", code="api_key_invalid")
        return row.tenant_id


def ensure_local_tenant(platform: Platform) -> str:
    with platform.store.session() as s:
        if s.get(Tenant, LOCAL_TENANT_ID) is None:
            s.add(Tenant(id=LOCAL_TENANT_ID, name="local (auth disabled)"))
    return LOCAL_TENANT_ID
