"""Bad input gets the API's error format and never breaks the worker or other users' tasks."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import LiveServer, Media

MODELS = [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]


@pytest.fixture(scope="module")
def index_id(http: httpx.Client) -> str:
    resp = http.post("/indexes", json={"index_name": f"bad-input-{time.time()}", "models": MODELS})
    assert resp.status_code == 201
    return str(resp.json()["_id"])


def upload(http: httpx.Client, index_id: str, path, name: str | None = None) -> dict:  # type: ignore[no-untyped-def,type-arg]
    with path.open("rb") as f:
        resp = http.post("/tasks", data={"index_id": index_id}, files={"video_file": (name or path.name, f)})
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("attr", "code"),
    [
        ("corrupt_video", "video_file_broken"),
        ("text_file", "video_file_broken"),
        ("short_video", "video_duration_too_short"),
        ("tiny_video", "video_resolution_too_low"),
    ],
)
def test_rejected_media_fails_its_task_with_reason(http: httpx.Client, live_server: LiveServer, media: Media,
                                                   index_id: str, attr: str, code: str) -> None:
    created = upload(http, index_id, getattr(media, attr))
    task = live_server.wait_task(http, created["_id"], timeout=60)
    assert task["status"] == "failed"
    assert task["error"]["code"] == code and task["error"]["message"]
    video = http.get(f"/indexes/{index_id}/indexed-assets/{created['video_id']}").json()
    assert video["status"] == "failed" and video["error"]["code"] == code


def test_good_video_still_indexes_after_bad_ones(http: httpx.Client, live_server: LiveServer, media: Media,
                                                 index_id: str) -> None:
    bad = upload(http, index_id, media.corrupt_video)
    good = upload(http, index_id, media.silent_video)
    assert live_server.wait_task(http, bad["_id"], timeout=60)["status"] == "failed"
    assert live_server.wait_task(http, good["_id"], timeout=120)["status"] == "ready"
    # a failed task can be deleted; a ready one needs its video deleted first
    assert http.delete(f"/tasks/{bad['_id']}").status_code == 204
    assert http.get(f"/tasks/{bad['_id']}").status_code == 404
    resp = http.delete(f"/tasks/{good['_id']}")
    assert resp.status_code == 400 and resp.json()["code"] == "task_cannot_be_deleted"


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("post", "/indexes", {"json": {"index_name": "x", "models": "visual"}}, 400, "parameter_invalid"),
        ("post", "/indexes", {"json": {"models": MODELS}}, 400, "parameter_not_provided"),
        ("post", "/indexes", {"json": {"index_name": "x", "models": [{"model_name": "gpt-4",
                                                                      "model_options": ["visual"]}]}},
         400, "index_engine_not_supported"),
        ("post", "/indexes", {"json": {"index_name": "x", "models": [{"model_name": "marengo3.0",
                                                                      "model_options": ["smell"]}]}},
         400, "index_option_not_supported"),
        ("get", "/indexes", {"params": {"page_limit": 500}}, 400, "parameter_invalid"),
        ("get", "/indexes", {"params": {"page": "two"}}, 400, "parameter_invalid"),
        ("get", "/indexes", {"params": {"sort_option": "sideways"}}, 400, "parameter_invalid"),
        ("get", "/tasks/zzz", {}, 404, "resource_not_exists"),
        ("get", "/tasks", {"params": {"status": "sleeping"}}, 400, "parameter_invalid"),
        ("post", "/tasks", {"data": {"index_id": "0123456789abcdef01234567"},
                            "files": {"video_file": ("a.mp4", b"1234")}}, 404, "resource_not_exists"),
        ("get", "/nowhere", {}, 404, "endpoint_not_exists"),
        # longer than its column: refused alike on SQLite and PostgreSQL (which would fail the INSERT)
        ("post", "/indexes", {"json": {"index_name": "n" * 501, "models": MODELS}}, 400, "parameter_invalid"),
        ("post", "/entity-collections", {"json": {"name": "e" * 501}}, 400, "parameter_invalid"),
        ("post", "/search", {"data": {"query_text": "x", "search_options": "transcription"}},
         400, "parameter_not_provided"),
    ],
)
def test_bad_requests_get_the_error_envelope(http: httpx.Client, method: str, path: str, kwargs: dict,  # type: ignore[type-arg]
                                             status: int, code: str) -> None:
    resp = getattr(http, method)(path, **kwargs)
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["code"] == code and isinstance(body["message"], str) and body["message"]


def test_task_needs_a_file_or_url(http: httpx.Client, index_id: str) -> None:
    resp = http.post("/tasks", data={"index_id": index_id}, files={"unused": ("x", b"")})
    assert resp.status_code == 400 and resp.json()["code"] == "parameter_not_provided"
    resp = http.post("/tasks", data={"index_id": index_id, "video_url": "file:///etc/passwd"},
                     files={"unused": ("x", b"")})
    assert resp.status_code == 400 and resp.json()["code"] == "parameter_invalid"
    resp = http.post("/tasks", data={"index_id": index_id, "user_metadata": "not json"},
                     files={"video_file": ("a.mp4", b"1234")})
    assert resp.status_code == 400 and resp.json()["code"] == "parameter_invalid"


def test_search_validates_options(http: httpx.Client, index_id: str) -> None:
    resp = http.post("/search", data={"index_id": index_id, "query_text": "x", "search_options": "smell"})
    assert resp.status_code == 400 and resp.json()["code"] == "parameter_invalid"
    resp = http.post("/search", data={"index_id": index_id, "query_text": "x", "search_options": "transcription",
                                      "filter": "{not json"})
    assert resp.status_code == 400 and resp.json()["code"] == "search_filter_invalid"
    resp = http.post("/search", data={"index_id": index_id, "query_text": "x", "search_options": "transcription",
                                      "page_limit": "51"})
    assert resp.status_code == 400
