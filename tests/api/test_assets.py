"""Assets API against a live server, mostly through the official twelvelabs SDK."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from twelvelabs import TwelveLabs
from twelvelabs.core.api_error import ApiError
from twelvelabs.errors import BadRequestError, ConflictError, NotFoundError

from framedex.ids import new_id
from framedex.services import indexes
from framedex.services.assets import transcript_blob_key
from framedex.storage.tables import IndexedAssetRow

WAIT_SECONDS = 120


def wait_asset(tl: TwelveLabs, asset_id: str) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        asset = tl.assets.retrieve(asset_id)
        if asset.status in ("ready", "failed"):
            return asset
        time.sleep(0.3)
    raise TimeoutError(f"asset {asset_id} is still processing")


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) >= {"code", "message"} and body["message"], body
    if code is not None:
        assert body["code"] == code, body
    return body


@pytest.fixture(scope="module")
def other_tenant(live_server: Any) -> TwelveLabs:
    return TwelveLabs(api_key=live_server.new_key("other tenant"), base_url=live_server.api)


@pytest.fixture(scope="module")
def video_asset(tl: TwelveLabs, media: Any) -> Any:
    with open(media.silent_video, "rb") as fh:
        asset: Any = tl.assets.create(method="direct", file=fh, filename="Holiday_Clip.MP4",
                                 user_metadata=json.dumps({"trip": "alps", "day": 3}))
    return asset


def test_create_direct_retrieve_list_delete(tl: TwelveLabs, media: Any) -> None:
    with open(media.silent_video, "rb") as fh:
        created: Any = tl.assets.create(method="direct", file=fh, user_metadata='{"topic": "test"}')
    assert created.id and len(created.id) == 24
    assert created.method == "direct" and created.status in ("processing", "ready")
    assert created.filename == media.silent_video.name
    assert created.user_metadata == {"topic": "test"}
    assert created.created_at is not None

    ready = wait_asset(tl, created.id)
    assert ready.status == "ready", ready
    assert ready.size == media.silent_video.stat().st_size
    assert ready.duration == pytest.approx(6.0, abs=0.3)
    assert ready.file_type == "video"
    assert ready.technical_metadata is not None and ready.technical_metadata.video_width == 320

    listed = [a.id for a in tl.assets.list(page_limit=50)]
    assert created.id in listed
    assert [a.id for a in tl.assets.list(asset_ids=[created.id])] == [created.id]

    tl.assets.delete(created.id)
    with pytest.raises(NotFoundError):
        tl.assets.retrieve(created.id)
    assert created.id not in [a.id for a in tl.assets.list(page_limit=50)]


def test_create_from_raw_bytes(tl: TwelveLabs, media: Any) -> None:
    asset: Any = tl.assets.create(method="direct", file=media.short_video.read_bytes())
    assert asset.filename == "upload"  # the SDK's name for a raw-bytes file part
    detail = tl.assets.retrieve(asset.id)
    assert detail.size == media.short_video.stat().st_size or detail.status == "processing"
    tl.assets.delete(asset.id)


def test_list_filters_and_paging(tl: TwelveLabs, video_asset: Any, live_server: Any) -> None:
    by_name = [a.id for a in tl.assets.list(filename="holiday_clip")]  # partial, case-insensitive
    assert video_asset.id in by_name
    assert video_asset.id not in [a.id for a in tl.assets.list(filename="nothing-like-this")]
    assert video_asset.id in [a.id for a in tl.assets.list(asset_types=["video", "audio"])]
    assert video_asset.id not in [a.id for a in tl.assets.list(asset_types="image")]

    with httpx.Client(base_url=live_server.api, headers={"x-api-key": tl._client_wrapper.api_key}) as c:
        # Repeated keys and the comma form select the same assets.
        a = c.get("/assets", params=[("asset_ids", video_asset.id), ("asset_ids", new_id())]).json()
        b = c.get("/assets", params={"asset_ids": f"{video_asset.id},{new_id()}"}).json()
        assert [x["_id"] for x in a["data"]] == [x["_id"] for x in b["data"]] == [video_asset.id]
        assert a["page_info"]["total_results"] == 1
        # Past the last page: 200 with empty data (the SDK pager stops on it).
        past = c.get("/assets", params={"page": 99})
        assert past.status_code == 200 and past.json()["data"] == []
        assert_error(c.get("/assets", params={"asset_types": "spreadsheet"}), 400, "parameter_invalid")
        assert_error(c.get("/assets", params={"page_limit": 51}), 400)


def test_retrieve_shape(tl: TwelveLabs, video_asset: Any, live_server: Any) -> None:
    with httpx.Client(base_url=live_server.api, headers={"x-api-key": tl._client_wrapper.api_key}) as c:
        body = c.get(f"/assets/{video_asset.id}").json()
        # The root mount serves the same API.
        root = httpx.get(f"{live_server.url}/assets/{video_asset.id}",
                         headers={"x-api-key": tl._client_wrapper.api_key}).json()
    assert body["_id"] == root["_id"] == video_asset.id
    assert body["method"] == "direct" and body["filename"] == "Holiday_Clip.MP4"
    assert body["user_metadata"] == {"trip": "alps", "day": 3}
    assert body["status"] in ("processing", "ready")
    assert body["created_at"].endswith("Z")


def test_user_metadata_put_patch_delete(tl: TwelveLabs, video_asset: Any, live_server: Any) -> None:
    tl.assets.replace_user_metadata(video_asset.id, user_metadata={"a": "1", "tags": ["x", "y"], "n": 2})
    assert tl.assets.retrieve(video_asset.id).user_metadata == {"a": "1", "tags": ["x", "y"], "n": 2}

    # PATCH merges: null deletes, "" and [] are ignored, omitted keys stay.
    tl.assets.update_user_metadata(video_asset.id, user_metadata={"a": None, "b": True, "n": "", "tags": []})
    assert tl.assets.retrieve(video_asset.id).user_metadata == {"tags": ["x", "y"], "n": 2, "b": True}

    # PUT replaces: omitted keys go, null/""/[] are ignored.
    tl.assets.replace_user_metadata(video_asset.id, user_metadata={"only": 1.5, "skip": None, "e": ""})
    assert tl.assets.retrieve(video_asset.id).user_metadata == {"only": 1.5}

    tl.assets.delete_user_metadata(video_asset.id)
    assert tl.assets.retrieve(video_asset.id).user_metadata == {}

    with pytest.raises(BadRequestError):
        tl.assets.update_user_metadata(video_asset.id, user_metadata={"bad": {"nested": 1}})  # type: ignore[dict-item]
    with httpx.Client(base_url=live_server.api, headers={"x-api-key": tl._client_wrapper.api_key}) as c:
        assert_error(c.put(f"/assets/{video_asset.id}/user-metadata", json={}), 400, "parameter_not_provided")
        assert_error(c.patch(f"/assets/{video_asset.id}/user-metadata", json={"user_metadata": [1]}), 400)
        assert_error(c.patch(f"/assets/{video_asset.id}/user-metadata", content=b"not json",
                             headers={"content-type": "application/json"}), 400)


def test_other_tenant_and_unknown_ids_are_404(tl: TwelveLabs, other_tenant: TwelveLabs,
                                              video_asset: Any) -> None:
    for client, asset_id in ((other_tenant, video_asset.id), (tl, new_id()), (tl, "not-an-id")):
        with pytest.raises(NotFoundError):
            client.assets.retrieve(asset_id)
        with pytest.raises(NotFoundError):
            client.assets.retrieve_transcription(asset_id)
        with pytest.raises(NotFoundError):
            client.assets.update_user_metadata(asset_id, user_metadata={"x": "y"})
        with pytest.raises(NotFoundError):
            client.assets.replace_user_metadata(asset_id, user_metadata={"x": "y"})
        with pytest.raises(NotFoundError):
            client.assets.delete_user_metadata(asset_id)
        with pytest.raises(ApiError) as err:
            client.assets.delete(asset_id)
        assert err.value.status_code == 404
    assert video_asset.id not in [a.id for a in other_tenant.assets.list(page_limit=50)]
    assert tl.assets.retrieve(video_asset.id).id == video_asset.id  # untouched


def test_bad_create_requests(live_server: Any, api_key: str, media: Any,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    video = media.short_video.read_bytes()
    with httpx.Client(base_url=live_server.api, headers={"x-api-key": api_key}) as c:
        assert_error(c.post("/assets", files={"file": ("a.mp4", video)}), 400, "parameter_not_provided")
        assert_error(c.post("/assets", data={"method": "ftp"}, files={"file": ("a.mp4", video)}), 400,
                     "parameter_invalid")
        body = assert_error(c.post("/assets", data={"method": "direct"}, files={"x": ("a", b"1")}), 400,
                            "parameter_not_provided")
        assert "file" in body["message"]
        body = assert_error(c.post("/assets", data={"method": "url"}, files={"x": ("a", b"1")}), 400,
                            "parameter_not_provided")
        assert "url" in body["message"]
        assert_error(c.post("/assets", data={"method": "direct", "user_metadata": "{not json"},
                            files={"file": ("a.mp4", video)}), 400, "parameter_invalid")
        assert_error(c.post("/assets", data={"method": "direct", "user_metadata": '["list"]'},
                            files={"file": ("a.mp4", video)}), 400, "parameter_invalid")
        assert_error(c.post("/assets", data={"method": "direct", "enable_hls": "maybe"},
                            files={"file": ("a.mp4", video)}), 400, "parameter_invalid")
        assert_error(c.post("/assets", data={"method": "url", "url": "ftp://example.com/v.mp4"}), 400,
                     "parameter_invalid")
        assert_error(c.post("/assets", json={"method": "direct"}), 400, "parameter_not_provided")
        assert_error(httpx.post(f"{live_server.api}/assets", data={"method": "direct"}), 401)

        # Size bound: refused from Content-Length, and from the counted body when it is streamed.
        # (Other modules share this server and may have made an `a.mp4` asset: compare, don't assume none.)
        existing = {a["_id"] for a in c.get("/assets", params={"page_limit": 50, "filename": "a.mp4"}).json()["data"]}
        monkeypatch.setattr(live_server.settings, "max_asset_upload_bytes", 10_000)
        big = b"\0" * (2 * 1024**2)
        assert_error(c.post("/assets", data={"method": "direct"}, files={"file": ("a.mp4", big)}), 413)

        def body_stream() -> Iterator[bytes]:
            yield b"--b\r\nContent-Disposition: form-data; name=\"method\"\r\n\r\ndirect\r\n"
            yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.mp4\"\r\n\r\n"
            for _ in range(40):
                yield b"\0" * 65536
            yield b"\r\n--b--\r\n"

        streamed = c.post("/assets", content=body_stream(),
                          headers={"content-type": "multipart/form-data; boundary=b"})
        assert_error(streamed, 413)
        # Just over the file limit, within the framing allowance: the blob store's bound catches it.
        assert_error(c.post("/assets", data={"method": "direct"}, files={"file": ("a.mp4", b"\0" * 10_001)}),
                     413)
        after = {a["_id"] for a in c.get("/assets", params={"page_limit": 50, "filename": "a.mp4"}).json()["data"]}
        assert after == existing  # nothing half-created


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def file_server(media: Any) -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             partial(_QuietHandler, directory=str(media.root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_create_from_url(tl: TwelveLabs, media: Any, file_server: str) -> None:
    asset: Any = tl.assets.create(method="url", url=f"{file_server}/{media.silent_video.name}",
                             user_metadata='{"source": "web"}')
    assert asset.method == "url" and asset.filename == media.silent_video.name
    ready = wait_asset(tl, asset.id)
    assert ready.status == "ready", ready
    assert ready.size == media.silent_video.stat().st_size
    tl.assets.delete(asset.id)


def test_transcription(tl: TwelveLabs, video_asset: Any, live_server: Any) -> None:
    assert tl.assets.retrieve_transcription(video_asset.id).status == "pending"  # never indexed
    document = {
        "language": "en",
        "segments": [
            {"start": 0.0, "end": 1.5, "text": " Hello there.", "words": [
                {"start": 0.0, "end": 0.6, "text": " Hello", "probability": 0.9},
                {"start": 0.7, "end": 1.5, "text": " there.", "probability": 0.8}]},
            {"start": 1.8, "end": 3.0, "text": "How are you?", "words": [
                {"start": 1.8, "end": 3.0, "text": "How are you?", "probability": 0.7}]},
            {"start": 6.0, "end": 7.0, "text": "Later.", "words": []},
        ],
    }
    live_server.platform.blobs.put_bytes(transcript_blob_key(video_asset.id), json.dumps(document).encode())
    try:
        default = tl.assets.retrieve_transcription(video_asset.id)
        assert default.status == "ready"
        assert [(w.start, w.end, w.value) for w in default.words or []] == [
            (0.0, 0.6, "Hello"), (0.7, 1.5, "there."), (1.8, 3.0, "How are you?")]
        assert default.sentences is None and default.utterances is None

        everything = tl.assets.retrieve_transcription(video_asset.id, include=["sentences", "utterances"])
        assert everything.words is None
        assert [s.value for s in everything.sentences or []] == ["Hello there.", "How are you?", "Later."]
        assert [(u.start, u.end, u.value) for u in everything.utterances or []] == [
            (0.0, 3.0, "Hello there. How are you?"), (6.0, 7.0, "Later.")]

        with httpx.Client(base_url=live_server.api, headers={"x-api-key": tl._client_wrapper.api_key}) as c:
            comma = c.get(f"/assets/{video_asset.id}/transcription", params={"include": "words,sentences"}).json()
            assert comma["status"] == "ready" and len(comma["words"]) == 3 and len(comma["sentences"]) == 3
            assert "utterances" not in comma
            assert_error(c.get(f"/assets/{video_asset.id}/transcription", params={"include": "paragraphs"}),
                         400, "parameter_invalid")
    finally:
        live_server.platform.blobs.delete(transcript_blob_key(video_asset.id))


def _index_row(live_server: Any, tenant_id: str, asset_id: str) -> str:
    platform = live_server.platform
    index = indexes.create(platform, tenant_id, name=f"assets-test-{new_id()}",
                           models=[{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}])
    video_id = new_id()
    with platform.store.session() as s:
        # Marked failed so that no worker picks it up: only the reference matters here.
        s.add(IndexedAssetRow(id=video_id, tenant_id=tenant_id, index_id=index.id, asset_id=asset_id,
                              status="failed", system_metadata={}, user_metadata={}))
    return video_id


def test_delete_indexed_asset_conflicts_unless_forced(tl: TwelveLabs, media: Any, live_server: Any) -> None:
    from framedex.services import auth

    asset: Any = tl.assets.create(method="direct", file=media.short_video.read_bytes(), filename="indexed.mp4")
    tenant_id = auth.authenticate(live_server.platform, tl._client_wrapper.api_key)
    video_id = _index_row(live_server, tenant_id, asset.id)
    with pytest.raises(ConflictError) as err:
        tl.assets.delete(asset.id)
    assert err.value.status_code == 409 and err.value.body["code"]
    assert tl.assets.retrieve(asset.id).id == asset.id
    transcription = tl.assets.retrieve_transcription(asset.id)
    assert transcription.status == "failed" and transcription.error is not None

    tl.assets.delete(asset.id, force=True)
    with pytest.raises(NotFoundError):
        tl.assets.retrieve(asset.id)
    with live_server.platform.store.session() as s:
        assert s.get(IndexedAssetRow, video_id) is None


def test_blob_of_deleted_asset_is_gone(tl: TwelveLabs, media: Any, live_server: Any) -> None:
    from framedex.services.assets import asset_blob_key

    asset: Any = tl.assets.create(method="direct", file=media.short_video.read_bytes())
    path: Path = live_server.platform.blobs.local_path(asset_blob_key(asset.id))
    assert path.exists()
    tl.assets.delete(asset.id)
    assert not path.exists()
