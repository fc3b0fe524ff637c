"""The scale-out stack end to end, as `scripts/cluster.sh up` starts it: PostgreSQL + pgvector, Redis, S3, two
API processes and two workers, driven by the official twelvelabs SDK.

Uploads go through different API processes; search gives the embedded stack's results on the same real
videos; a worker killed with SIGKILL mid-job leaves a job that another worker finishes once, without
duplicated clips; an API process killed leaves the other answering; `down` leaves nothing running.
The tests run in file order and share one cluster (module scope): each step builds on the one before.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from twelvelabs import TwelveLabs

from tests.conftest import SHARED_MEDIA
from tests.local_cluster import Cluster, alive, down, status, up

VIDEOS = SHARED_MEDIA / "video"
FIRST, SECOND, LONGER = VIDEOS / "lego_motor_6s.mp4", VIDEOS / "ball_throw_10s.mp4", VIDEOS / "tree_hand_30s.avi"
MODELS = [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]
QUERIES = [("a lego motor", ["visual"]), ("a person throws a ball", ["visual"]), ("hands", ["visual", "audio"]),
           ("machine sound", ["audio"])]
LEASE_SECONDS = 8  # a killed worker's job is reclaimed after this


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    state = tmp_path_factory.mktemp("cluster")
    try:
        yield up(state, extra_env={"FRAMEDEX_JOB_LEASE_SECONDS": str(LEASE_SECONDS)})
    finally:
        down(state)


@pytest.fixture(scope="module")
def clients(cluster: Cluster) -> list[TwelveLabs]:
    return [TwelveLabs(api_key=cluster.api_key, base_url=f"{url}/v1.3") for url in cluster.api_urls]


def _sql(cluster: Cluster, query: str, *args: Any) -> list[tuple[Any, ...]]:
    url = cluster.env["FRAMEDEX_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        return conn.execute(query, args).fetchall()


def _upload(client: TwelveLabs, index_id: str, path: Path) -> tuple[str, str]:
    with path.open("rb") as f:
        task = client.tasks.create(index_id=index_id, video_file=f)
    assert task.id and task.video_id
    return task.id, task.video_id


def _top(client: TwelveLabs, index_id: str, names: dict[str, str]) -> list[list[tuple[str, float, float, float]]]:
    """Each query's top 3 as (file name, start, end, score): comparable across stacks (ids differ)."""
    results = []
    for text, options in QUERIES:
        page = client.search.query(index_id=index_id, query_text=text, search_options=options)
        results.append([(names[h.video_id or ""], round(h.start or 0, 2), round(h.end or 0, 2),
                         round(h.score or 0, 1)) for h in list(page)[:3]])
    return results


@pytest.fixture(scope="module")
def indexed(cluster: Cluster, clients: list[TwelveLabs]) -> dict[str, Any]:
    """Two real videos, each uploaded through a different API process, waited for through the other one."""
    first, second = clients
    index = first.indexes.create(index_name=f"cluster-{time.time()}", models=MODELS)
    tasks = [_upload(first, index.id, FIRST), _upload(second, index.id, SECOND)]
    for (task_id, _), other in zip(tasks, (second, first), strict=True):
        done = other.tasks.wait_for_done(task_id=task_id, sleep_interval=1)
        assert done.status == "ready", done
    return {"index_id": index.id, "names": {tasks[0][1]: FIRST.name, tasks[1][1]: SECOND.name}}


def test_up_reports_every_process(cluster: Cluster) -> None:
    roles = sorted(server.role for server, running in status(cluster.state_dir) if running)
    assert roles == ["api", "api", "postgres", "redis", "s3", "worker", "worker"]
    assert len(set(cluster.api_urls)) == 2


def test_videos_uploaded_through_either_api_are_indexed_by_the_workers(
        cluster: Cluster, clients: list[TwelveLabs], indexed: dict[str, Any]) -> None:
    listed = {v.id for v in clients[1].indexes.indexed_assets.list(indexed["index_id"])}
    assert listed == set(indexed["names"])
    # the work ran in the worker processes: the API processes run none (--workers 0)
    owners = {row[0].split(":")[1] for row in _sql(cluster, "SELECT lease_owner FROM jobs WHERE kind = 'video_index'")
              if row[0]}
    assert owners <= {str(w.pid) for w in cluster.of("worker")}
    vectors = _sql(cluster, "SELECT count(*) FROM fdx_vectors")[0][0]
    assert vectors > 0  # in pgvector, not in a local index


