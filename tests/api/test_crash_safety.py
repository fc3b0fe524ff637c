"""Crash safety on a real `framedex serve` subprocess with a real video: SIGKILL mid-indexing ends
`ready` with exactly the rows and vectors of an uninterrupted run; SIGTERM gives the job back
without spending an attempt; concurrent metadata PATCHes all survive."""

from __future__ import annotations

import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SHARED_MEDIA, LiveServer
from tests.serve_process import ServeProcess, free_port, start_serve

VIDEO = SHARED_MEDIA / "video" / "lego_motor_6s.mp4"  # 5.6 s, H.264 + AAC
MODELS = [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]


def start(data_dir: Path, port: int, lease_seconds: float) -> ServeProcess:
    return start_serve(data_dir, port=port, env={"FRAMEDEX_JOB_LEASE_SECONDS": str(lease_seconds),
                                                 "FRAMEDEX_WORKER_POLL_SECONDS": "0.2"})


def upload(api: str, index: str) -> dict[str, Any]:
    with VIDEO.open("rb") as f:
        task: dict[str, Any] = httpx.post(f"{api}/tasks", data={"index_id": index}, files={"video_file": f},
                                          timeout=60).json()
    return task


def wait_stage(api: str, index: str, video_id: str, stage: str) -> dict[str, Any]:
    """Poll until `stage` is done while the video is still indexing (the moment to interrupt it)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        video: dict[str, Any] = httpx.get(f"{api}/indexes/{index}/indexed-assets/{video_id}").json()
        if video["status"] == "indexing" and stage in (video.get("stage_timings") or {}):
            return video
        assert video["status"] not in ("ready", "failed"), video
        time.sleep(0.05)
    pytest.fail(f"the video never finished stage {stage}")


def wait_ready(api: str, task_id: str) -> None:
    deadline = time.monotonic() + 240
    task: dict[str, Any] = {}
    while time.monotonic() < deadline:
        task = httpx.get(f"{api}/tasks/{task_id}").json()
        if task["status"] in ("ready", "failed"):
            break
        time.sleep(0.3)
    assert task.get("status") == "ready", task


def stop(proc: ServeProcess, sig: int) -> None:
    proc.stop(sig)


def footprint(data_dir: Path, video_id: str) -> dict[str, int]:
    """Everything indexing wrote for one video: SQL rows per table and kind, and vectors per space."""
    from framedex.storage.vectors_embedded import open_embedded

    db = sqlite3.connect(data_dir / "framedex.db")
    try:
        tenant, index = db.execute("SELECT tenant_id, index_id FROM indexed_assets WHERE id = ?",
                                   (video_id,)).fetchone()
        counts = {table: db.execute(f"SELECT count(*) FROM {table} WHERE video_id = ?", (video_id,)).fetchone()[0]
                  for table in ("clips", "speech_segments", "speech_fts")}
        for kind, n in db.execute("SELECT kind, count(*) FROM clip_features WHERE video_id = ? GROUP BY kind",
                                  (video_id,)):
            counts[f"features:{kind}"] = n
    finally:
        db.close()
    vectors = open_embedded(data_dir / "vectors")
    try:
        for space in vectors.spaces(tenant_id=tenant, index_id=index):
            counts[f"vectors:{space}"] = vectors.count(tenant_id=tenant, index_id=index, space=space, video_id=video_id)
    finally:
        vectors.close()
    return counts


def test_sigkill_mid_indexing_resumes_to_the_same_result(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    api = f"http://127.0.0.1:{port}/v1.3"
    proc = start(data_dir, port, lease_seconds=3)
    try:
        index = httpx.post(f"{api}/indexes", json={"index_name": "crash", "models": MODELS}).json()["_id"]
        killed = upload(api, index)
        wait_stage(api, index, killed["video_id"], "clips")
    finally:
        stop(proc, signal.SIGKILL)
    db = sqlite3.connect(data_dir / "framedex.db")
    assert db.execute("SELECT status FROM indexed_assets WHERE id = ?", (killed["video_id"],)).fetchone() == (
        "indexing",)
    db.close()

    proc = start(data_dir, port, lease_seconds=3)
    try:
        wait_ready(api, killed["_id"])
        clean = upload(api, index)  # the same video, never interrupted: the reference
        wait_ready(api, clean["_id"])
    finally:
        stop(proc, signal.SIGTERM)

    resumed, reference = footprint(data_dir, killed["video_id"]), footprint(data_dir, clean["video_id"])
    assert resumed == reference
    assert reference["clips"] > 0 and reference["vectors:visual"] == reference["features:visual"] > 0
    assert reference.get("vectors:audio", 0) > 0
    assert list(data_dir.rglob(".tmp*")) == []
    db = sqlite3.connect(data_dir / "framedex.db")
    jobs = db.execute("SELECT json_extract(payload, '$.video_id'), status, attempts FROM jobs "
                      "WHERE kind = 'video_index' ORDER BY attempts DESC").fetchall()
    stuck = db.execute("SELECT count(*) FROM assets WHERE status = 'processing'").fetchone()[0]
    db.close()
    assert jobs == [(killed["video_id"], "done", 2), (clean["video_id"], "done", 1)]
    assert stuck == 0


def test_sigterm_gives_the_job_back_without_spending_an_attempt(tmp_path: Path) -> None:
    data_dir, port = tmp_path / "data", free_port()
    api = f"http://127.0.0.1:{port}/v1.3"
    # A long lease: without the release, the restarted server would wait it out before resuming.
    proc = start(data_dir, port, lease_seconds=600)
    try:
        index = httpx.post(f"{api}/indexes", json={"index_name": "term", "models": MODELS}).json()["_id"]
        task = upload(api, index)
        wait_stage(api, index, task["video_id"], "decode")
    finally:
        stop(proc, signal.SIGTERM)
    db = sqlite3.connect(data_dir / "framedex.db")
    job = db.execute("SELECT status, attempts, lease_owner FROM jobs WHERE kind = 'video_index'").fetchone()
    db.close()
    assert job == ("queued", 0, None)

    proc = start(data_dir, port, lease_seconds=600)
    try:
        wait_ready(api, task["_id"])
    finally:
        stop(proc, signal.SIGTERM)
    db = sqlite3.connect(data_dir / "framedex.db")
    assert db.execute("SELECT status, attempts FROM jobs WHERE kind = 'video_index'").fetchall() == [("done", 1)]
    db.close()


def test_concurrent_metadata_patches_all_survive(live_server: LiveServer, http: httpx.Client) -> None:
    with VIDEO.open("rb") as f:
        asset = http.post("/assets", data={"method": "direct"}, files={"file": f}).json()["_id"]
    index = http.post("/indexes", json={"index_name": "patch-race", "models": MODELS}).json()["_id"]
    video = http.post(f"/indexes/{index}/indexed-assets", json={"asset_id": asset}).json()["_id"]
    targets = {"asset": (f"/assets/{asset}/user-metadata", f"/assets/{asset}"),
               "video": (f"/indexes/{index}/indexed-assets/{video}", f"/indexes/{index}/indexed-assets/{video}")}
    try:
        for patch_url, get_url in targets.values():
            def patch(i: int, url: str = patch_url) -> int:
                return http.patch(url, json={"user_metadata": {f"k{i}": i}}).status_code  # distinct keys

            with ThreadPoolExecutor(16) as pool:
                assert set(pool.map(patch, range(45))) == {204}
            metadata = http.get(get_url).json()["user_metadata"]
            assert sum(k.startswith("k") for k in metadata) == 45  # the key limit is 50
    finally:
        http.delete(f"/indexes/{index}")
