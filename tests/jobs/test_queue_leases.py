"""Leases: a worker that lost its job stops and cannot report over the new owner; a graceful stop
gives the job back without spending an attempt."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from framedex.jobs.queue import Job, SqlJobQueue
from framedex.jobs.worker import JobHandler, Worker, WorkerPool, checkpoint
from framedex.storage.metadata import SqlMetadataStore
from framedex.storage.tables import JobRow


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlMetadataStore]:
    store = SqlMetadataStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    store.create_schema()
    yield store
    store.dispose()


def row(store: SqlMetadataStore, job_id: str) -> JobRow:
    with store.session() as s:
        found = s.get(JobRow, job_id)
        assert found is not None
        return found


def test_reports_of_a_worker_that_lost_its_lease_change_nothing(store: SqlMetadataStore) -> None:
    queue = SqlJobQueue(store, lease_seconds=0.2, retry_backoff_seconds=0.0)
    job_id = queue.enqueue("work", {})
    assert queue.claim("old") is not None
    time.sleep(0.3)
    assert queue.claim("new") is not None  # the lease ran out: taken over
    assert not queue.heartbeat(job_id, "old")
    assert not queue.complete(job_id, "old")
    assert not queue.fail(job_id, "old", "late failure", retry=False)
    assert not queue.release(job_id, "old")
    current = row(store, job_id)
    assert (current.status, current.lease_owner, current.last_error) == ("running", "new", None)
    assert queue.complete(job_id, "new")
    assert row(store, job_id).status == "done"
    assert not queue.complete(job_id, "new")  # only a running job completes


def test_release_does_not_spend_an_attempt(store: SqlMetadataStore) -> None:
    queue = SqlJobQueue(store, lease_seconds=60, max_attempts=2)
    job_id = queue.enqueue("work", {})
    for _ in range(5):  # five graceful restarts of a two-attempt job
        job = queue.claim("w")
        assert job is not None and job.attempts == 1 and not job.exhausted
        assert queue.release(job_id, "w")
    released = row(store, job_id)
    assert (released.status, released.attempts, released.lease_owner) == ("queued", 0, None)


def test_purge_finished_keeps_pending_and_recent_jobs(store: SqlMetadataStore) -> None:
    from datetime import timedelta

    queue = SqlJobQueue(store)
    done, failed, pending, recent = (queue.enqueue("work", {"n": i}) for i in range(4))
    with store.session() as s:
        for job_id, status in ((done, "done"), (failed, "failed"), (recent, "done")):
            r = s.get(JobRow, job_id)
            assert r is not None
            r.status = status
    with store.session() as s:  # age two of them past the retention
        for job_id in (done, failed, pending):
            r = s.get(JobRow, job_id)
            assert r is not None
            r.updated_at = r.updated_at - timedelta(days=30)
    assert queue.purge_finished(timedelta(days=7)) == 2
    with store.session() as s:
        assert {r.id for r in s.query(JobRow)} == {pending, recent}


def test_worker_stops_a_job_whose_lease_was_taken(store: SqlMetadataStore) -> None:
    queue = SqlJobQueue(store, lease_seconds=0.6)
    job_id = queue.enqueue("work", {})
    steps: list[int] = []
    stolen = threading.Event()

    def run(job: Job) -> None:
        for i in range(100):
            checkpoint()
            steps.append(i)
            if i == 2:  # another worker takes the job over, as after a long stall
                with store.session() as s:
                    r = s.get(JobRow, job.id)
                    assert r is not None
                    r.lease_owner = "thief"
                stolen.set()
            time.sleep(0.05)

    worker = Worker(queue, {"work": JobHandler(run, lambda job, why: None)}, name="victim")
    assert worker.heartbeat_seconds == pytest.approx(0.2)  # a third of the lease
    assert worker.run_once()
    assert stolen.is_set() and len(steps) < 30  # stopped at a checkpoint soon after the next beat
    r = row(store, job_id)
    assert (r.status, r.lease_owner) == ("running", "thief")  # the new owner's job, untouched


def test_graceful_stop_releases_the_running_job(store: SqlMetadataStore) -> None:
    queue = SqlJobQueue(store, lease_seconds=30, max_attempts=1)
    job_id = queue.enqueue("work", {})
    started = threading.Event()

    def run(job: Job) -> None:
        started.set()
        while True:
            checkpoint()
            time.sleep(0.02)

    pool = WorkerPool(lambda i: Worker(queue, {"work": JobHandler(run, lambda job, why: None)},
                                       poll_seconds=0.05), 1)
    pool.start()
    assert started.wait(10)
    pool.stop(timeout=5)
    r = row(store, job_id)
    assert (r.status, r.attempts, r.lease_owner) == ("queued", 0, None)
    again = queue.claim("next")  # claimable at once, and its one attempt is still there
    assert again is not None and not again.exhausted


def test_stop_releases_a_job_that_never_reaches_a_checkpoint(store: SqlMetadataStore) -> None:
    queue = SqlJobQueue(store, lease_seconds=30)
    job_id = queue.enqueue("work", {})
    started, finish = threading.Event(), threading.Event()

    def run(job: Job) -> None:  # one long step, as a single decode of a long video
        started.set()
        finish.wait(10)

    pool = WorkerPool(lambda i: Worker(queue, {"work": JobHandler(run, lambda job, why: None)},
                                       poll_seconds=0.05), 1)
    pool.start()
    assert started.wait(10)
    pool.stop(timeout=0.3)
    r = row(store, job_id)
    assert (r.status, r.attempts) == ("queued", 0)
    finish.set()
    pool.threads[0].join(5)
    assert row(store, job_id).status == "queued"  # its late success was not recorded over the release
