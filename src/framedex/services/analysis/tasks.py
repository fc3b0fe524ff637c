"""Asynchronous analysis: ``/analyze/tasks`` (create, list, retrieve, delete, cancel) and
``/analyze/batches`` (create, list, retrieve, results as JSON Lines, cancel, delete), run on the job
queue (job kind ``analyze_task``) by the same workers as ingest.

Task statuses: ``queued`` (created) → ``pending`` (waiting for its video to be indexed) →
``processing`` → ``ready`` | ``failed`` | ``canceled``. When a task ends, an ``analyze.task.ready|failed|
canceled`` event (Part D payload) is POSTed to the task's webhook URLs: ``webhook_url``/``webhook_urls``
in the create body (a framedex extension; the real platform registers them in its dashboard) plus
``settings.webhook_urls``. A batch is ``pending`` → ``processing`` → ``completed`` (or ``canceling`` →
``canceled``; ``expired`` 24 h after creation), never ``failed``.

Size (~750 lines): tasks and batches share one status machine, one job kind and one webhook path;
batches are split out when they grow (the tables already live in `storage/tables_analysis.py`).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from framedex.domain_errors import Conflict, InvalidParameter, MissingParameter, NotFound, ServiceError
from framedex.ids import new_id, rfc3339, utcnow
from framedex.jobs.queue import Job
from framedex.jobs.worker import JobHandler
from framedex.services import webhooks
from framedex.services.analysis.generation import Analysis, as_tenant
from framedex.services.analysis.params import (
    GenerationOptions,
    check_max_tokens,
    check_model_name,
    check_prompt,
    check_response_format,
    check_seconds,
    check_temperature,
    check_window,
)
from framedex.services.analysis.videos import VideoRef, get_ready_video, submit_video
from framedex.services.paging import Page, PageRequest, paginate
from framedex.services.platform import Platform
from framedex.storage.tables import IndexedAssetRow, JobRow
from framedex.storage.tables_analysis import AnalyzeBatchRow, AnalyzeTaskRow

log = logging.getLogger(__name__)

JOB_KIND = "analyze_task"
FINAL = ("ready", "failed", "canceled")
ACTIVE = ("queued", "pending", "processing")
TASK_STATUSES = ("queued", "pending", "processing", "ready", "failed", "canceled")
BATCH_STATUSES = ("pending", "processing", "canceling", "canceled", "completed", "expired")
BATCH_FINAL = ("completed", "canceled", "expired")
ASYNC_DEFAULT_MAX_TOKENS = 4096
BATCH_TTL = timedelta(hours=24)
MAX_BATCH_ITEMS = 1000
MAX_ACTIVE_BATCHES = 5
_CUSTOM_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_WAIT_POLL_SECONDS = 2.0


# --- request checking ----------------------------------------------------------------------------------


def _params(platform: Platform, body: dict[str, Any], *, prompt_required: bool = True) -> dict[str, Any]:
    """Validated generation parameters of a task (shared by tasks and batch items)."""
    mode = body.get("analysis_mode") or "general"
    if mode == "time_based_metadata":
        raise InvalidParameter("analysis_mode", "time_based_metadata (video segmentation) is not supported by "
                               "this server; use general.")
    if mode != "general":
        raise InvalidParameter("analysis_mode", "Use general.")
    if body.get("image"):
        raise InvalidParameter("image", "Image analysis is not supported by this server; send a video.")
    max_tokens = body.get("max_tokens")
    if max_tokens == "unlimited":
        raise InvalidParameter("max_tokens", "unlimited requires analysis_mode time_based_metadata.")
    prompt = check_prompt(body.get("prompt"), body.get("prompt_v2"), required=prompt_required)
    params: dict[str, Any] = {
        "analysis_mode": "general",
        "prompt": prompt,
        "temperature": check_temperature(body.get("temperature")),
        "max_tokens": check_max_tokens(max_tokens, default=ASYNC_DEFAULT_MAX_TOKENS),
    }
    if body.get("prompt_v2") is not None:
        params["prompt_v2"] = {"input_text": prompt}
    schema = check_response_format(body.get("response_format"), allow_segments=True)
    if schema is not None:
        params["response_format"] = {"type": "json_schema", "json_schema": schema}
    for name in ("min_segment_duration", "max_segment_duration"):
        if body.get(name) is not None:
            raise InvalidParameter(name, "It requires analysis_mode time_based_metadata.")
    for name in ("start_time", "end_time"):
        if (seconds := check_seconds(body, name)) is not None:
            params[name] = float(seconds)
    if "start_time" in params and "end_time" in params and params["end_time"] - params["start_time"] < 1:
        raise InvalidParameter("end_time", "The window (end_time - start_time) must be at least 1 second.")
    return params


def _custom_id(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _CUSTOM_ID.match(value):
        raise InvalidParameter("custom_id", "Use 1-64 characters: letters, digits, hyphens and underscores.")
    return value


def _webhook_urls(platform: Platform, body: dict[str, Any]) -> list[str]:
    from framedex.ingest.fetch import validate_url

    urls: list[str] = []
    one = body.get("webhook_url")
    many = body.get("webhook_urls")
    for value in ([one] if one is not None else []) + (list(many) if isinstance(many, list) else []):
        if not isinstance(value, str):
            raise InvalidParameter("webhook_url", "It must be a URL string.")
        try:
            validate_url(value, allow_private=platform.settings.allow_private_urls)
        except ServiceError as exc:
            raise InvalidParameter("webhook_url", exc.message) from exc
        urls.append(value)
    return list(dict.fromkeys([*urls, *platform.settings.webhook_urls]))


def _source(platform: Platform, tenant_id: str, video_id: Any, video: Any) -> tuple[str, dict[str, Any]]:
    """(video id, wire video_source); the video may still be indexing."""
    if video_id is not None and video is not None:
        raise InvalidParameter("video", "Give either video or video_id, not both.")
    if video_id is not None:
        if not isinstance(video_id, str) or not video_id:
            raise InvalidParameter("video_id", "It must be a video id.")
        with platform.store.session() as s:
            row = s.get(IndexedAssetRow, video_id)
            if row is None or row.tenant_id != tenant_id:
                raise NotFound("video", video_id)
            return row.id, {"type": "video_id", "video_id": row.id, "index_id": row.index_id}
    if video is None:
        raise MissingParameter("video")
    return submit_video(platform, tenant_id, video)


@dataclass(frozen=True)
class AnalyzeTaskInput:
    """A ``POST /analyze/tasks`` request with its parameters checked; its video (``video_id``, or ``video`` =
    ``{type: asset_id | url | base64_string, ...}``) is resolved when the task is created."""

    model_name: str
    params: dict[str, Any]  # the generation parameters the task keeps (``request_params``)
    custom_id: str | None = None
    webhook_urls: tuple[str, ...] = ()
    video_id: Any = None
    video: Any = None

    @classmethod
    def from_body(cls, platform: Platform, body: dict[str, Any]) -> AnalyzeTaskInput:
        return cls(model_name=check_model_name(platform, body.get("model_name")), params=_params(platform, body),
                   custom_id=_custom_id(body.get("custom_id")), webhook_urls=tuple(_webhook_urls(platform, body)),
                   video_id=body.get("video_id"), video=body.get("video"))


@dataclass(frozen=True)
class BatchItem:
    params: dict[str, Any]
    custom_id: str | None
    asset_id: str


@dataclass(frozen=True)
class BatchInput:
    """A ``POST /analyze/batches`` request with every item checked (each item names an asset)."""

    model_name: str
    items: tuple[BatchItem, ...]
    webhook_urls: tuple[str, ...] = ()

    @classmethod
    def from_body(cls, platform: Platform, body: dict[str, Any]) -> BatchInput:
        if body.get("model_name") is None:
            raise MissingParameter("model_name")
        model_name = check_model_name(platform, body.get("model_name"))
        mode = body.get("analysis_mode")
        if mode is None:
            raise MissingParameter("analysis_mode")
        requests = body.get("requests")
        if requests is None:
            raise MissingParameter("requests")
        if not isinstance(requests, list) or not 1 <= len(requests) <= MAX_BATCH_ITEMS:
            raise InvalidParameter("requests", f"Give 1 to {MAX_BATCH_ITEMS} requests.")
        defaults = body.get("defaults") or {}
        if not isinstance(defaults, dict):
            raise InvalidParameter("defaults", "It must be an object.")
        urls = tuple(_webhook_urls(platform, body))
        items: list[BatchItem] = []
        for i, item in enumerate(requests):
            if not isinstance(item, dict):
                raise InvalidParameter(f"requests[{i}]", "It must be an object.")
            merged = {**defaults, **{k: v for k, v in item.items() if v is not None}, "analysis_mode": mode}
            if isinstance(merged.get("prompt"), dict):  # BatchPrompt {input_text, media_sources}
                merged["prompt_v2"], merged["prompt"] = merged.pop("prompt"), None
            params = _params(platform, merged)
            custom_id = _custom_id(item.get("custom_id"))
            video = item.get("video")
            if not isinstance(video, dict) or video.get("type", "asset_id") != "asset_id" \
                    or not video.get("asset_id"):
                raise InvalidParameter(f"requests[{i}].video", "Batch items take {type: asset_id, asset_id}.")
            items.append(BatchItem(params, custom_id, video["asset_id"]))
        return cls(model_name=model_name, items=tuple(items), webhook_urls=urls)


# --- tasks --------------------------------------------------------------------------------------------


def _new_task(platform: Platform, session: Session, tenant_id: str, *, params: dict[str, Any], model_name: str,
              video_id: str | None, source: dict[str, Any] | None, custom_id: str | None,
              batch_id: str | None = None, webhook_urls: list[str] | None = None,
              status: str = "queued", error: dict[str, Any] | None = None) -> AnalyzeTaskRow:
    row = AnalyzeTaskRow(
        id=new_id(), tenant_id=tenant_id, batch_id=batch_id, custom_id=custom_id, status=status,
        analysis_mode="general", model_name=model_name, request_params=params, video_source=source,
        video_id=video_id, asset_id=(source or {}).get("asset_id"), video_url=(source or {}).get("url"),
        webhook_urls=webhook_urls or [], error=error, completed_at=utcnow() if status in FINAL else None,
    )
    if video_id is not None:
        video = session.get(IndexedAssetRow, video_id)
        if video is not None:
            row.asset_id = row.asset_id or video.asset_id
            row.duration = video.duration
    session.add(row)
    session.flush()
    if status not in FINAL:
        platform.queue.enqueue(JOB_KIND, {"task_id": row.id}, session=session, max_attempts=2)
    return row


def create_task(platform: Platform, tenant_id: str, request: AnalyzeTaskInput) -> AnalyzeTaskRow:
    video_id, source = _source(platform, tenant_id, request.video_id, request.video)
    with platform.store.session() as s:
        return _new_task(platform, s, tenant_id, params=request.params, model_name=request.model_name,
                         video_id=video_id, source=source, custom_id=request.custom_id,
                         webhook_urls=list(request.webhook_urls))


def _get_task(session: Session, tenant_id: str, task_id: str) -> AnalyzeTaskRow:
    row = session.get(AnalyzeTaskRow, task_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound("analysis task", task_id)
    return row


def retrieve_task(platform: Platform, tenant_id: str, task_id: str) -> AnalyzeTaskRow:
    with platform.store.session() as s:
        return _get_task(s, tenant_id, task_id)


def list_tasks(platform: Platform, tenant_id: str, page: PageRequest, *, status: str | None = None,
               video_url: str | None = None, asset_id: str | None = None,
               analysis_mode: str | None = None) -> Page[AnalyzeTaskRow]:
    query = select(AnalyzeTaskRow).where(AnalyzeTaskRow.tenant_id == tenant_id)
    if status is not None:
        if status not in TASK_STATUSES:
            raise InvalidParameter("status", f"Use one of {list(TASK_STATUSES)}.")
        query = query.where(AnalyzeTaskRow.status == status)
    if video_url is not None:
        query = query.where(AnalyzeTaskRow.video_url == video_url)
    if asset_id is not None:
        query = query.where(AnalyzeTaskRow.asset_id == asset_id)
    if analysis_mode is not None:
        query = query.where(AnalyzeTaskRow.analysis_mode == analysis_mode)
    query = query.order_by(AnalyzeTaskRow.created_at.desc(), AnalyzeTaskRow.id.desc())
    with platform.store.session() as s:
        return paginate(s, query, page)


def delete_task(platform: Platform, tenant_id: str, task_id: str) -> None:
    with platform.store.session() as s:
        row = _get_task(s, tenant_id, task_id)
        if row.status == "processing":
            raise Conflict("The task is being processed; cancel it or wait until it finishes.",
                           code="task_in_progress")
        s.delete(row)


def cancel_task(platform: Platform, tenant_id: str, task_id: str) -> AnalyzeTaskRow:
    with platform.store.session() as s:
        row = _get_task(s, tenant_id, task_id)
        if row.status == "canceled":
            return row
        if row.status in ("ready", "failed"):
            raise Conflict(f"The task is already {row.status} and cannot be canceled.", code="task_not_cancelable")
        _finish(row, "canceled", error={"code": "user_canceled", "message": "The task was canceled."})
    _notify_async(platform, row.id)
    return row


def _finish(row: AnalyzeTaskRow, status: str, *, result: dict[str, Any] | None = None,
            error: dict[str, Any] | None = None) -> None:
    row.status = status
    row.result = result
    row.error = error
    row.completed_at = utcnow()
    row.updated_at = utcnow()


# --- running (worker side) ------------------------------------------------------------------------------


class AnalyzeJobs:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def run(self, job: Job) -> None:
        task_id = job.payload["task_id"]
        platform = self.platform
        with platform.store.session() as s:
            task = s.get(AnalyzeTaskRow, task_id)
            if task is None or task.status in FINAL or _handed_on(s, job, task_id):
                return
            video = s.get(IndexedAssetRow, task.video_id) if task.video_id else None
            if video is None or video.tenant_id != task.tenant_id:
                _finish(task, "failed", error={"code": "video_not_found", "message": "The video was deleted."})
                failed = True
            elif video.status == "failed":
                message = (video.error or {}).get("message", "the video failed indexing")
                _finish(task, "failed", error={"code": "video_not_ready", "message": f"The video could not be "
                                               f"indexed: {message}"})
                failed = True
            elif video.status != "ready":
                # Not ready yet: come back later without holding this worker (it may be the one indexing).
                if _transition(s, task_id, "pending"):
                    job_id = platform.queue.enqueue(JOB_KIND, {"task_id": task_id}, session=s, max_attempts=2)
                    _delay_job(s, job_id, _WAIT_POLL_SECONDS)
                return
            else:
                failed = False
                deferrals = int(job.payload.get("deferrals", 0))
                if task.status != "processing" and deferrals < MAX_DEFERRALS:  # not a restart: it may wait
                    owed = _owed_turn(s, task.tenant_id)
                    if owed is not None:
                        _yield_turn(platform, s, job, task_id, owed, deferrals)
                        return
                if not _transition(s, task_id, "processing", duration=video.duration):
                    return  # canceled meanwhile
                params, model_name, tenant_id, video_id = (dict(task.request_params), task.model_name,
                                                           task.tenant_id, task.video_id)
                source = dict(task.video_source or {})
        if failed:
            self._ended(task_id)
            return
        assert video_id is not None
        try:
            ref = get_ready_video(platform, tenant_id, video_id)
            ref = VideoRef(ref.video_id, ref.index_id, ref.asset_id, ref.duration, source)
            start, end = params.get("start_time"), params.get("end_time")
            check_window(start, end, ref.duration)
            options = GenerationOptions(
                prompt=params.get("prompt") or "", temperature=params["temperature"],
                max_tokens=params["max_tokens"],
                json_schema=(params.get("response_format") or {}).get("json_schema"),
                model_name=model_name, start_time=start, end_time=end)
            runner = Analysis(platform, ref, options)
            canceled = _CancelWatch(platform, task_id)
            # In the tenant's own turn on the model, not the one turn all background work shares.
            result = as_tenant(tenant_id, runner.run)(on_text=canceled)
        except ServiceError as exc:
            self._fail(task_id, exc.code, exc.message)
            return
        with platform.store.session() as s:
            wire = {"generation_id": result.generation_id, "data": result.data,
                    "finish_reason": result.finish_reason, "usage": result.usage()}
            if not _transition(s, task_id, "ready", result=wire, error=result.error(), completed_at=utcnow()):
                return  # canceled meanwhile
        self._ended(task_id)

    def _fail(self, task_id: str, code: str, message: str) -> None:
        with self.platform.store.session() as s:
            task = s.get(AnalyzeTaskRow, task_id)
            if task is None or task.status in FINAL:
                return
            _finish(task, "failed", error={"code": code, "message": message})
        self._ended(task_id)

    def give_up(self, job: Job, reason: str) -> None:
        self._fail(job.payload["task_id"], "internal_error", f"Analysis failed: {reason}")

    def _ended(self, task_id: str) -> None:
        _notify(self.platform, task_id)
        _refresh_batch_of(self.platform, task_id)

    def handlers(self) -> dict[str, JobHandler]:
        return {JOB_KIND: JobHandler(self.run, self.give_up)}


def job_handlers(platform: Platform) -> dict[str, JobHandler]:
    """The job kinds of this module, for the worker pool (collected by ``framedex.platform.job_handlers``)."""
    return AnalyzeJobs(platform).handlers()


def _handed_on(session: Session, job: Job, task_id: str) -> bool:
    """Whether a newer live job carries ``task_id``: this one handed the task on (a wait or a step back
    enqueues the next job in the same transaction) and was killed before it was marked done, so the queue
    ran it again. It must do nothing then, or the task would get two jobs and two generations. Only a
    *newer* job wins, so two live jobs of one task never both stand back."""
    current = session.get(JobRow, job.id)
    if current is None:
        return False
    newer = session.scalars(
        select(JobRow.id).where(JobRow.kind == JOB_KIND, JobRow.id != job.id,
                                JobRow.status.in_(("queued", "running")),
                                JobRow.payload["task_id"].as_string() == task_id,
                                (JobRow.created_at > current.created_at)
                                | ((JobRow.created_at == current.created_at) & (JobRow.id > job.id)))
        .limit(1)).first()
    if newer is not None:
        log.info("analysis task %s: job %s was handed on to job %s; nothing to do", task_id, job.id, newer)
    return newer is not None


def _transition(session: Session, task_id: str, status: str, **values: Any) -> bool:
    """Move an active task to ``status`` unless it ended meanwhile (a cancel wins over the worker)."""
    result = session.execute(
        update(AnalyzeTaskRow).where(AnalyzeTaskRow.id == task_id, AnalyzeTaskRow.status.in_(ACTIVE))
        .values(status=status, updated_at=utcnow(), **values).execution_options(synchronize_session=False))
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --- fair turns across tenants ---------------------------------------------------------------------------
#
# The job queue is first come, first served: a tenant that queues a thousand tasks would have every worker
# for hours while another tenant's one task waits behind them. So a worker about to start a task first
# asks whether another tenant is owed the turn: one with a task waiting (its video ready) and fewer tasks
# running, or as many running and a less recent start or end. If so, the task steps back behind that
# tenant's oldest waiting task, which is moved up to the task's place in the queue (on the SQL queue; on
# another queue the task goes to the back, and the workers reach the owed task after the ones before it).
# A task steps back at most MAX_DEFERRALS times, so no tenant waits forever either.

MAX_DEFERRALS = 20
# How long a task that stepped back waits when the owed task's job could not be moved up: the workers
# then reach it in queue order, and this keeps them from cycling through the same few jobs meanwhile.
_DEFER_SECONDS = 0.5
_SERVED = ("processing", "ready", "failed")


def _waiting_ready(query: Any) -> Any:
    return (query.join(IndexedAssetRow, IndexedAssetRow.id == AnalyzeTaskRow.video_id)
            .where(AnalyzeTaskRow.status.in_(("queued", "pending")), IndexedAssetRow.status == "ready"))


def _owed_turn(session: Session, tenant_id: str) -> str | None:
    """The task to run before ``tenant_id``'s next one: the oldest waiting task of the tenant owed the turn
    most, or None when ``tenant_id`` is owed it as much as anyone waiting."""
    waiting = [row[0] for row in session.execute(
        _waiting_ready(select(AnalyzeTaskRow.tenant_id)).where(AnalyzeTaskRow.tenant_id != tenant_id).distinct())]
    if not waiting:
        return None
    tenants = [*waiting, tenant_id]
    running: dict[str, int] = {tenant: n for tenant, n in session.execute(
        select(AnalyzeTaskRow.tenant_id, func.count()).where(AnalyzeTaskRow.tenant_id.in_(tenants),
                                                             AnalyzeTaskRow.status == "processing")
        .group_by(AnalyzeTaskRow.tenant_id))}
    last: dict[str, datetime | None] = {tenant: at for tenant, at in session.execute(
        select(AnalyzeTaskRow.tenant_id, func.max(AnalyzeTaskRow.updated_at)).where(
            AnalyzeTaskRow.tenant_id.in_(tenants), AnalyzeTaskRow.status.in_(_SERVED))
        .group_by(AnalyzeTaskRow.tenant_id))}

    def served(tenant: str) -> tuple[int, float]:  # smaller: owed more
        at = last.get(tenant)
        return int(running.get(tenant, 0)), _aware(at).timestamp() if at is not None else float("-inf")

    mine = served(tenant_id)
    owed = min(waiting, key=served)
    if served(owed) >= mine:
        return None
    first: str | None = session.scalars(
        _waiting_ready(select(AnalyzeTaskRow.id)).where(AnalyzeTaskRow.tenant_id == owed)
        .order_by(AnalyzeTaskRow.created_at, AnalyzeTaskRow.id).limit(1)).first()
    return first


def _yield_turn(platform: Platform, session: Session, job: Job, task_id: str, owed_task_id: str,
                deferrals: int) -> None:
    """Put ``task_id`` back in the queue behind ``owed_task_id`` (see above)."""
    current = session.get(JobRow, job.id)
    place = current.available_at if current is not None else utcnow()
    again = platform.queue.enqueue(JOB_KIND, {"task_id": task_id, "deferrals": deferrals + 1}, session=session,
                                   max_attempts=2)
    session.flush()
    owed_job = session.scalars(
        select(JobRow).where(JobRow.kind == JOB_KIND, JobRow.status == "queued",
                             JobRow.payload["task_id"].as_string() == owed_task_id)
        .order_by(JobRow.available_at).limit(1)).first()
    requeued = session.get(JobRow, again)
    if owed_job is not None and requeued is not None:
        owed_job.available_at = min(_aware(owed_job.available_at), _aware(place) - timedelta(milliseconds=1))
        requeued.available_at = place
    else:
        _delay_job(session, again, _DEFER_SECONDS)
    log.info("analysis task %s steps back for task %s of a tenant owed the turn (%d)", task_id, owed_task_id,
             deferrals + 1)


def _delay_job(session: Session, job_id: str, seconds: float) -> None:
    session.flush()
    job = session.get(JobRow, job_id)
    if job is not None:
        job.available_at = utcnow() + timedelta(seconds=seconds)


class _CancelWatch:
    """``on_text`` callback that stops generation soon after the task is canceled (checks ≤ once a second)."""

    def __init__(self, platform: Platform, task_id: str) -> None:
        self.platform = platform
        self.task_id = task_id
        self._last = 0.0
        self._canceled = False

    def __call__(self, _piece: str) -> bool:
        import time

        now = time.monotonic()
        if not self._canceled and now - self._last >= 1.0:
            self._last = now
            with self.platform.store.session() as s:
                task = s.get(AnalyzeTaskRow, self.task_id)
                self._canceled = task is None or task.status == "canceled"
        return self._canceled


# --- webhooks --------------------------------------------------------------------------------------------


def webhook_payload(task: AnalyzeTaskRow) -> dict[str, Any]:
    data: dict[str, Any] = {"id": task.id, "custom_id": task.custom_id, "created_at": rfc3339(task.created_at),
                            "status": task.status}
    source = _public_source(task)
    if source:
        data["video_source"] = source
    if task.error and task.error.get("message") and task.status in ("failed", "ready"):
        data["error"] = {"message": task.error["message"]}
    return webhooks.event(task.id, f"analyze.task.{task.status}", data)


def _notify(platform: Platform, task_id: str) -> None:
    with platform.store.session() as s:
        task = s.get(AnalyzeTaskRow, task_id)
        if task is None or task.status not in FINAL or not task.webhook_urls:
            return
        urls, payload, tenant_id = list(task.webhook_urls), webhook_payload(task), task.tenant_id
    infos = webhooks.deliver(platform.settings, urls, payload,
                             secret=webhooks.tenant_secret(platform.signing_key, tenant_id))
    with platform.store.session() as s:
        task = s.get(AnalyzeTaskRow, task_id)
        if task is not None:
            task.webhooks = infos


def _notify_async(platform: Platform, task_id: str) -> None:
    def run() -> None:
        try:
            _notify(platform, task_id)
            _refresh_batch_of(platform, task_id)
        except Exception:
            log.exception("webhook for task %s failed", task_id)

    threading.Thread(target=run, name="framedex-webhook", daemon=True).start()


# --- wire views ------------------------------------------------------------------------------------------
# These stay in the service, unlike the other analysis bodies: the worker sends `webhook_payload` (which shares
# `_public_source`), `batch_results` streams its JSON lines from here, and `cancel_batch`/`list_batches` build
# `batch_view` inside the session whose counts they refresh.


def _public_source(task: AnalyzeTaskRow) -> dict[str, Any] | None:
    src = dict(task.video_source or {})
    if not src:
        return None
    if task.duration:
        src["system_metadata"] = {"duration": float(task.duration)}
    return src


def task_view(task: AnalyzeTaskRow, *, brief: bool = False) -> dict[str, Any]:
    """The ``AnalyzeTaskResponse`` wire object (``brief``: as listed, with the prompt cut to 30 chars)."""
    params = dict(task.request_params or {})
    params = {k: v for k, v in params.items() if v is not None}
    if "prompt_v2" in params:
        params.pop("prompt", None)
    if brief:
        if isinstance(params.get("prompt"), str):
            params["prompt"] = params["prompt"][:30]
        if isinstance(params.get("prompt_v2"), dict):
            params["prompt_v2"] = {"input_text": str(params["prompt_v2"].get("input_text", ""))[:30]}
        if isinstance(params.get("response_format"), dict):
            params["response_format"] = {"type": params["response_format"].get("type")}
    out: dict[str, Any] = {"task_id": task.id, "custom_id": task.custom_id, "status": task.status,
                           "created_at": rfc3339(task.created_at), "request_params": params}
    if task.batch_id:
        out["batch_id"] = task.batch_id
    source = _public_source(task)
    if source:
        out["video_source"] = source
    if task.completed_at is not None and task.status in FINAL:
        out["completed_at"] = rfc3339(task.completed_at)
    if task.result is not None and task.status == "ready":
        out["result"] = task.result
    if task.error:
        out["error"] = task.error
    if task.webhooks:
        out["webhooks"] = task.webhooks
    return out


# --- batches ---------------------------------------------------------------------------------------------


def create_batch(platform: Platform, tenant_id: str,
                 request: BatchInput) -> tuple[AnalyzeBatchRow, list[AnalyzeTaskRow]]:
    items: list[tuple[BatchItem, str | None, dict[str, Any] | None, dict[str, Any] | None]] = []
    for item in request.items:
        try:
            video_id, source = submit_video(platform, tenant_id, {"type": "asset_id", "asset_id": item.asset_id})
            items.append((item, video_id, source, None))
        except ServiceError as exc:  # this item fails on its own; the rest of the batch runs
            items.append((item, None, {"type": "asset_id", "asset_id": item.asset_id},
                          {"code": exc.code, "message": exc.message}))
    with platform.store.session() as s:
        active = s.execute(select(func.count()).select_from(AnalyzeBatchRow).where(
            AnalyzeBatchRow.tenant_id == tenant_id, AnalyzeBatchRow.status.in_(["pending", "processing",
                                                                                 "canceling"]))).scalar_one()
        if active >= MAX_ACTIVE_BATCHES:
            raise ServiceError(f"At most {MAX_ACTIVE_BATCHES} batches can be active at once.",
                               code="too_many_active_batches", status=429)
        now = utcnow()
        batch = AnalyzeBatchRow(id=new_id(), tenant_id=tenant_id, status="pending", analysis_mode="general",
                                model_name=request.model_name, total_items=len(items),
                                expires_at=now + BATCH_TTL,
                                created_at=now)
        s.add(batch)
        s.flush()
        tasks = [
            _new_task(platform, s, tenant_id, params=item.params, model_name=request.model_name, video_id=video_id,
                      source=source, custom_id=item.custom_id, batch_id=batch.id,
                      webhook_urls=list(request.webhook_urls), status="failed" if error else "queued", error=error)
            for item, video_id, source, error in items
        ]
        _refresh_batch(s, batch)
        return batch, tasks


def _counts(session: Session, batch_id: str) -> dict[str, int]:
    rows = session.execute(select(AnalyzeTaskRow.status, func.count()).where(AnalyzeTaskRow.batch_id == batch_id)
                           .group_by(AnalyzeTaskRow.status)).all()
    counts = {status: int(n) for status, n in rows}
    return counts


def _refresh_batch(session: Session, batch: AnalyzeBatchRow) -> dict[str, int]:
    """Derive the batch status from its items (and expire it after 24 h)."""
    now = utcnow()
    if batch.status not in BATCH_FINAL and _aware(batch.expires_at) <= now:
        for task in session.scalars(select(AnalyzeTaskRow).where(AnalyzeTaskRow.batch_id == batch.id,
                                                                 AnalyzeTaskRow.status.in_(["queued", "pending"]))):
            _finish(task, "canceled", error={"code": "batch_expired", "message": "The batch expired."})
        batch.status, batch.expired_at = "expired", now
    counts = _counts(session, batch.id)
    active = sum(counts.get(s, 0) for s in ACTIVE)
    done = sum(counts.get(s, 0) for s in FINAL)
    if batch.status == "canceling" and active == 0:
        batch.status, batch.canceled_at = "canceled", now
    elif batch.status in ("pending", "processing"):
        if active == 0:
            batch.status, batch.completed_at = "completed", now
        elif done or counts.get("processing"):
            batch.status = "processing"
    return counts


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _refresh_batch_of(platform: Platform, task_id: str) -> None:
    with platform.store.session() as s:
        task = s.get(AnalyzeTaskRow, task_id)
        if task is None or task.batch_id is None:
            return
        batch = s.get(AnalyzeBatchRow, task.batch_id)
        if batch is not None:
            _refresh_batch(s, batch)


def _get_batch(session: Session, tenant_id: str, batch_id: str) -> AnalyzeBatchRow:
    row = session.get(AnalyzeBatchRow, batch_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound("batch", batch_id)
    return row


def batch_view(batch: AnalyzeBatchRow, counts: dict[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "batch_id": batch.id, "analysis_mode": batch.analysis_mode, "model_name": batch.model_name,
        "status": batch.status, "total_items": batch.total_items, "created_at": rfc3339(batch.created_at),
        "expires_at": rfc3339(batch.expires_at),
        "queued_items": counts.get("queued", 0) + counts.get("pending", 0),
        "processing_items": counts.get("processing", 0), "ready_items": counts.get("ready", 0),
        "failed_items": counts.get("failed", 0), "canceled_items": counts.get("canceled", 0),
    }
    for name in ("completed_at", "canceled_at", "expired_at"):
        value = getattr(batch, name)
        if value is not None:
            out[name] = rfc3339(value)
    if batch.webhooks:
        out["webhooks"] = batch.webhooks
    return out


def retrieve_batch(platform: Platform, tenant_id: str, batch_id: str) -> dict[str, Any]:
    with platform.store.session() as s:
        batch = _get_batch(s, tenant_id, batch_id)
        counts = _refresh_batch(s, batch)
        return batch_view(batch, counts)


def list_batches(platform: Platform, tenant_id: str, page: PageRequest, *, status: list[str] | None = None,
                 analysis_mode: list[str] | None = None) -> tuple[Page[Any], list[dict[str, Any]]]:
    query = select(AnalyzeBatchRow).where(AnalyzeBatchRow.tenant_id == tenant_id)
    if status:
        bad = [x for x in status if x not in BATCH_STATUSES]
        if bad:
            raise InvalidParameter("status", f"Use values of {list(BATCH_STATUSES)}.")
        query = query.where(AnalyzeBatchRow.status.in_(status))
    if analysis_mode:
        query = query.where(AnalyzeBatchRow.analysis_mode.in_(analysis_mode))
    query = query.order_by(AnalyzeBatchRow.created_at.desc(), AnalyzeBatchRow.id.desc())
    with platform.store.session() as s:
        result = paginate(s, query, page)
        views = [batch_view(b, _refresh_batch(s, b)) for b in result.items]
    return result, views


def cancel_batch(platform: Platform, tenant_id: str, batch_id: str) -> dict[str, Any]:
    with platform.store.session() as s:
        batch = _get_batch(s, tenant_id, batch_id)
        _refresh_batch(s, batch)
        if batch.status in BATCH_FINAL:
            raise Conflict(f"The batch is already {batch.status}.", code="batch_not_cancelable")
        canceled: list[str] = []
        for task in s.scalars(select(AnalyzeTaskRow).where(AnalyzeTaskRow.batch_id == batch.id,
                                                           AnalyzeTaskRow.status.in_(["queued", "pending"]))):
            _finish(task, "canceled", error={"code": "batch_canceled", "message": "The batch was canceled."})
            canceled.append(task.id)
        batch.status = "canceling"
        s.flush()
        counts = _refresh_batch(s, batch)
        view = batch_view(batch, counts)
    for task_id in canceled:
        _notify_async(platform, task_id)
    return view


def delete_batch(platform: Platform, tenant_id: str, batch_id: str) -> None:
    with platform.store.session() as s:
        batch = _get_batch(s, tenant_id, batch_id)
        _refresh_batch(s, batch)
        if batch.status not in BATCH_FINAL:
            raise Conflict("Only completed, canceled or expired batches can be deleted; cancel it first.",
                           code="batch_in_progress")
        s.execute(delete(AnalyzeTaskRow).where(AnalyzeTaskRow.batch_id == batch.id))
        s.delete(batch)


def batch_results(platform: Platform, tenant_id: str, batch_id: str) -> Iterator[str]:
    """JSON Lines, one ``BatchResultItem`` per task (in submission order)."""
    with platform.store.session() as s:
        batch = _get_batch(s, tenant_id, batch_id)
        _refresh_batch(s, batch)
        tasks = list(s.scalars(select(AnalyzeTaskRow).where(AnalyzeTaskRow.batch_id == batch.id)
                               .order_by(AnalyzeTaskRow.id)))
    lines = []
    for task in tasks:
        item: dict[str, Any] = {"task_id": task.id, "status": "queued" if task.status == "pending" else task.status}
        if task.custom_id is not None:
            item["custom_id"] = task.custom_id
        if task.status == "ready" and task.result:
            item["data"] = task.result
        if task.status in ("failed", "canceled") and task.error:
            item["error"] = task.error
        lines.append(json.dumps(item, ensure_ascii=False) + "\n")
    return iter(lines)


