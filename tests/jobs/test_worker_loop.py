"""The worker loop (`jobs.worker.Worker.run_once`) against the embedded SQL queue: it claims a job, runs its
handler, completes it; an error is retried until the job's attempts run out, then the handler gives up;
a `PermanentJobError` is never retried; a job whose earlier attempts died silently is given up on claim."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from framedex.domain_errors import PermanentJobError
from framedex.jobs.queue import Job, SqlJobQueue
from framedex.jobs.worker import JobHandler, TransientJobError, Worker
from framedex.storage.metadata import SqlMetadataStore
from framedex.storage.tables import JobRow


class Recorder:
    def __init__(self, behaviour: list[Exception | None]) -> None:
        self.behaviour = list(behaviour)
        self.runs: list[Job] = []
        self.given_up: list[tuple[str, str]] = []

    def run(self, job: Job) -> None:
        self.runs.append(job)
        outcome = self.behaviour.pop(0) if self.behaviour else None
        if outcome is not None:
            raise outcome

    def give_up(self, job: Job, reason: str) -> None:
        self.given_up.append((job.id, reason))

    def handler(self) -> JobHandler:
        return JobHandler(self.run, self.give_up)


@pytest.fixture()
def queue(tmp_path: Path) -> SqlJobQueue:
    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    store.create_schema()
    return SqlJobQueue(store, lease_seconds=30, max_attempts=3, retry_backoff_seconds=0)


def _row(queue: SqlJobQueue, job_id: str) -> JobRow:
    with queue.store.session() as s:
        row = s.get(JobRow, job_id)
        assert row is not None
        return row


def test_idle_worker_reports_no_work(queue: SqlJobQueue) -> None:
    assert Worker(queue, {"noop": Recorder([]).handler()}).run_once() is False


def test_claims_runs_and_completes(queue: SqlJobQueue) -> None:
    rec = Recorder([None])
    job_id = queue.enqueue("greet", {"name": "ada"})
    assert Worker(queue, {"greet": rec.handler()}, name="w1").run_once() is True
    assert [(j.id, j.payload, j.attempts) for j in rec.runs] == [(job_id, {"name": "ada"}, 1)]
    row = _row(queue, job_id)
    assert (row.status, row.lease_expires_at, rec.given_up) == ("done", None, [])
    assert queue.pending_count() == 0


def test_only_claims_kinds_it_handles(queue: SqlJobQueue) -> None:
    other = queue.enqueue("other", {})
    assert Worker(queue, {"greet": Recorder([]).handler()}).run_once() is False
    assert _row(queue, other).status == "queued"


def test_errors_are_retried_then_given_up(queue: SqlJobQueue) -> None:
    rec = Recorder([RuntimeError("flaky"), RuntimeError("flaky"), RuntimeError("still broken")])
    job_id = queue.enqueue("work", {})
    worker = Worker(queue, {"work": rec.handler()}, name="w1")
    assert worker.run_once()
    row = _row(queue, job_id)
    assert (row.status, row.attempts) == ("queued", 1) and "flaky" in (row.last_error or "")
    assert rec.given_up == []
    assert worker.run_once() and _row(queue, job_id).status == "queued"
    assert worker.run_once()
    row = _row(queue, job_id)
    assert (row.status, row.attempts) == ("failed", 3)
    assert [j.attempts for j in rec.runs] == [1, 2, 3]
    assert rec.given_up == [(job_id, f"internal error (job {job_id})")]  # the raw text stays in the log
    assert worker.run_once() is False


def test_a_transient_error_gives_its_own_reason_after_the_last_attempt(queue: SqlJobQueue) -> None:
    rec = Recorder([TransientJobError("the URL timed out")] * 3)
    job_id = queue.enqueue("work", {})
    worker = Worker(queue, {"work": rec.handler()})
    assert worker.run_once() and worker.run_once() and worker.run_once()
    assert rec.given_up == [(job_id, "the URL timed out")]
    assert _row(queue, job_id).status == "failed"


def test_a_retry_that_succeeds_completes(queue: SqlJobQueue) -> None:
    rec = Recorder([RuntimeError("flaky"), None])
    job_id = queue.enqueue("work", {})
    worker = Worker(queue, {"work": rec.handler()})
    assert worker.run_once() and worker.run_once()
    assert _row(queue, job_id).status == "done" and rec.given_up == []


def test_permanent_errors_are_not_retried(queue: SqlJobQueue) -> None:
    rec = Recorder([PermanentJobError("the file is not a video")])
    job_id = queue.enqueue("work", {})
    assert Worker(queue, {"work": rec.handler()}).run_once()
    row = _row(queue, job_id)
    assert (row.status, row.attempts) == ("failed", 1)
    assert rec.given_up == [(job_id, "the file is not a video")]


def test_job_whose_attempts_died_silently_is_given_up_without_running(queue: SqlJobQueue) -> None:
    """A worker killed mid-job leaves its lease to expire; after max_attempts such deaths the next claim
    gives up instead of running the job again."""
    rec = Recorder([])
    job_id = queue.enqueue("work", {})
    with queue.store.session() as s:
        s.execute(update(JobRow).where(JobRow.id == job_id).values(attempts=3))
    assert Worker(queue, {"work": rec.handler()}).run_once()
    assert rec.runs == []
    assert rec.given_up == [(job_id, "processing was interrupted repeatedly; giving up")]
    assert _row(queue, job_id).status == "failed"
