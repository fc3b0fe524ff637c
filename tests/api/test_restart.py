"""A server killed with SIGKILL mid-video: after a restart the task finishes `ready` with nothing duplicated."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import ffmpeg, speak
from tests.serve_process import ServeProcess, free_port, start_serve

# Distinct sentences, about 45 s of speech: text that repeats itself makes Whisper's compression-ratio check
# fail and fall back to sampling, whose output is random (on one CI machine it was the single word "the").
LONG_TEXT = (
    "The committee met on Monday to discuss the harbour bridge. "
    "Engineers reported that the northern pillar needs new steel cables before winter. "
    "The railway timetable will change in March, with two extra trains every morning. "
    "A new library opens next to the market square, and children can borrow books for free. "
    "Farmers in the valley expect a good apple harvest after the warm and rainy summer. "
    "The museum is closed for repairs until the roof has been replaced. "
    "Finally, the council approved the budget for schools, parks and street lights. "
    "Volunteers will plant two hundred trees along the river during the spring holidays. "
    "Visitors should use the bus from the station, because the car park is full on weekends. "
    "The next meeting will take place in the town hall on the first Thursday of April."
)


def start(data_dir: Path, port: int) -> ServeProcess:
    return start_serve(data_dir, port=port,
                       env={"FRAMEDEX_JOB_LEASE_SECONDS": "3", "FRAMEDEX_WORKER_POLL_SECONDS": "0.2"})


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("long")
    wav = speak(LONG_TEXT, root / "long.wav", speed=170)
    video = root / "long.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=480x270:rate=15", "-i", str(wav), "-shortest",
           "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(video))
    return video


def test_killed_server_resumes_and_finishes(tmp_path: Path, long_video: Path) -> None:
    data_dir = tmp_path / "data"
    port = free_port()
    proc = start(data_dir, port)
    api = proc.api
    try:
        index = httpx.post(f"{api}/indexes", json={
            "index_name": "restart", "models": [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]
        }).json()["_id"]
        with long_video.open("rb") as f:
            task = httpx.post(f"{api}/tasks", data={"index_id": index}, files={"video_file": f}, timeout=60).json()
        # kill while the speech stage is running: after clips/thumbnails, before it is done
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            video = httpx.get(f"{api}/indexes/{index}/indexed-assets/{task['video_id']}").json()
            if video["status"] == "indexing" and "thumbnails" in (video.get("stage_timings") or {}):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the video never reached the speech stage")
        assert "speech" not in (video.get("stage_timings") or {})
    finally:
        proc.stop(signal.SIGKILL)

    db = sqlite3.connect(data_dir / "framedex.db")
    status = db.execute("SELECT status FROM indexed_assets WHERE id = ?", (task["video_id"],)).fetchone()[0]
    assert status == "indexing"  # left mid-way by the kill
    db.close()

    proc = start(data_dir, port)
    try:
        deadline = time.monotonic() + 240
        final = None
        while time.monotonic() < deadline:
            final = httpx.get(f"{api}/tasks/{task['_id']}").json()
            if final["status"] in ("ready", "failed"):
                break
            time.sleep(0.3)
        assert final is not None and final["status"] == "ready", final
        video = httpx.get(f"{api}/indexes/{index}/indexed-assets/{task['video_id']}",
                          params={"transcription": "true"}).json()
        heard = " ".join(t["value"] for t in video["transcription"]).lower()
        assert "harbo" in heard and "thursday" in heard  # the first and the last sentence; harbour or harbor
    finally:
        proc.stop(signal.SIGTERM)

    db = sqlite3.connect(data_dir / "framedex.db")
    clips = db.execute("SELECT seq FROM clips WHERE video_id = ? ORDER BY seq", (task["video_id"],)).fetchall()
    assert [c[0] for c in clips] == list(range(len(clips))) and clips
    segments = db.execute("SELECT count(*) FROM speech_segments WHERE video_id = ?", (task["video_id"],)).fetchone()[0]
    fts = db.execute("SELECT count(*) FROM speech_fts WHERE video_id = ?", (task["video_id"],)).fetchone()[0]
    assert segments == fts > 0
    jobs = db.execute("SELECT kind, status, attempts FROM jobs WHERE kind = 'video_index'").fetchall()
    assert jobs == [("video_index", "done", 2)]
