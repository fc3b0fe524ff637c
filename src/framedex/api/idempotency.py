"""`Idempotency-Key` on the routes where the real API reads it.

The reference names the header in one place only: `POST /analyze/tasks` ("To prevent duplicate task creation,
use an `Idempotency-Key` header"; the SDK never sends it on its own). There, `RequestGuard` calls `claim` once
the JSON body is read and checked:

* a new key: the request runs, and its answer is kept when it succeeds (2xx, at most `MAX_STORED_BODY`);
  any other outcome releases the key, so that a corrected retry with the same key runs;
* the same key with the same body (JSON compared without regard to key order or spacing) and route: the kept
  answer again, with `Idempotent-Replayed: true`; the work is not done twice;
* the same key with a different body or route: 422 `idempotency_key_mismatch`;
* the same key while its first request is still being answered: 409 `idempotency_key_in_use`, `Retry-After: 1`.

Keys are scoped per tenant (every API key of an account shares them, as the resources they create are the
account's), held by digest in the metadata store (`storage.tables_limits.IdempotencyRow`, so every API process
on one database agrees), and forgotten after `idempotency_ttl_seconds` (24 h by default). A first request
that never finished (its process died) stops blocking the key after `ABANDONED_SECONDS`.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, select, update

from framedex.ids import utcnow
from framedex.storage.tables_limits import IdempotencyRow

HEADER = "idempotency-key"
# (method, path without the /v1.3 prefix): the routes that read the header.
IDEMPOTENT: list[tuple[str, re.Pattern[str]]] = [
    ("POST", re.compile(r"/analyze/tasks")),
]
MAX_KEY_LENGTH = 255
MAX_STORED_BODY = 1024 * 1024
ABANDONED_SECONDS = 600
_KEY_CHARS = re.compile(r"[\x21-\x7e]+")  # printable ASCII without spaces
_PURGE_CHANCE = 0.05


def applies(method: str, path: str) -> bool:
    return any(want == method and pattern.fullmatch(path) for want, pattern in IDEMPOTENT)


def key_problem(key: str) -> str | None:
    """Why a header value cannot be a key, or None when it can."""
    if len(key) > MAX_KEY_LENGTH or not _KEY_CHARS.fullmatch(key):
        return f"The Idempotency-Key header must be 1 to {MAX_KEY_LENGTH} printable ASCII characters without spaces."
    return None


def fingerprint(body: bytes) -> str:
    """A digest of the request body; a JSON body is canonicalised first, so `{"a":1,"b":2}` and
    `{ "b": 2, "a": 1 }` are the same request."""
    try:
        data: Any = json.loads(body)
        canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    return hashlib.sha256(canonical).hexdigest()


def record_id(tenant: str, key: str) -> str:
    return f"{tenant}:{hashlib.sha256(key.encode()).hexdigest()}"


@dataclass(frozen=True)
class Claim:
    outcome: Literal["run", "replay", "mismatch", "in_progress"]
    record: str
    status: int = 0
    content_type: str = "application/json"
    body: bytes = b""
    created_at: datetime | None = None  # of the record this request owns ("run")


def _dialect(store: Any) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql if store.dialect == "postgresql" else sqlite


def claim(store: Any, tenant: str, key: str, route: str, body_hash: str, ttl_seconds: int,
          now: datetime | None = None) -> Claim:
    """Take the key for this request, or say what to answer instead (blocking: call it from a worker thread)."""
    now = now or utcnow()
    rid = record_id(tenant, key)
    if random.random() < _PURGE_CHANCE:
        with store.session() as s:
            s.execute(delete(IdempotencyRow).where(IdempotencyRow.created_at < now - timedelta(seconds=ttl_seconds)))
    for _ in range(3):
        stmt = _dialect(store).insert(IdempotencyRow).values(
            id=rid, route=route, body_hash=body_hash, status=0, content_type="", body=b"", created_at=now)
        with store.session() as s:
            inserted = s.execute(stmt.on_conflict_do_nothing(index_elements=[IdempotencyRow.id])
                                 .returning(IdempotencyRow.id)).first()
        if inserted is not None:
            return Claim("run", rid, created_at=now)
        with store.session() as s:
            row = s.get(IdempotencyRow, rid)
            if row is None:
                continue  # released or purged in between: try to insert again
            expired = row.created_at < now - timedelta(seconds=ttl_seconds)
            abandoned = row.status == 0 and row.created_at < now - timedelta(seconds=ABANDONED_SECONDS)
            if expired or abandoned:
                # Take the record over, unless another request just did (compare-and-set on created_at).
                taken = s.execute(update(IdempotencyRow)
                                  .where(IdempotencyRow.id == rid, IdempotencyRow.created_at == row.created_at)
                                  .values(route=route, body_hash=body_hash, status=0, content_type="", body=b"",
                                          created_at=now))
                if getattr(taken, "rowcount", 0) == 1:
                    return Claim("run", rid, created_at=now)
                continue
            if row.route != route or row.body_hash != body_hash:
                return Claim("mismatch", rid)
            if row.status == 0:
                return Claim("in_progress", rid)
            return Claim("replay", rid, status=row.status, content_type=row.content_type, body=bytes(row.body))
    return Claim("in_progress", rid)


def finish(store: Any, claimed: Claim, status: int, content_type: str, body: bytes) -> None:
    """Keep the answer of the request that owns `claimed`."""
    with store.session() as s:
        s.execute(update(IdempotencyRow)
                  .where(IdempotencyRow.id == claimed.record, IdempotencyRow.created_at == claimed.created_at)
                  .values(status=status, content_type=content_type[:200], body=body))


def release(store: Any, claimed: Claim) -> None:
    """Forget the key of a request that did not succeed, so that a retry with the same key runs."""
    with store.session() as s:
        s.execute(delete(IdempotencyRow).where(IdempotencyRow.id == claimed.record,
                                               IdempotencyRow.created_at == claimed.created_at,
                                               IdempotencyRow.status == 0))


def lookup(store: Any, tenant: str, key: str) -> IdempotencyRow | None:
    """The record of a key (for tests and operators)."""
    with store.session() as s:
        row: IdempotencyRow | None = s.scalars(select(IdempotencyRow)
                                               .where(IdempotencyRow.id == record_id(tenant, key))).first()
        if row is not None:
            s.expunge(row)
        return row
