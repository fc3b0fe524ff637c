"""Analysis: ``/analyze`` (sync or NDJSON stream), ``/analyze/tasks``, ``/analyze/batches``, and the older
``/summarize``, ``/gist`` and ``/generate``.

The sync analyses may wait minutes (for a url/base64 video to be indexed, then for a turn on the model), so
they are ``async`` routes that run their blocking work on the app's analysis pool (``limits.WorkPool``):
bounded threads of their own with a bounded queue, answering 429 when both are full, instead of pinning
the request threadpool that every other route shares (security review #6). The work runs in the caller's
tenant's turn (``analysis.as_tenant``), so the model takes tenants' requests in fair turns.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from framedex.api import json_limits
from framedex.api.deps import PageDep, PlatformDep, TenantDep
from framedex.api.limits import WorkPool
from framedex.api.schemas.analyze import (
    AnalyzeRequest,
    AnalyzeResponse,
    AnalyzeTaskCanceled,
    AnalyzeTaskCreate,
    AnalyzeTaskCreated,
    AnalyzeTaskList,
    AnalyzeTaskResponse,
    BatchCreate,
    BatchCreated,
    BatchList,
    BatchStatus,
    GistRequest,
    GistResponse,
    SummarizeRequest,
    SummarizeResponse,
    ndjson_events,
)
from framedex.api.schemas.common import PageInfo
from framedex.services import analysis
from framedex.services.analysis import tasks as analysis_tasks

router = APIRouter(tags=["analyze"])

NDJSON = "application/x-ndjson"


def _bounded(body: dict[str, Any]) -> dict[str, Any]:
    """Check the response_format schemas of a request (and of a batch's defaults and items) for size
    before the service sees them: the service builds a schema's minimal instance and runs its patterns."""
    json_limits.check_response_format(body.get("response_format"))
    defaults = body.get("defaults")
    if isinstance(defaults, dict):
        json_limits.check_response_format(defaults.get("response_format"), "defaults.response_format")
    requests = body.get("requests")
    if isinstance(requests, list):
        for i, item in enumerate(requests):
            if isinstance(item, dict):
                json_limits.check_response_format(item.get("response_format"), f"requests[{i}].response_format")
    return body


def _pool(request: Request) -> WorkPool:
    pool: WorkPool = request.app.state.analysis_pool
    return pool


async def _stream(request: Request, tenant: str, run: analysis.Analysis) -> StreamingResponse:
    """The NDJSON stream, read on an analysis thread. The pool admits the stream once, for its whole length
    (it holds a thread while it waits for the model); a full pool answers 429 before the stream starts."""
    pool = _pool(request)
    pool.admit()
    # `stream()` generates on a thread of its own, which does not inherit this context: name the tenant there.
    run.run = analysis.as_tenant(tenant, run.run)  # type: ignore[method-assign]
    lines: Iterator[str] = ndjson_events(run)
    done = object()

    async def relay() -> AsyncGenerator[str, None]:
        try:
            while True:
                line = await anyio.to_thread.run_sync(next, lines, done, limiter=pool.limiter)
                if line is done:
                    return
                yield str(line)
        finally:
            pool.leave()
            close = getattr(lines, "close", None)
            if close is not None:  # the client went away: stop the generation (`Analysis.stream` sets its stop flag)
                await anyio.to_thread.run_sync(close, limiter=pool.limiter)

    # Start the relay here (its first line, `stream_start`, comes at once): a started generator's `finally`
    # runs however the response ends, even if it is never iterated, so the pool's slot is always given back.
    agen = relay()
    try:
        first: str | None = await agen.__anext__()
    except StopAsyncIteration:
        first = None

    async def body() -> AsyncIterator[str]:
        try:
            if first is not None:
                yield first
                async for line in agen:
                    yield line
        finally:
            await agen.aclose()

    return StreamingResponse(body(), media_type=NDJSON, headers={"Cache-Control": "no-cache",
                                                                 "X-Accel-Buffering": "no"})


@router.post("/analyze", response_model=AnalyzeResponse, response_model_exclude_none=True)
async def analyze(request: Request, body: AnalyzeRequest, platform: PlatformDep, tenant: TenantDep) -> Any:
    params = _bounded(body.body())
    pool = _pool(request)

    def prepare() -> analysis.Analysis:  # checked on the pool's thread: a full pool answers 429 before any 400
        return analysis.prepare(platform, tenant, analysis.AnalyzeInput.from_body(platform, params))

    if body.stream is True:
        run = await pool.call(analysis.as_tenant(tenant, prepare))
        return await _stream(request, tenant, run)

    def sync() -> analysis.Result:
        return prepare().run()

    return AnalyzeResponse.of(await pool.call(analysis.as_tenant(tenant, sync)))


@router.post("/generate", response_model=AnalyzeResponse, response_model_exclude_none=True)
async def generate(request: Request, body: AnalyzeRequest, platform: PlatformDep, tenant: TenantDep) -> Any:
    """Older open-ended generation; streams NDJSON unless ``stream`` is ``false``."""
    params = _bounded(body.body())
    pool = _pool(request)

    def prepare() -> analysis.Analysis:  # checked on the pool's thread: a full pool answers 429 before any 400
        return analysis.generate(platform, tenant, analysis.AnalyzeInput.from_generate_body(platform, params))

    if body.stream is not False:
        run = await pool.call(analysis.as_tenant(tenant, prepare))
        return await _stream(request, tenant, run)

    def sync() -> analysis.Result:
        return prepare().run()

    return AnalyzeResponse.of(await pool.call(analysis.as_tenant(tenant, sync)))


@router.post("/summarize", response_model_exclude_none=True)
async def summarize(request: Request, body: SummarizeRequest, platform: PlatformDep,
                    tenant: TenantDep) -> dict[str, Any]:
    def run() -> analysis.Summary:  # checked on the pool's thread: a full pool answers 429 before any 400
        return analysis.summarize(platform, tenant, analysis.SummarizeInput.from_body(platform, params))

    params = _bounded(body.body())
    return SummarizeResponse.body(await _pool(request).call(analysis.as_tenant(tenant, run)))


@router.post("/gist", response_model=GistResponse, response_model_exclude_none=True)
async def gist(request: Request, body: GistRequest, platform: PlatformDep, tenant: TenantDep) -> GistResponse:
    def run() -> analysis.Gist:
        return analysis.gist(platform, tenant, analysis.GistInput.from_body(platform, params))

    params = _bounded(body.body())
    return GistResponse.of(await _pool(request).call(analysis.as_tenant(tenant, run)))


# --- async tasks -------------------------------------------------------------------------------------


@router.post("/analyze/tasks", status_code=201, response_model=AnalyzeTaskCreated)
def create_task(body: AnalyzeTaskCreate, platform: PlatformDep, tenant: TenantDep) -> AnalyzeTaskCreated:
    request = analysis_tasks.AnalyzeTaskInput.from_body(platform, _bounded(body.body()))
    row = analysis_tasks.create_task(platform, tenant, request)
    return AnalyzeTaskCreated(task_id=row.id, status=row.status)


@router.get("/analyze/tasks", response_model=AnalyzeTaskList, response_model_exclude_none=True)
def list_tasks(
    platform: PlatformDep, tenant: TenantDep, page: PageDep, status: str | None = None,
    video_url: str | None = None, asset_id: str | None = None, analysis_mode: str | None = None,
) -> AnalyzeTaskList:
    result = analysis_tasks.list_tasks(platform, tenant, page, status=status, video_url=video_url,
                                       asset_id=asset_id, analysis_mode=analysis_mode)
    return AnalyzeTaskList(
        data=[AnalyzeTaskResponse.model_validate(analysis_tasks.task_view(r, brief=True)) for r in result.items],
        page_info=PageInfo(**result.page_info),
    )


@router.get("/analyze/tasks/{task_id}", response_model=AnalyzeTaskResponse, response_model_exclude_none=True)
def retrieve_task(task_id: str, platform: PlatformDep, tenant: TenantDep) -> AnalyzeTaskResponse:
    view = analysis_tasks.task_view(analysis_tasks.retrieve_task(platform, tenant, task_id))
    return AnalyzeTaskResponse.model_validate(view)


@router.delete("/analyze/tasks/{task_id}", status_code=204)
def delete_task(task_id: str, platform: PlatformDep, tenant: TenantDep) -> Response:
    analysis_tasks.delete_task(platform, tenant, task_id)
    return Response(status_code=204)


@router.post("/analyze/tasks/{task_id}/cancel", response_model=AnalyzeTaskCanceled)
def cancel_task(task_id: str, platform: PlatformDep, tenant: TenantDep) -> AnalyzeTaskCanceled:
    row = analysis_tasks.cancel_task(platform, tenant, task_id)
    return AnalyzeTaskCanceled(task_id=row.id, status=row.status)


# --- batches -----------------------------------------------------------------------------------------


@router.post("/analyze/batches", status_code=201, response_model=BatchCreated, response_model_exclude_none=True)
def create_batch(body: BatchCreate, platform: PlatformDep, tenant: TenantDep) -> BatchCreated:
    from framedex.ids import rfc3339

    request = analysis_tasks.BatchInput.from_body(platform, _bounded(body.body()))
    batch, tasks = analysis_tasks.create_batch(platform, tenant, request)
    return BatchCreated.model_validate({
        "batch_id": batch.id, "status": batch.status, "total_items": batch.total_items,
        "created_at": rfc3339(batch.created_at), "expires_at": rfc3339(batch.expires_at),
        "items": [{"task_id": t.id, "custom_id": t.custom_id} for t in tasks],
    })


@router.get("/analyze/batches", response_model=BatchList, response_model_exclude_none=True)
def list_batches(
    platform: PlatformDep, tenant: TenantDep, page: PageDep,
    status: Annotated[list[str] | None, Query()] = None,
    analysis_mode: Annotated[list[str] | None, Query()] = None,
) -> BatchList:
    result, views = analysis_tasks.list_batches(platform, tenant, page, status=status, analysis_mode=analysis_mode)
    return BatchList(data=[BatchStatus.model_validate(v) for v in views], page_info=PageInfo(**result.page_info))


@router.get("/analyze/batches/{batch_id}", response_model=BatchStatus, response_model_exclude_none=True)
def retrieve_batch(batch_id: str, platform: PlatformDep, tenant: TenantDep) -> BatchStatus:
    return BatchStatus.model_validate(analysis_tasks.retrieve_batch(platform, tenant, batch_id))


@router.get("/analyze/batches/{batch_id}/results")
def batch_results(batch_id: str, platform: PlatformDep, tenant: TenantDep) -> StreamingResponse:
    lines = analysis_tasks.batch_results(platform, tenant, batch_id)
    return StreamingResponse(lines, media_type="application/jsonl")


@router.post("/analyze/batches/{batch_id}/cancel", response_model=BatchStatus, response_model_exclude_none=True)
def cancel_batch(batch_id: str, platform: PlatformDep, tenant: TenantDep) -> BatchStatus:
    return BatchStatus.model_validate(analysis_tasks.cancel_batch(platform, tenant, batch_id))


@router.delete("/analyze/batches/{batch_id}", status_code=204)
def delete_batch(batch_id: str, platform: PlatformDep, tenant: TenantDep) -> Response:
    analysis_tasks.delete_batch(platform, tenant, batch_id)
    return Response(status_code=204)
