"""Probes for load balancers and orchestrators, without a key (see `limits.ROUTES`).

* `GET /health`: liveness. The event loop answers; nothing else is looked at, and nothing is revealed.
* `GET /ready`: readiness. The platform is started, the metadata store answers a query, the blob
  directory is writable and the in-process workers (if any) are alive; 503 in the envelope otherwise.
  The answer names each check and whether it passed, never why (no paths, no exception texts).

The store check runs on its own thread with a deadline, so a probe answers even while the request
threadpool is saturated, and a hung database reads as "not ready" instead of a hung probe.
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import literal, select

router = APIRouter(tags=["health"], include_in_schema=False)

READY_TIMEOUT_SECONDS = 2.0
_probe_threads: anyio.CapacityLimiter | None = None


def _limiter() -> anyio.CapacityLimiter:
    global _probe_threads
    if _probe_threads is None:
        _probe_threads = anyio.CapacityLimiter(2)
    return _probe_threads


_NO_STORE = {"Cache-Control": "no-store"}


@router.get("/health")
async def health() -> JSONResponse:
    return JSONResponse({"status": "ok"}, headers=_NO_STORE)


def _store_answers(platform: Any) -> bool:
    with platform.store.session() as s:
        return bool(s.execute(select(literal(1))).scalar_one() == 1)


async def _check_store(platform: Any) -> bool:
    with anyio.move_on_after(READY_TIMEOUT_SECONDS):
        try:
            return await anyio.to_thread.run_sync(_store_answers, platform, limiter=_limiter(),
                                                  abandon_on_cancel=True)
        except Exception:
            return False
    return False


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    platform = getattr(request.app.state, "platform", None)
    checks: dict[str, bool] = {"platform": platform is not None}
    if platform is not None:
        checks["store"] = await _check_store(platform)
        checks["blobs"] = await anyio.to_thread.run_sync(platform.blobs.ready)
        pool = getattr(request.app.state, "worker_pool", None)
        if pool is not None:
            checks["workers"] = bool(pool.threads) and all(t.is_alive() for t in pool.threads)
    view = {name: "ok" if passed else "failing" for name, passed in checks.items()}
    if all(checks.values()):
        return JSONResponse({"status": "ready", "checks": view}, headers=_NO_STORE)
    return JSONResponse({"code": "not_ready", "message": "The server is not ready to serve requests.",
                         "checks": view}, status_code=503, headers=_NO_STORE)
