"""`framedex search`, `index list|create|delete`, `videos list` and `tasks list|get` as subprocesses against a
live server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, Media


def run_cli(server: LiveServer, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FRAMEDEX_URL": server.url, "FRAMEDEX_API_KEY": key, "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "framedex.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.fixture(scope="module")
def indexed(http: httpx.Client, live_server: LiveServer, media: Media) -> dict[str, Any]:
    index = http.post("/indexes", json={"index_name": f"cli-cmds-{time.time()}", "models": [
        {"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]}).json()
    with media.speech_video.open("rb") as f:
        task = http.post("/tasks", data={"index_id": index["_id"]},
                         files={"video_file": (media.speech_video.name, f, "video/mp4")}).json()
    done = live_server.wait_task(http, task["_id"])
    assert done["status"] == "ready", done
    return {"index_id": index["_id"], "task_id": task["_id"], "video_id": task["video_id"]}


def test_search_text_table_and_json(live_server: LiveServer, api_key: str, indexed: dict[str, Any]) -> None:
    table = run_cli(live_server, api_key, "search", "humpback whales in the Pacific Ocean",
                    "--index", indexed["index_id"], "--options", "visual,audio,transcription")
    assert table.returncode == 0, table.stderr
    assert indexed["video_id"] in table.stdout and "whales" in table.stdout.lower()
    assert "0:" in table.stdout  # start-end columns as m:ss.s
    raw = run_cli(live_server, api_key, "search", "humpback whales in the Pacific Ocean", "--index",
                  indexed["index_id"], "--options", "transcription", "--json", "--limit", "3")
    assert raw.returncode == 0, raw.stderr
    page = json.loads(raw.stdout)
    assert page["data"] and page["data"][0]["video_id"] == indexed["video_id"]
    assert len(page["data"]) <= 3 and 0 <= page["data"][0]["start"] < page["data"][0]["end"] <= 10.5


def test_search_by_image(live_server: LiveServer, api_key: str, indexed: dict[str, Any], tmp_path: Path) -> None:
    frame = tmp_path / "frame.jpg"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360",
                    "-frames:v", "1", str(frame)], check=True)
    found = run_cli(live_server, api_key, "search", "--image", str(frame), "--index", indexed["index_id"],
                    "--options", "visual", "--json")
    assert found.returncode == 0, found.stderr
    assert indexed["video_id"] in [hit["video_id"] for hit in json.loads(found.stdout)["data"]]


def test_search_usage_and_api_errors(live_server: LiveServer, api_key: str) -> None:
    no_query = run_cli(live_server, api_key, "search", "--index", "0" * 24)
    assert no_query.returncode == 2 and "QUERY" in no_query.stderr
    missing = run_cli(live_server, api_key, "search", "anything", "--index", "0" * 24)
    assert missing.returncode == 4 and "index" in missing.stderr.lower()
    bad_key = run_cli(live_server, "fdx_not_a_key", "search", "anything", "--index", "0" * 24)
    assert bad_key.returncode == 1 and "401" in bad_key.stderr


def test_videos_and_tasks(live_server: LiveServer, api_key: str, indexed: dict[str, Any], media: Media) -> None:
    videos = run_cli(live_server, api_key, "videos", "list", "--index", indexed["index_id"])
    assert videos.returncode == 0, videos.stderr
    assert indexed["video_id"] in videos.stdout and media.speech_video.name in videos.stdout
    assert "0:10.0" in videos.stdout and "1 video(s)" in videos.stderr
    listed = run_cli(live_server, api_key, "tasks", "list", "--index", indexed["index_id"], "--json")
    assert listed.returncode == 0, listed.stderr
    assert [t["_id"] for t in json.loads(listed.stdout)] == [indexed["task_id"]]
    shown = run_cli(live_server, api_key, "tasks", "get", indexed["task_id"])
    assert shown.returncode == 0 and "ready" in shown.stdout and indexed["video_id"] in shown.stdout
    assert run_cli(live_server, api_key, "tasks", "get", "0" * 24).returncode == 4


def test_index_list_create_delete(live_server: LiveServer, api_key: str) -> None:
    name = f"cli-index-{time.time()}"
    plain = run_cli(live_server, api_key, "index", "create", name)
    assert plain.returncode == 0, plain.stderr
    index_id = plain.stdout.strip()
    assert len(index_id) == 24, plain.stdout  # the id alone: `ID=$(framedex index create NAME)`
    full = run_cli(live_server, api_key, "index", "create", name + "-full", "--generation-model", "pegasus1.2",
                   "--options", "visual", "--thumbnails", "--json")
    assert full.returncode == 0, full.stderr
    full_id = json.loads(full.stdout)["_id"]
    again = run_cli(live_server, api_key, "index", "create", name)
    assert again.returncode == 1 and "index_name_already_exists" in again.stderr
    usage = run_cli(live_server, api_key, "index", "create", name + "-none", "--model", "")
    assert usage.returncode == 2 and "--model" in usage.stderr

    listed = json.loads(run_cli(live_server, api_key, "index", "list", "--json").stdout)
    by_id = {i["_id"]: i for i in listed}
    assert by_id[index_id]["index_name"] == name
    assert [(m["model_name"], m["model_options"]) for m in by_id[full_id]["models"]] == [
        ("marengo3.0", ["visual"]), ("pegasus1.2", ["visual", "audio"])]
    assert by_id[full_id]["addons"] == ["thumbnail"]
    table = run_cli(live_server, api_key, "index", "list", "--name", name)
    assert table.returncode == 0 and index_id in table.stdout and full_id not in table.stdout
    assert "1 index(es)" in table.stderr

    # No terminal to ask on and no --yes: nothing is deleted, and the exit code says it was a usage error.
    unasked = run_cli(live_server, api_key, "index", "delete", index_id)
    assert unasked.returncode == 2 and "--yes" in unasked.stderr
    deleted = run_cli(live_server, api_key, "index", "delete", index_id, "--yes", "--json")
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout) == {"_id": index_id, "index_name": name, "deleted": True}
    remaining = [i["_id"] for i in json.loads(run_cli(live_server, api_key, "index", "list", "--json").stdout)]
    assert index_id not in remaining and full_id in remaining
    assert run_cli(live_server, api_key, "index", "delete", index_id, "--yes").returncode == 4
    assert run_cli(live_server, "fdx_not_a_key", "index", "list").returncode == 1
    unreachable = {**os.environ, "FRAMEDEX_URL": "http://127.0.0.1:9", "FRAMEDEX_API_KEY": api_key}
    down = subprocess.run([sys.executable, "-m", "framedex.cli.main", "index", "list"], capture_output=True,
                          text=True, env=unreachable, timeout=120)
    assert down.returncode == 3, down.stderr
