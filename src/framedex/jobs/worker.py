"""Worker loop: claim a job, keep its lease alive, run its handler, report the outcome.

A handler's exception fails only that job (retried when the error is transient); the
worker itself keeps going. A job whose earlier attempts all died without reporting
(poison input that kills the process) is handed to the handler's `give_up`.

A job stops early, at the next `checkpoint()` its handler passes, when the worker is shutting down
(the job is released: the attempt does not count and it is claimable at once) or when the heartbeat
finds the lease taken by another worker (this worker drops the job without reporting, so it never
runs twice to completion).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from framedex.domain_errors import PermanentJobError
from framedex.ids import new_id
from framedex.jobs.queue import Job, JobQueue

log = logging.getLogger("framedex.worker")


class TransientJobError(Exception):
    """The job may succeed on a retry; its text is written for the client, which sees it after the last one."""


class JobInterrupted(Exception):
    """Raised by `checkpoint()`: this worker must stop the job now (shutdown, or its lease is gone)."""


_running = threading.local()


def checkpoint() -> None:
    """Long handlers call this between steps; it raises `JobInterrupted` when the job must stop.
    Outside a worker thread it does nothing."""
    should_stop: Callable[[], str | None] | None = getattr(_running, "should_stop", None)
    reason = should_stop() if should_stop is not None else None
    if reason is not None:
        raise JobInterrupted(reason)


@dataclass(frozen=True)
class JobHandler:
    run: Callable[[Job], None]
    give_up: Callable[[Job, str], None]


class Worker:
    def __init__(self, queue: JobQueue, handlers: Mapping[str, JobHandler], *,
                 poll_seconds: float = 0.5, heartbeat_seconds: float = 10.0, name: str | None = None) -> None:
        self.queue = queue
        self.handlers = dict(handlers)
        self.poll_seconds = poll_seconds
        # At least three beats per lease, so one slow beat (a busy database) never loses the lease.
        self.heartbeat_seconds = min(heartbeat_seconds, queue.lease_seconds / 3)
        self.owner = name or f"{socket.gethostname()}:{os.getpid()}:{new_id()[-6:]}"
        self.stop_event = threading.Event()
        self.current: Job | None = None
        self._current_lock = threading.Lock()

    def run_forever(self) -> None:
        log.info("worker %s started (kinds: %s)", self.owner, ", ".join(self.handlers))
        while not self.stop_event.is_set():
            try:
                ran = self.run_once()
            except Exception:  # the queue itself failed (e.g. DB briefly locked): back off, keep going
                log.exception("worker %s: queue error", self.owner)
                ran = False
            if not ran:
                self.stop_event.wait(self.poll_seconds)
        log.info("worker %s stopped", self.owner)

    def run_once(self) -> bool:
        job = self.queue.claim(self.owner, list(self.handlers))
        if job is None:
            return False
        handler = self.handlers[job.kind]
        if job.exhausted:
            log.warning("job %s (%s) gave up after %d attempts", job.id, job.kind, job.max_attempts)
            handler.give_up(job, "processing was interrupted repeatedly; giving up")
            self.queue.fail(job.id, self.owner, "attempts exhausted", retry=False)
            return True
        with self._current_lock:
            self.current = job
        stop_beat = threading.Event()
        lease_lost = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job, stop_beat, lease_lost), daemon=True)
        beat.start()

        def should_stop() -> str | None:
            if lease_lost.is_set():
                return "the job's lease was taken over by another worker"
            if self.stop_event.is_set():
                return "the worker is shutting down"
            return None

        _running.should_stop = should_stop
        started = time.monotonic()
        try:
            log.info("job %s (%s) attempt %d started", job.id, job.kind, job.attempts)
            handler.run(job)
        except JobInterrupted as exc:
            if lease_lost.is_set():
                log.warning("job %s (%s) stopped: %s", job.id, job.kind, exc)
            elif self.queue.release(job.id, self.owner):
                log.info("job %s (%s) released unfinished: %s", job.id, job.kind, exc)
        except PermanentJobError as exc:
            log.info("job %s (%s) failed permanently: %s", job.id, job.kind, exc)
            if not lease_lost.is_set():  # the new owner decides the outcome now
                handler.give_up(job, str(exc))
                self.queue.fail(job.id, self.owner, str(exc), retry=False)
        except Exception as exc:
            log.exception("job %s (%s) failed", job.id, job.kind)
            last = job.attempts >= job.max_attempts
            if not lease_lost.is_set():
                if last:
                    # A raw exception's text can name paths, SQL or addresses on this server (review #18): the
                    # client gets a reason written for it, the log (above) gets the rest.
                    reason = str(exc) if isinstance(exc, TransientJobError) else f"internal error (job {job.id})"
                    handler.give_up(job, reason)
                self.queue.fail(job.id, self.owner, repr(exc), retry=not last)
        else:
            if self.queue.complete(job.id, self.owner):
                log.info("job %s (%s) done in %.1fs", job.id, job.kind, time.monotonic() - started)
            else:
                log.warning("job %s (%s) finished after losing its lease; not marked done", job.id, job.kind)
        finally:
            _running.should_stop = None
            with self._current_lock:
                self.current = None
            stop_beat.set()
            beat.join()
        return True

    def release_current(self) -> None:
        """Give back the job still running at shutdown (its thread did not reach a checkpoint in
        time and dies with the process): the attempt is not counted and the next start resumes it."""
        with self._current_lock:
            job = self.current
        if job is not None and self.queue.release(job.id, self.owner):
            log.info("job %s (%s) released at shutdown", job.id, job.kind)

    def _heartbeat(self, job: Job, stop: threading.Event, lease_lost: threading.Event) -> None:
        while not stop.wait(self.heartbeat_seconds):
            try:
                if not self.queue.heartbeat(job.id, self.owner):
                    log.warning("job %s lost its lease; stopping it at the next checkpoint", job.id)
                    lease_lost.set()
                    return
            except Exception:  # a busy database: the next beat, well inside the lease, retries
                log.exception("heartbeat for job %s failed", job.id)


class WorkerPool:
    """N worker threads inside one process (`framedex serve` or `framedex worker`)."""

    def __init__(self, factory: Callable[[int], Worker], count: int) -> None:
        self.workers = [factory(i) for i in range(count)]
        self.threads: list[threading.Thread] = []
        self.on_stop: list[Callable[[], None]] = []  # companions to stop with the pool (upkeep threads)

    def start(self) -> None:
        for w in self.workers:
            t = threading.Thread(target=w.run_forever, name=f"framedex-{w.owner}", daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        for w in self.workers:
            w.stop_event.set()
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.0, deadline - time.monotonic()))
        for w in self.workers:
            w.release_current()
        for stop in self.on_stop:
            stop()
