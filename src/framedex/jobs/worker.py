"""Worker loop: claim a job, keep its lease alive, run its handler, report the outcome.

A handler's exception fails only that job (retried when the error is transient); the
worker itself keeps going. A job whose earlier attempts all died without reporting
(poison input that kills the process) is handed to the handler's `give_up`.
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
        self.heartbeat_seconds = heartbeat_seconds
        self.owner = name or f"{socket.gethostname()}:{os.getpid()}:{new_id()[-6:]}"
        self.stop_event = threading.Event()

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
        stop_beat = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job, stop_beat), daemon=True)
        beat.start()
        started = time.monotonic()
        try:
            log.info("job %s (%s) attempt %d started", job.id, job.kind, job.attempts)
            handler.run(job)
        except PermanentJobError as exc:
            log.info("job %s (%s) failed permanently: %s", job.id, job.kind, exc)
            handler.give_up(job, str(exc))
            self.queue.fail(job.id, self.owner, str(exc), retry=False)
        except Exception as exc:
            log.exception("job %s (%s) failed", job.id, job.kind)
            last = job.attempts >= job.max_attempts
            if last:
                # A raw exception's text can name paths, SQL or addresses on this server (review #18): the
                # client gets a reason written for it, the log (above) gets the rest.
                reason = str(exc) if isinstance(exc, TransientJobError) else f"internal error (job {job.id})"
                handler.give_up(job, reason)
            self.queue.fail(job.id, self.owner, repr(exc), retry=not last)
        else:
            self.queue.complete(job.id, self.owner)
            log.info("job %s (%s) done in %.1fs", job.id, job.kind, time.monotonic() - started)
        finally:
            stop_beat.set()
            beat.join()
        return True

    def _heartbeat(self, job: Job, stop: threading.Event) -> None:
        while not stop.wait(self.heartbeat_seconds):
            try:
                self.queue.heartbeat(job.id, self.owner)
            except Exception:
                log.exception("heartbeat for job %s failed", job.id)


class WorkerPool:
    """N worker threads inside one process (`framedex serve` or `framedex worker`)."""

    def __init__(self, factory: Callable[[int], Worker], count: int) -> None:
        self.workers = [factory(i) for i in range(count)]
        self.threads: list[threading.Thread] = []

    def start(self) -> None:
        for w in self.workers:
            t = threading.Thread(target=w.run_forever, name=f"framedex-{w.owner}", daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self, timeout: float = 10.0) -> None:
        for w in self.workers:
            w.stop_event.set()
        for t in self.threads:
            t.join(timeout)
