"""Per-key rate limits of the endpoints the real API marks rate-limited (reference A.5: `/search`, `/analyze`,
`/analyze/batches`, `/embed-v2`, `/embed-v2/tasks`, `/knowledge-stores/{id}/search`).

`RequestGuard` calls `check` once a request is authenticated and before its body is read, so a refused request
costs one small database write. Each (API key, route) has one fixed window of `rate_limit_window_seconds`,
kept as one row of the metadata store (`storage.tables_limits.RateWindowRow`) and counted by one atomic
`INSERT … ON CONFLICT DO UPDATE … RETURNING`: every API process on one database shares the counters, and two
concurrent requests can never both take the last slot.

Every answer of a rate-limited route carries `X-Ratelimit-Limit`, `X-Ratelimit-Remaining`,
`X-Ratelimit-Used` and `X-Ratelimit-Reset` (Unix seconds when the window ends), the headers of the real API's
rate-limit page; a refusal is 429 `too_many_requests` with `Retry-After` in seconds (the official SDK honours
it up to 30 s when the caller enables retries).
"""

from __future__ import annotations

import hashlib
import math
import re
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case

from framedex.config import Settings
from framedex.storage.tables_limits import RateWindowRow

# (method, path without the /v1.3 prefix, the Settings field that holds its limit)
RATE_LIMITED: list[tuple[str, re.Pattern[str], str]] = [
    ("POST", re.compile(r"/search"), "rate_limit_search"),
    ("POST", re.compile(r"/analyze"), "rate_limit_analyze"),
    ("POST", re.compile(r"/analyze/batches"), "rate_limit_analyze_batches"),
    ("POST", re.compile(r"/embed-v2"), "rate_limit_embed_v2"),
    ("POST", re.compile(r"/embed-v2/tasks"), "rate_limit_embed_v2_tasks"),
    ("POST", re.compile(r"/knowledge-stores/[^/]+/search"), "rate_limit_knowledge_search"),
]


@dataclass(frozen=True)
class RateLimit:
    route: str  # the settings field: also names the counter, so two paths of one route share it
    limit: int
    window: int


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    limit: int
    used: int
    reset: int  # Unix seconds at which the window ends

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    def retry_after(self, now: float | None = None) -> int:
        return max(1, math.ceil(self.reset - (time.time() if now is None else now)))

    def headers(self) -> list[tuple[bytes, bytes]]:
        return [(b"x-ratelimit-limit", str(self.limit).encode()),
                (b"x-ratelimit-remaining", str(self.remaining).encode()),
                (b"x-ratelimit-used", str(min(self.used, self.limit)).encode()),
                (b"x-ratelimit-reset", str(self.reset).encode())]


def limit_for(method: str, path: str, settings: Settings) -> RateLimit | None:
    """The rate limit of a route (`path` without the API prefix), or None when it has none or it is off."""
    for want, pattern, field in RATE_LIMITED:
        if want == method and pattern.fullmatch(path):
            limit = int(getattr(settings, field))
            return RateLimit(field, limit, settings.rate_limit_window_seconds) if limit > 0 else None
    return None


def key_identity(api_key: str, tenant: str) -> str:
    """Whom a limit counts: the API key (limits are per key, as the real API's), by digest so that no key is
    stored; the tenant when the server runs without keys."""
    if not api_key:
        return "tenant-" + tenant
    return hashlib.sha256(api_key.encode()).hexdigest()[:40]


def check(store: Any, who: str, rate: RateLimit, now: float | None = None) -> Verdict:
    """Count one request of `who` on `rate.route` and say whether it is within the limit (blocking: call it
    from a worker thread)."""
    now = time.time() if now is None else now
    start = int(now // rate.window) * rate.window
    from sqlalchemy.dialects import postgresql, sqlite

    dialect: Any = postgresql if store.dialect == "postgresql" else sqlite
    row = RateWindowRow
    stmt = dialect.insert(row).values(bucket=f"{who}:{rate.route}", window_start=start, count=1)
    newer = stmt.excluded.window_start > row.window_start
    # Every SET expression reads the row as it was, so `newer` means the same in both.
    upsert = stmt.on_conflict_do_update(
        index_elements=[row.bucket],
        set_={"count": case((newer, 1), else_=row.count + 1),
              "window_start": case((newer, stmt.excluded.window_start), else_=row.window_start)},
    ).returning(row.count, row.window_start)
    with store.session() as s:
        count, window_start = s.execute(upsert).one()
    return Verdict(allowed=count <= rate.limit, limit=rate.limit, used=int(count),
                   reset=int(window_start) + rate.window)
