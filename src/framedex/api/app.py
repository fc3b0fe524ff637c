"""The FastAPI app factory. The API is served at `/v1.3/...` and at the root, as the SDK may use either."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from framedex._version import __version__
from framedex.api.access_log import AccessLog
from framedex.api.errors import install_error_handlers
from framedex.api.limits import RequestGuard, WorkPool
from framedex.api.routers import ROUTERS, health, imports, media
from framedex.api.routers import knowledge_stores as knowledge_stores_router
from framedex.api.routers import playground as playground_router
from framedex.api.routers import responses as responses_router
from framedex.config import Settings
from framedex.jobs.worker import WorkerPool
from framedex.platform import Platform
from framedex.services import auth

log = logging.getLogger("framedex.api")

API_PREFIX = "/v1.3"


def create_app(settings: Settings, *, start_workers: bool = True, playground: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        platform = Platform(settings)
        # Take the embedded vector index now: it belongs to one process, and a second one must
        # fail at start-up with a clear message rather than on its first search.
        platform.warm_up()
        if not settings.auth_enabled:
            auth.ensure_local_tenant(platform)
        app.state.platform = platform
        # Sync analysis (which may wait minutes for a video to be indexed, then for the model) runs on these
        # threads, never on the request threadpool that every other route and the key check share.
        app.state.analysis_pool = WorkPool("analysis", settings.analysis_threads, settings.analysis_queue)
        pool: WorkerPool | None = None
        if start_workers and settings.workers > 0:
            from framedex.platform import start_worker_pool

            pool = start_worker_pool(platform, settings.workers)
        app.state.worker_pool = pool  # for /ready
        try:
            yield
        finally:
            if pool is not None:
                pool.stop()
            platform.close()

    # With the docs off the routes do not exist at all (404), rather than answering 401 to a key check.
    docs: dict[str, str | None] = {} if settings.api_docs else {"docs_url": None, "redoc_url": None,
                                                                 "openapi_url": None}
    app = FastAPI(
        title="framedex", version=__version__, lifespan=lifespan,
        description="Self-hosted video understanding with the Twelve Labs v1.3 API.", **docs,  # type: ignore[arg-type]
    )
    install_error_handlers(app)
    # Authenticate from the headers and cap the body per route before any handler reads it.
    app.add_middleware(RequestGuard)
    # Outermost, so that every answer is logged, the guard's refusals included.
    app.add_middleware(AccessLog)
    api = APIRouter()
    for router in ROUTERS:
        api.include_router(router)
    api.include_router(media.router)
    api.include_router(responses_router.router)
    api.include_router(knowledge_stores_router.router)
    api.include_router(imports.router)
    app.include_router(api, prefix=API_PREFIX)
    app.include_router(api, include_in_schema=False)
    app.include_router(health.router)
    app.include_router(health.router, prefix=API_PREFIX)
    if playground:
        app.include_router(playground_router.router)
    return app
