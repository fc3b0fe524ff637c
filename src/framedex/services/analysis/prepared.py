"""Analysis prepared at index time, answered at once.

When a video of an index with a pegasus model becomes ``ready``, ingest enqueues ``analysis_prepare``
(:func:`after_ready`; never before ``ready``, and on a worker of its own so it never holds up indexing). The job
(:func:`prepare_video`) runs the default requests once, in the background (``llm_state.background``: each
generation yields to interactive requests and is retried afterwards):

1. the default summary, through the same path as ``/summarize``: this reads the video's timeline prefix (the
   system message and "Video timeline ..." text every question on the video starts with) and saves llama.cpp's
   KV state for it to disk (``llm_state``), so a custom question later starts from the restored state;
2. the gist (title, topics, hashtags) and highlights, which share that prefix, then the chapters.

The outputs are one blob, ``videos/<id>/analysis/prepared-<key>.json``, where the key hashes the video's
content (every timeline event, cut and frame feature: :func:`content_digest`), the model (:func:`model_identity`)
and the prompt templates (:func:`template_version`: the prompts and the code that writes them). A request with
the default prompts (``/summarize`` with no prompt or schema, ``/gist``, ``/analyze`` with the default summary
prompt) computes the same key from the timeline it would read anyway and answers from the blob when it exists;
a re-indexed video, another model or an edited template (or timeline code) is another key, so nothing stale is
ever served; a video prepared under an older key is queued again by the first default request that misses
(:func:`_refresh_outdated`), and each preparation deletes the previous key's outputs. Deleting the video deletes
its blobs (``videos/<id>/``); saved prompt states are keyed by the exact prompt text and are
evicted least recently used.

Status: ``videos/<id>/analysis/prepared-status.json`` (:func:`status`) and the log lines
``analysis of video ... prepared`` / ``served prepared ...`` (logger ``framedex.services.analysis.prepared``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import json
import logging
import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from framedex.ids import utcnow
from framedex.jobs.queue import Job
from framedex.jobs.worker import JobHandler
from framedex.models.llm_state import LLMPreempted
from framedex.services.analysis import timeline as timeline_module
from framedex.services.analysis.generation import SYSTEM_PROMPT, Result, _budget, _timeline_message
from framedex.services.analysis.outputs import Gist, Summary
from framedex.services.analysis.params import DEFAULT_MODEL, GIST_TYPES, GistInput, SummarizeInput
from framedex.services.analysis.summaries import (
    SUMMARY_PROMPT,
    gist,
    gist_fields,
    gist_request,
    make_chapters,
    make_highlights,
    summarize,
)
from framedex.services.analysis.timeline import Timeline, load_timeline
from framedex.services.analysis.videos import _asset_video, get_ready_video
from framedex.services.platform import Platform
from framedex.storage.tables import IndexedAssetRow, IndexRow

PREPARED_LOG = __name__  # "analysis of video ... prepared", "served prepared ..."
log = logging.getLogger(PREPARED_LOG)

PREPARE_JOB = "analysis_prepare"
# Bump when what a prepared blob holds, or how it is made, changes in a way the templates below do not show.
VERSION = "1"
_PREEMPT_PAUSE_SECONDS = 0.5

T = TypeVar("T")


# --- keys --------------------------------------------------------------------------------------------


@functools.cache
def template_version() -> str:
    """The prompts and the code that writes each default request (their wording is part of the answer), and the
    timeline module, whose rendering decides what the model reads of the same stored content."""
    parts = [VERSION, SYSTEM_PROMPT, SUMMARY_PROMPT]
    for fn in (make_chapters, make_highlights, gist_request, gist_fields, _timeline_message, _budget,
               timeline_module):
        try:
            parts.append(inspect.getsource(fn))
        except (OSError, TypeError):  # no source shipped: the version constant still applies
            parts.append(getattr(fn, "__qualname__", getattr(fn, "__name__", "")))
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]


def content_digest(timeline: Timeline) -> str:
    """What the model reads about the video: every event (with its scores), cut and frame feature."""
    h = hashlib.sha256()
    h.update(f"{timeline.duration:.3f}|{timeline.offset:.3f}".encode())
    for e in timeline.events:
        h.update(json.dumps([e.start, e.end, e.kind, e.text, [list(s) for s in e.scores]]).encode())
    h.update(json.dumps(timeline.cuts).encode())
    for t, vec in timeline.frames:
        h.update(struct.pack("<d", t))
        h.update(vec.tobytes())
    return h.hexdigest()


def model_identity(platform: Platform, model_name: str | None) -> str:
    from framedex.models.llm import resolve_model

    s = platform.settings
    return json.dumps([resolve_model(s, model_name), str(s.llm_model_path or ""), s.llm_url or "", s.llm_context,
                       s.llm_prompt_budget])


def prepared_key(platform: Platform, timeline: Timeline, model_name: str | None) -> str:
    text = "\x00".join([content_digest(timeline), model_identity(platform, model_name), template_version()])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def blob_key(video_id: str, key: str) -> str:
    return f"videos/{video_id}/analysis/prepared-{key}.json"


def status_key(video_id: str) -> str:
    return f"videos/{video_id}/analysis/prepared-status.json"


# --- status ------------------------------------------------------------------------------------------


def status(platform: Platform, video_id: str) -> dict[str, Any]:
    """``{"status": "none" | "queued" | "preparing" | "prepared" | "failed", ...}`` for a video."""
    try:
        with platform.blobs.open(status_key(video_id)) as f:
            value = json.loads(f.read())
        return value if isinstance(value, dict) else {"status": "none"}
    except Exception:
        return {"status": "none"}


def _set_status(platform: Platform, video_id: str, state: str, **fields: Any) -> None:
    body = {"status": state, "updated_at": utcnow().isoformat(), **fields}
    with contextlib.suppress(Exception):  # a status that cannot be written must not fail the work it reports
        platform.blobs.put_bytes(status_key(video_id), json.dumps(body).encode())


# --- enqueue and the job -----------------------------------------------------------------------------


def wants_preparation(index: IndexRow) -> bool:
    from framedex.services.indexes import PEGASUS_MODELS

    return any(str(m.get("model_name", "")) in PEGASUS_MODELS or str(m.get("model_name", "")).startswith("pegasus")
               for m in index.models or [] if isinstance(m, dict))


def after_ready(platform: Platform, video_id: str) -> None:
    """Called by ingest once a video is ready: queue its preparation when its index has a pegasus model."""
    if not platform.settings.analysis_prepare:
        return
    try:
        with platform.store.session() as s:
            video = s.get(IndexedAssetRow, video_id)
            index = s.get(IndexRow, video.index_id) if video is not None else None
            if video is None or index is None or not wants_preparation(index):
                return
            platform.queue.enqueue(PREPARE_JOB, {"video_id": video_id}, session=s)
        # the key of what was prepared before stays in the status: the new preparation deletes those outputs
        previous = status(platform, video_id).get("key")
        _set_status(platform, video_id, "queued", **({"key": previous} if isinstance(previous, str) else {}))
    except Exception:  # the video is ready either way; it is answered on the slow path
        log.exception("could not queue the analysis preparation of video %s", video_id)


def _preempted(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, LLMPreempted):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class IngestActivity:
    """Whether videos are being validated or indexed (read from the queue at most every few seconds).

    Preparation waits for indexing: on 2 cores, llama.cpp's threads next to ingest's made both several times
    slower (bench/analysis_speed.py --real measured indexing at 0.24x real time beside a preparation, 0.52x alone),
    and ``ready`` is what users wait for first."""

    def __init__(self, platform: Platform, ttl: float = 2.0) -> None:
        self.platform, self.ttl = platform, ttl
        self._at, self._busy = -1e9, False

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self._at >= self.ttl:
            from sqlalchemy import func, select

            from framedex.services.indexing import INDEX_JOB
            from framedex.services.videos import VALIDATE_JOB
            from framedex.storage.tables import JobRow

            try:
                with self.platform.store.session() as s:
                    count = s.execute(select(func.count()).select_from(JobRow).where(
                        JobRow.kind.in_([VALIDATE_JOB, INDEX_JOB]), JobRow.status.in_(["queued", "running"])
                    )).scalar_one()
                self._busy = bool(count)
            except Exception:  # the queue briefly unavailable: keep the last answer
                log.debug("could not read the ingest queue", exc_info=True)
            self._at = now
        return self._busy


def _yielding(step: Callable[[], dict[str, Any]], ingest: Callable[[], bool]) -> dict[str, Any]:
    """Run a step once indexing is idle; when an interactive request or new indexing took the model, wait for
    it and run the step again."""
    while True:
        while ingest():
            time.sleep(_PREEMPT_PAUSE_SECONDS * 4)
        try:
            return step()
        except Exception as exc:
            if not _preempted(exc):
                raise
            log.info("analysis preparation yielded the model to an interactive request or to indexing")
            time.sleep(_PREEMPT_PAUSE_SECONDS)


def prepare_video(platform: Platform, video_id: str) -> dict[str, Any] | None:
    """Compute and store the default outputs (and the prompt state) of a ready video; idempotent."""
    from framedex.models import llm_state

    with platform.store.session() as s:
        row = s.get(IndexedAssetRow, video_id)
        if row is None or row.status != "ready":
            return None  # deleted, or being re-indexed (that run queues its own preparation)
        tenant_id = row.tenant_id
        timeline = load_timeline(platform, row)
    key = prepared_key(platform, timeline, DEFAULT_MODEL)
    if platform.blobs.exists(blob_key(video_id, key)):
        _set_status(platform, video_id, "prepared", key=key)
        return None
    previous = status(platform, video_id).get("key")
    _set_status(platform, video_id, "preparing", key=key)
    t0 = time.perf_counter()
    outputs: dict[str, Any] = {}
    steps: list[tuple[str, Callable[[], dict[str, Any]]]] = [  # each output in its stored form (outputs.py)
        ("summary", lambda: summarize(platform, tenant_id, SummarizeInput("summary", video_id=video_id)).to_record()),
        ("gist", lambda: gist(platform, tenant_id, GistInput(GIST_TYPES, video_id=video_id)).to_record()),
        ("highlight",
         lambda: summarize(platform, tenant_id, SummarizeInput("highlight", video_id=video_id)).to_record()),
        ("chapter", lambda: summarize(platform, tenant_id, SummarizeInput("chapter", video_id=video_id)).to_record()),
    ]
    ingest = IngestActivity(platform)
    try:
        with llm_state.background(yield_if=ingest):
            for name, step in steps:
                if name == "summary":
                    llm_state.persist_next()  # its prompt is the prefix every question on this video shares
                outputs[name] = _yielding(step, ingest)
    except Exception as exc:
        _set_status(platform, video_id, "failed", key=key, error=str(exc)[:500])
        raise
    seconds = time.perf_counter() - t0
    minutes = max(timeline.duration, 1.0) / 60
    record = {"key": key, "video_id": video_id, "template": template_version(), "outputs": outputs,
              "seconds": round(seconds, 2), "prepared_at": utcnow().isoformat()}
    platform.blobs.put_bytes(blob_key(video_id, key), json.dumps(record, ensure_ascii=False).encode())
    _set_status(platform, video_id, "prepared", key=key, seconds=round(seconds, 2))
    if isinstance(previous, str) and previous != key:  # outputs of older templates or code: never served again
        with contextlib.suppress(Exception):
            platform.blobs.delete(blob_key(video_id, previous))
    log.info("analysis of video %s prepared in %.1fs (%.1fs per video-minute): summary, gist, highlights, "
             "chapters, prompt state", video_id, seconds, seconds / minutes)
    return record


def job_handlers(platform: Platform) -> dict[str, JobHandler]:
    def run(job: Job) -> None:
        prepare_video(platform, job.payload["video_id"])

    def give_up(job: Job, reason: str) -> None:
        _set_status(platform, job.payload["video_id"], "failed", error=reason[:500])

    return {PREPARE_JOB: JobHandler(run, give_up)}


# --- answering from prepared outputs ------------------------------------------------------------------


def _ready_row(platform: Platform, tenant_id: str, video_id: Any, video: Any) -> IndexedAssetRow | None:
    """The ready video a request names by ``video_id`` or ``video.asset_id``; None for other inputs (they may
    need indexing first: the slow path handles them) and for every error (the slow path reports it)."""
    try:
        if video_id is not None and video is None:
            video_id = get_ready_video(platform, tenant_id, video_id).video_id
        else:
            if video_id is not None or not isinstance(video, dict) or not video.get("asset_id") \
                    or video.get("type", "asset_id") != "asset_id":
                return None
            found, _pending = _asset_video(platform, tenant_id, str(video["asset_id"]))
            if found is None or found.status != "ready":
                return None
            video_id = found.id
    except Exception:
        return None
    with platform.store.session() as s:
        row = s.get(IndexedAssetRow, video_id)
        if row is not None:
            s.expunge(row)
        return row


def _prepared(platform: Platform, row: IndexedAssetRow, model_name: str | None) -> dict[str, Any] | None:
    timeline = load_timeline(platform, row)
    key = prepared_key(platform, timeline, model_name)
    try:
        if not platform.blobs.exists(blob_key(row.id, key)):
            _refresh_outdated(platform, row.id, key, model_name)
            return None
        with platform.blobs.open(blob_key(row.id, key)) as f:
            record = json.loads(f.read())
        outputs = record["outputs"]
        return outputs if isinstance(outputs, dict) else None
    except Exception:  # unreadable: answer on the slow path (the blob is rewritten by the next preparation)
        log.warning("prepared analysis of video %s is unreadable", row.id, exc_info=True)
        return None


def _refresh_outdated(platform: Platform, video_id: str, key: str, model_name: str | None) -> None:
    """Outputs prepared under another key for unchanged content (framedex upgraded with other prompts or timeline
    code, the model file replaced) are prepared again, once, in the background; until then the video is answered
    on the slow path. A request for another model than the default does not count: preparation is for the
    default."""
    try:
        if model_identity(platform, model_name) != model_identity(platform, DEFAULT_MODEL):
            return
        state = status(platform, video_id)
        if state.get("status") != "prepared" or state.get("key") in (None, key):
            return
        log.info("prepared analysis of video %s is outdated (templates, timeline code or model changed); "
                 "preparing it again", video_id)
        after_ready(platform, video_id)
    except Exception:  # the request is answered on the slow path either way
        log.warning("could not queue the new preparation of video %s", video_id, exc_info=True)


def _fits(max_tokens: int | None, output_tokens: Any) -> bool:
    return max_tokens is None or not isinstance(output_tokens, int) or output_tokens <= max_tokens


def _stored(outputs: dict[str, Any] | None, name: str, read: Callable[[Any], T]) -> T | None:
    """The stored output ``name`` read with ``read``; None when absent or not in the stored form."""
    record = (outputs or {}).get(name)
    if not isinstance(record, dict):
        return None
    try:
        return read(record)
    except (KeyError, TypeError):  # not what preparation writes: answer on the slow path
        log.warning("prepared %s has an unexpected form", name)
        return None


def serve_summarize(platform: Platform, tenant_id: str, request: SummarizeInput) -> Summary | None:
    """The prepared ``/summarize`` answer for a default request (no instructions, schema or window), else None."""
    if not request.is_default:
        return None
    row = _ready_row(platform, tenant_id, request.video_id, request.video)
    outputs = _prepared(platform, row, request.model_name) if row is not None else None
    answer = _stored(outputs, request.kind, Summary.from_record)
    if row is None or answer is None:
        return None
    if not _fits(request.max_tokens, answer.usage.output_tokens):
        return None
    log.info("served prepared %s for video %s", request.kind, row.id)
    return replace(answer, id=str(uuid.uuid4()))


def serve_gist(platform: Platform, tenant_id: str, request: GistInput) -> Gist | None:
    row = _ready_row(platform, tenant_id, request.video_id, request.video)
    outputs = _prepared(platform, row, request.model_name) if row is not None else None
    answer = _stored(outputs, "gist", Gist.from_record)
    if row is None or answer is None or not answer.has(request.types):
        return None
    log.info("served prepared gist for video %s", row.id)
    return replace(answer.only(request.types), id=str(uuid.uuid4()))


def serve_analysis(job: Any, on_text: Callable[[str], Any] | None) -> Any:
    """The prepared summary for an ``/analyze`` request with the default summary prompt (an ``Analysis``),
    as its ``Result``; None for every other request."""
    opts = job.options
    if (opts.json_schema is not None or opts.start_time is not None or opts.end_time is not None
            or opts.prompt.strip() != SUMMARY_PROMPT):
        return None
    with job.platform.store.session() as s:
        row = s.get(IndexedAssetRow, job.video.video_id)
        if row is None:
            return None
        s.expunge(row)
    answer = _stored(_prepared(job.platform, row, opts.model_name), "summary", Summary.from_record)
    if answer is None or not isinstance(answer.text, str):
        return None
    if not _fits(opts.max_tokens, answer.usage.output_tokens):
        return None
    if on_text is not None:
        on_text(answer.text)
    log.info("served prepared summary for video %s", row.id)
    return Result(job.generation_id, answer.text, "stop", answer.usage.input_tokens, answer.usage.output_tokens,
                  time_to_first_token=0.0)