def test_search_matches_the_embedded_stack(clients: list[TwelveLabs], indexed: dict[str, Any], tl: TwelveLabs) -> None:
    on_cluster = _top(clients[1], indexed["index_id"], indexed["names"])
    embedded_index = tl.indexes.create(index_name=f"embedded-{time.time()}", models=MODELS)
    names = {}
    for path in (FIRST, SECOND):
        task_id, video_id = _upload(tl, embedded_index.id, path)
        assert tl.tasks.wait_for_done(task_id=task_id, sleep_interval=1).status == "ready"
        names[video_id] = path.name
    embedded = _top(tl, embedded_index.id, names)
    assert on_cluster[0] and on_cluster[0][0][0] == FIRST.name  # the lego query finds the lego video
    assert [[hit[:3] for hit in q] for q in on_cluster] == [[hit[:3] for hit in q] for q in embedded]
    for cluster_hits, embedded_hits in zip(on_cluster, embedded, strict=True):
        for a, b in zip(cluster_hits, embedded_hits, strict=True):
            assert a[3] == pytest.approx(b[3], abs=1.0)


def test_analyze_on_the_cluster(clients: list[TwelveLabs], indexed: dict[str, Any]) -> None:
    video_id = next(v for v, name in indexed["names"].items() if name == FIRST.name)
    asset = clients[0].indexes.indexed_assets.retrieve(indexed["index_id"], video_id)
    assert asset.asset_id
    answer = clients[0].analyze(video={"type": "asset_id", "asset_id": asset.asset_id},
                                prompt="Describe the video in one sentence.", max_tokens=48)
    assert answer.data and len(answer.data.split()) >= 3


def test_a_worker_killed_mid_job_does_not_lose_or_duplicate_it(
        cluster: Cluster, clients: list[TwelveLabs], indexed: dict[str, Any]) -> None:
    task_id, video_id = _upload(clients[0], indexed["index_id"], LONGER)
    deadline = time.monotonic() + 120
    owner = None
    while owner is None and time.monotonic() < deadline:
        rows = _sql(cluster, "SELECT lease_owner FROM jobs WHERE kind = 'video_index' AND status = 'running' "
                             "AND payload::text LIKE %s", f"%{video_id}%")
        owner = rows[0][0] if rows and rows[0][0] else None
        time.sleep(0.2)
    assert owner, "the indexing job never started"
    time.sleep(2)  # mid-job: decoding and models are running
    victim = next(w for w in cluster.of("worker") if str(w.pid) == owner.split(":")[1])
    os.killpg(victim.pid, signal.SIGKILL)
    done = clients[1].tasks.wait_for_done(task_id=task_id, sleep_interval=1)
    assert done.status == "ready", done
    (job,) = _sql(cluster, "SELECT status, attempts, lease_owner FROM jobs WHERE kind = 'video_index' "
                           "AND payload::text LIKE %s", f"%{video_id}%")
    assert job[0] == "done" and job[1] == 2 and job[2] != owner  # finished once, by the other worker
    clips = _sql(cluster, 'SELECT seq, start, "end" FROM clips WHERE video_id = %s ORDER BY seq', video_id)
    assert [c[0] for c in clips] == list(range(len(clips))) and len(clips) >= 2
    assert all(a[2] <= b[1] + 1e-6 for a, b in itertools.pairwise(clips))  # no clip twice
    assert sum(c[2] - c[1] for c in clips) == pytest.approx(done.system_metadata.duration, abs=1.0)
    # one frame vector per sampled time: a second run's vectors would repeat the first run's times
    frames = _sql(cluster, "SELECT c.space, count(*), count(DISTINCT (v.clip_seq, v.start_s)) FROM fdx_vectors v "
                           "JOIN fdx_vector_collections c ON c.id = v.collection_id WHERE v.video_id = %s "
                           "AND c.space IN ('visual', 'visual_image') GROUP BY c.space", video_id)
    assert len(frames) == 2 and all(total == distinct > 0 for _, total, distinct in frames)
    cluster.servers.remove(victim)


def test_an_api_process_killed_leaves_the_other_answering(cluster: Cluster, clients: list[TwelveLabs],
                                                          indexed: dict[str, Any]) -> None:
    first = cluster.of("api")[0]
    os.killpg(first.pid, signal.SIGKILL)
    while alive(first.pid):
        time.sleep(0.05)
    for _ in range(3):
        assert clients[1].indexes.retrieve(indexed["index_id"]).id == indexed["index_id"]
        hits = list(clients[1].search.query(index_id=indexed["index_id"], query_text="a lego motor",
                                            search_options=["visual"]))
        assert hits


def test_down_stops_everything(cluster: Cluster) -> None:
    pids = [s.pid for s in cluster.servers]
    down(cluster.state_dir)
    assert not any(alive(pid) for pid in pids)
    assert status(cluster.state_dir) == []
