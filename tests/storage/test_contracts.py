"""Contract tests for the storage and queue ports. Every adapter must pass them; the fixtures
list the adapters: embedded ones and the scale-out ones on real PostgreSQL, Redis and S3 servers started
by the session fixtures of tests/storage/conftest.py."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from framedex.ids import new_id, utcnow
from framedex.jobs.queue import JobQueue, SqlJobQueue
from framedex.jobs.queue_redis import RedisJobQueue
from framedex.storage.blobs import BlobStore, BlobTooLarge, LocalBlobStore
from framedex.storage.blobs_s3 import MIB, S3BlobStore
from framedex.storage.lexical import fts_stages, lexical_index_for
from framedex.storage.metadata import SqlMetadataStore
from framedex.storage.tables import IndexedAssetRow, IndexRow, JobRow, Tenant
from tests.servers import Server


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlMetadataStore]:
    if request.param == "postgres":
        s = SqlMetadataStore(request.getfixturevalue("postgres_url"))
    else:
        s = SqlMetadataStore(f"sqlite:///{tmp_path / 'meta.db'}")
    s.create_schema()
    yield s
    s.dispose()


@pytest.fixture(params=["local", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "s3":
        server = request.getfixturevalue("s3_server")
        # a bucket per test, and the smallest parts S3 allows, so that multipart paths run on small data
        return S3BlobStore(f"{server.url}/t{uuid.uuid4().hex[:12]}/pre", cache_dir=tmp_path / "cache",
                           part_size=5 * MIB, multipart_threshold=5 * MIB)
    return LocalBlobStore(tmp_path / "blobs")


# --- MetadataStore ---------------------------------------------------------------------------------


def test_metadata_commits_and_rolls_back(store: SqlMetadataStore) -> None:
    with store.session() as s:
        s.add(Tenant(id=new_id(), name="kept"))
    with pytest.raises(RuntimeError), store.session() as s:
        s.add(Tenant(id=new_id(), name="dropped"))
        s.flush()
        raise RuntimeError("boom")
    with store.session() as s:
        assert [t.name for t in s.scalars(select(Tenant))] == ["kept"]


def test_metadata_refuses_strings_longer_than_their_column(store: SqlMetadataStore) -> None:
    """The same refusal on both dialects, before any SQL runs: PostgreSQL would fail the statement, SQLite
    would store the value."""
    from framedex.domain_errors import InvalidParameter

    with pytest.raises(InvalidParameter, match="at most 200 characters"), store.session() as s:
        s.add(Tenant(id=new_id(), name="x" * 201))
    tenant = Tenant(id=new_id(), name="x" * 200)
    with store.session() as s:
        s.add(tenant)
    with pytest.raises(InvalidParameter, match="name"), store.session() as s:
        row = s.get(Tenant, tenant.id)
        assert row is not None
        row.name = "y" * 300
    with store.session() as s:
        assert s.get(Tenant, tenant.id).name == "x" * 200  # type: ignore[union-attr]
    with pytest.raises(InvalidParameter, match="NUL"), store.session() as s:
        s.add(Tenant(id=new_id(), name="nul\x00name"))
    job = JobRow(id=new_id(), kind="k", payload={}, status="failed", last_error="said\x00 this")
    with store.session() as s:  # unbounded text (transcripts, OCR, errors) loses its NULs instead
        s.add(job)
    with store.session() as s:
        assert s.get(JobRow, job.id).last_error == "said this"  # type: ignore[union-attr]


def test_metadata_cascades_index_delete(store: SqlMetadataStore) -> None:
    tid, iid = new_id(), new_id()
    with store.session() as s:
        s.add(Tenant(id=tid, name="t"))
        s.flush()
        s.add(IndexRow(id=iid, tenant_id=tid, name="i", models=[], addons=[]))
        s.flush()
        from framedex.storage.tables import AssetRow

        s.add(AssetRow(id="a" * 24, tenant_id=tid, method="direct", status="ready"))
        s.flush()
        s.add(IndexedAssetRow(id="b" * 24, tenant_id=tid, index_id=iid, asset_id="a" * 24, status="ready"))
    with store.session() as s:
        s.delete(s.get(IndexRow, iid))
    with store.session() as s:
        assert s.get(IndexedAssetRow, "b" * 24) is None


def test_metadata_times_are_utc(store: SqlMetadataStore) -> None:
    with store.session() as s:
        s.add(Tenant(id="c" * 24, name="t"))
    with store.session() as s:
        row = s.get(Tenant, "c" * 24)
        assert row is not None and row.created_at.utcoffset() == timedelta(0)
        assert abs((utcnow() - row.created_at).total_seconds()) < 5


# --- LexicalIndex ----------------------------------------------------------------------------------


def test_lexical_ranks_phrase_and_stems(store: SqlMetadataStore) -> None:
    lexical = lexical_index_for(store.dialect)
    with store.session() as s:
        docs = {1: "the runners were running along the river", 2: "a river of red lava",
                3: "nothing to see here", 4: "Café society in Zürich"}
        for seg, text in docs.items():
            lexical.add(s, tenant_id="t", index_id="i", video_id=f"v{seg}", segment_id=seg, content=text)
        lexical.add(s, tenant_id="other", index_id="i", video_id="vx", segment_id=9, content="river running")
    with store.session() as s:
        hits = lexical.search(s, tenant_id="t", index_id="i", query="run river", limit=10)
        assert [h.segment_id for h in hits][:1] == [1]  # stemming: run ~ running/runners
        assert 9 not in {h.segment_id for h in hits}  # another tenant's rows never match
        assert {h.segment_id for h in lexical.search(s, tenant_id="t", index_id="i", query="cafe zurich",
                                                      limit=5)} == {4}
        assert lexical.search(s, tenant_id="t", index_id="i", query='") OR NEAR(x', limit=5) == []
        lexical.delete_video(s, "v1")
        assert 1 not in {h.segment_id for h in lexical.search(s, tenant_id="t", index_id="i", query="river",
                                                               limit=5)}


def test_fts_stages_quote_every_token() -> None:
    assert fts_stages("hello") == ['"hello"']
    assert fts_stages("  ") == []
    stages = fts_stages('a" OR b*')
    assert stages == ['"a or b"', '"a" AND "or" AND "b"', '"a" OR "or" OR "b"']  # operators are only words
    # function words only inside the phrase, unless there is nothing else
    assert fts_stages("the river of life", {"the", "of"}) == ['"the river of life"', '"river" AND "life"',
                                                             '"river" OR "life"']
    assert fts_stages("the river", {"the"}) == ['"the river"', '"river"']
    assert fts_stages("to be or", {"to", "be", "or"}) == ['"to be or"', '"to" AND "be" AND "or"',
                                                         '"to" OR "be" OR "or"']


def test_lexical_stages_stop_when_the_phrase_is_enough(store: SqlMetadataStore) -> None:
    lexical = lexical_index_for(store.dialect)
    with store.session() as s:
        texts = ["red river valley", "the river is red", "a red car", "river boats", "red river valley again"]
        for seg, content in enumerate(texts, start=1):
            lexical.add(s, tenant_id="t", index_id="i", video_id=f"v{seg}", segment_id=seg, content=content)
    with store.session() as s:
        assert {h.segment_id for h in lexical.search(s, tenant_id="t", index_id="i", query="red river valley",
                                                      limit=2)} == {1, 5}
        found = [h.segment_id for h in lexical.search(s, tenant_id="t", index_id="i", query="red river", limit=10)]
        assert set(found[:2]) == {1, 5} and found[2] == 2 and set(found[3:]) == {3, 4}


# --- BlobStore -------------------------------------------------------------------------------------


def test_blobs_roundtrip_concat_delete(blobs: BlobStore) -> None:
    size, md5 = blobs.put_stream("a/b/one", io.BytesIO(b"hello "))
    assert size == 6 and len(md5) == 32
    blobs.put_bytes("a/b/two", b"world")
    assert blobs.concat("a/joined", ["a/b/one", "a/b/two"]) == 11
    with blobs.open("a/joined") as f:
        assert f.read() == b"hello world"
    assert blobs.exists("a/joined") and blobs.size("a/joined") == 11
    blobs.delete_prefix("a/b")
    assert not blobs.exists("a/b/one") and blobs.exists("a/joined")
    blobs.delete("a/joined")
    assert not blobs.exists("a/joined")


def test_blobs_enforce_limits_atomically(blobs: BlobStore) -> None:
    with pytest.raises(BlobTooLarge):
        blobs.put_stream("big", io.BytesIO(b"x" * 5000), max_bytes=4096)
    assert not blobs.exists("big")
    for key in ("../escape", "/abs", "a//b", ""):
        with pytest.raises(ValueError):
            blobs.put_bytes(key, b"x")


def test_blobs_large_streams_concat_and_local_path(blobs: BlobStore) -> None:
    big = os.urandom(3 * MIB) * 4  # 12 MiB: multipart on S3 (5 MiB parts)
    size, md5 = blobs.put_stream("m/big", io.BytesIO(big))
    assert size == len(big) and md5 == hashlib.md5(big, usedforsecurity=False).hexdigest()
    blobs.put_bytes("m/small", b"tail")
    # a large part (server-side copy on S3), a small one in the middle (re-uploaded), a large one again
    assert blobs.concat("m/joined", ["m/big", "m/small", "m/big"]) == 2 * len(big) + 4
    with blobs.open("m/joined") as f:
        head = f.read(len(big))
        assert head == big and f.read(4) == b"tail" and f.read() == big
    path = blobs.local_path("m/joined")
    assert path.stat().st_size == 2 * len(big) + 4
    blobs.put_bytes("m/joined", b"replaced")  # a replaced object is never served from a stale copy
    assert blobs.local_path("m/joined").read_bytes() == b"replaced"
    with blobs.open_range("m/big", 10, 19) as f:  # a reader stops after end - start + 1 bytes
        assert f.read(10) == big[10:20]
    with blobs.open_range("m/big", len(big) - 5) as f:  # to the end
        assert f.read() == big[-5:]


def test_blobs_ready_and_sweep_keep_live_writes(blobs: BlobStore) -> None:
    """The readiness probe answers; a sweep removes nothing a live writer or a finished write owns."""
    assert blobs.ready()
    blobs.put_bytes("kept", b"data")
    assert blobs.sweep_temp() == 0
    assert blobs.exists("kept")


def test_blobs_list_groups_with_their_newest_change(blobs: BlobStore) -> None:
    before = time.time() - 5
    blobs.put_bytes("assets/one/original", b"1")
    blobs.put_bytes("assets/one/thumbs/0.jpg", b"2")
    blobs.put_bytes("assets/two", b"3")  # a blob directly under the prefix is a group too
    blobs.put_bytes("other/three/x", b"4")
    groups = blobs.list_groups("assets")
    assert set(groups) == {"one", "two"}
    assert all(before < t < time.time() + 5 for t in groups.values())
    assert blobs.list_groups("missing") == {}


def test_s3_download_cache_stays_bounded(s3_server: Server, tmp_path: Path) -> None:
    """Media read as files (ffmpeg, PyAV) are downloaded once per process; the least recently used copies go
    when the cache passes its bound, never the one just fetched."""
    store = S3BlobStore(f"{s3_server.url}/t{uuid.uuid4().hex[:12]}/pre", cache_dir=tmp_path / "cache",
                        cache_max_bytes=2500)
    for name in ("a", "b", "c"):
        store.put_bytes(name, name.encode() * 1000)
    first = store.local_path("a")
    time.sleep(0.01)
    store.local_path("b")
    time.sleep(0.01)
    third = store.local_path("c")  # 3000 bytes cached > 2500: the oldest ("a") goes
    assert not first.exists() and third.read_bytes() == b"c" * 1000
    assert store.local_path("a").read_bytes() == b"a" * 1000  # fetched again on demand


def test_s3_sweep_aborts_abandoned_multipart_uploads(s3_server: Server, monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    """A process killed mid-upload leaves an unfinished multipart upload (never a visible object); the sweep
    aborts it once it is older than any real upload takes."""
    from framedex.storage import blobs as blobs_module

    store = S3BlobStore(f"{s3_server.url}/t{uuid.uuid4().hex[:12]}/pre", cache_dir=tmp_path)
    store.s3.create_multipart_upload(Bucket=store.bucket, Key=store._key("half/written"))
    assert store.sweep_temp() == 0  # fresh: may belong to a live writer
    monkeypatch.setattr(blobs_module, "TMP_MAX_AGE_SECONDS", -60.0)
    assert store.sweep_temp() == 1
    assert store.s3.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []


# --- JobQueue --------------------------------------------------------------------------------------

MakeQueue = Callable[..., JobQueue]


@pytest.fixture(params=["sql", "redis"])
def make_queue(request: pytest.FixtureRequest, store: SqlMetadataStore) -> Iterator[MakeQueue]:
    """Queues on the `store` under test (SQLite or PostgreSQL): the SQL queue, or Redis dispatch with the
    job state in that store (a fresh key namespace per test on the session's Redis)."""
    made: list[RedisJobQueue] = []

    def make(**options: Any) -> JobQueue:
        if request.param == "sql":
            return SqlJobQueue(store, **options)
        url = request.getfixturevalue("redis_server").url
        queue = RedisJobQueue(store, url, namespace=f"t{uuid.uuid4().hex[:12]}", **options)
        made.append(queue)
        return queue

    yield make
    for queue in made:
        queue.close()


def test_queue_claims_each_job_once(make_queue: MakeQueue) -> None:
    queue = make_queue(lease_seconds=30)
    ids = {queue.enqueue("work", {"n": i}) for i in range(20)}
    claimed: list[str] = []
    lock = threading.Lock()

    def grab(owner: str) -> None:
        while (job := queue.claim(owner)) is not None:
            with lock:
                claimed.append(job.id)
            queue.complete(job.id, owner)

    threads = [threading.Thread(target=grab, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids)
    assert queue.pending_count() == 0


def test_queue_reclaims_expired_lease_and_gives_up(make_queue: MakeQueue) -> None:
    queue = make_queue(lease_seconds=0.2, max_attempts=2)
    job_id = queue.enqueue("work", {})
    first = queue.claim("dead-worker")
    assert first is not None and first.attempts == 1
    assert queue.claim("other") is None  # leased
    time.sleep(0.3)
    second = queue.claim("other")
    assert second is not None and second.id == job_id and second.attempts == 2 and not second.exhausted
    time.sleep(0.3)
    third = queue.claim("third")
    assert third is not None and third.exhausted  # died every time: the handler must give up
    assert not queue.heartbeat(job_id, "dead-worker")  # the old owner lost its lease


def test_queue_retry_and_fail(store: SqlMetadataStore, make_queue: MakeQueue) -> None:
    queue = make_queue(lease_seconds=30, max_attempts=2, retry_backoff_seconds=0.0)
    job_id = queue.enqueue("work", {"x": 1})
    job = queue.claim("w")
    assert job is not None
    queue.fail(job.id, "w", "transient", retry=True)
    again = queue.claim("w")
    assert again is not None and again.payload == {"x": 1}
    queue.fail(again.id, "w", "still broken", retry=True)  # attempts exhausted: no retry
    assert queue.claim("w") is None
    with store.session() as s:
        row = s.get(JobRow, job_id)
        assert row is not None and row.status == "failed" and row.last_error == "still broken"


def test_queue_enqueue_joins_the_callers_transaction(store: SqlMetadataStore, make_queue: MakeQueue) -> None:
    queue = make_queue()
    with pytest.raises(RuntimeError), store.session() as s:
        queue.enqueue("work", {}, session=s)
        raise RuntimeError("rolled back")
    assert queue.claim("w") is None
    with store.session() as s:  # committed: claimable once, by one worker
        job_id = queue.enqueue("work", {"n": 1}, session=s)
    job = queue.claim("w")
    assert job is not None and job.id == job_id and queue.claim("w2") is None


def test_queue_only_the_current_owner_completes(store: SqlMetadataStore, make_queue: MakeQueue) -> None:
    """A worker that stalled past its lease (killed, paused) cannot finish a job another worker took over."""
    queue = make_queue(lease_seconds=0.2)
    job_id = queue.enqueue("work", {})
    assert (first := queue.claim("stalled")) is not None
    time.sleep(0.3)
    assert (second := queue.claim("alive")) is not None and second.id == first.id == job_id
    queue.complete(job_id, "stalled")  # too late: changes nothing
    queue.fail(job_id, "stalled", "late", retry=True)
    with store.session() as s:
        row = s.get(JobRow, job_id)
        assert row is not None and row.status == "running" and row.lease_owner == "alive"
    assert queue.heartbeat(job_id, "alive")
    queue.complete(job_id, "alive")
    with store.session() as s:
        row = s.get(JobRow, job_id)
        assert row is not None and row.status == "done" and row.attempts == 2
    time.sleep(0.3)
    assert queue.claim("third") is None and queue.pending_count() == 0


def test_queue_release_requeues_without_counting(store: SqlMetadataStore, make_queue: MakeQueue) -> None:
    """A graceful shutdown hands its job back: claimable at once by another worker, the attempt not counted."""
    queue = make_queue(lease_seconds=30)
    job_id = queue.enqueue("work", {})
    assert (job := queue.claim("stopping")) is not None and job.attempts == 1
    assert not queue.release(job_id, "someone-else")
    assert queue.release(job_id, "stopping")
    again = queue.claim("next")
    assert again is not None and again.id == job_id and again.attempts == 1
    assert queue.complete(job_id, "next") and not queue.complete(job_id, "next")


def test_queue_purges_only_old_finished_jobs(store: SqlMetadataStore, make_queue: MakeQueue) -> None:
    queue = make_queue(lease_seconds=30)
    done = queue.enqueue("work", {})
    waiting = queue.enqueue("later", {})
    assert (job := queue.claim("w", ["work"])) is not None and job.id == done
    assert queue.complete(done, "w")
    assert queue.purge_finished(timedelta(hours=1)) == 0  # too recent
    assert queue.purge_finished(timedelta(seconds=-1)) == 1
    with store.session() as s:
        assert s.get(JobRow, done) is None and s.get(JobRow, waiting) is not None
    assert queue.lease_seconds == 30


def test_queue_filters_by_kind(make_queue: MakeQueue) -> None:
    queue = make_queue(lease_seconds=30)
    a = queue.enqueue("ingest", {})
    b = queue.enqueue("analyze", {})
    job = queue.claim("w", ["analyze"])
    assert job is not None and job.id == b and job.kind == "analyze"
    assert queue.claim("w", ["analyze"]) is None
    job = queue.claim("w")
    assert job is not None and job.id == a


def test_redis_queue_recovers_jobs_redis_lost(store: SqlMetadataStore, redis_server: Server) -> None:
    """Redis keeps no data on disk: after a restart (here: its keys deleted) the queued and the expired running
    jobs are re-announced from the metadata store, where their state lives."""
    queue = RedisJobQueue(store, redis_server.url, namespace=f"t{uuid.uuid4().hex[:12]}", lease_seconds=0.2)
    try:
        queued, running = queue.enqueue("work", {"n": 1}), queue.enqueue("work", {"n": 2})
        first = queue.claim("w1")
        assert first is not None and first.id == queued
        for key in queue.redis.scan_iter(f"{queue.ns}:*"):
            queue.redis.delete(key)
        assert queue.claim("w2") is None  # Redis forgot everything; the next sweep is not due yet
        time.sleep(0.3)
        assert queue.recover() == 2
        got = {queue.claim("w2").id, queue.claim("w3").id}  # type: ignore[union-attr]
        assert got == {queued, running}
    finally:
        queue.close()
