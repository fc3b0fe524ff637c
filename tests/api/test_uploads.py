"""Multipart uploads against a live server: the official SDK's upload_file end to end, and the
protocol's edge cases (signatures, sizes, reporting, expiry, tenants) over plain HTTP."""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select
from twelvelabs import TwelveLabs
from twelvelabs.errors import BadRequestError, NotFoundError
from twelvelabs.types import CompletedChunk

from framedex.ids import new_id, utcnow
from framedex.services import uploads
from framedex.services.assets import asset_blob_key
from framedex.storage.tables import MultipartUploadRow

WAIT_SECONDS = 120


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) >= {"code", "message"} and body["message"], body
    if code is not None:
        assert body["code"] == code, body
    return body


@pytest.fixture()
def small_chunks(live_server: Any, monkeypatch: pytest.MonkeyPatch) -> int:
    size = 16 * 1024
    monkeypatch.setattr(live_server.settings, "multipart_chunk_bytes", size)
    return size


@pytest.fixture()
def client(live_server: Any, api_key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.api, headers={"x-api-key": api_key}, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def other_key(live_server: Any) -> str:
    return str(live_server.new_key("uploads other tenant"))


def create(client: httpx.Client, total_size: int, **extra: Any) -> dict[str, Any]:
    response = client.post("/assets/multipart-uploads",
                           json={"filename": "clip.mp4", "type": "video", "total_size": total_size, **extra})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def chunk_key(live_server: Any, upload_id: str, index: int) -> str:
    with live_server.platform.store.session() as s:
        return uploads.stored_chunk_keys(s, upload_id)[index]


def sdk_uploads(tl: TwelveLabs) -> Any:
    """The SDK's multipart client; its upload helpers live on a wrapper its type hints do not show."""
    return tl.multipart_upload


def put(url: str, data: bytes) -> httpx.Response:
    # Exactly what the SDK does: no API key, octet-stream, ETag required.
    return httpx.put(url, content=data, headers={"Content-Type": "application/octet-stream"})


def test_sdk_upload_file_end_to_end(tl: TwelveLabs, media: Any, tmp_path: Path, small_chunks: int,
                                    live_server: Any) -> None:
    source = tmp_path / "talk.mp4"
    shutil.copy(media.speech_video, source)
    size = source.stat().st_size
    assert size > 3 * small_chunks  # several chunks, so the batching matters
    progress: list[float] = []

    result = sdk_uploads(tl).upload_file(source, filename="My Talk.mp4", batch_size=2,
                                             progress_callback=lambda p: progress.append(p.percentage))
    assert result.asset_id and result.asset_url
    assert progress and progress[-1] == pytest.approx(100.0)

    asset = tl.assets.retrieve(result.asset_id)
    assert asset.method == "multipart" and asset.filename == "My Talk.mp4"
    assert asset.size == size
    stored = live_server.platform.blobs.local_path(asset_blob_key(result.asset_id)).read_bytes()
    assert stored == source.read_bytes()
    with live_server.platform.store.session() as s:
        row = s.scalars(select(MultipartUploadRow).where(MultipartUploadRow.asset_id == result.asset_id)).one()
    assert row.status == "completed" and row.total_chunks > 3
    assert not (live_server.platform.blobs.root / "uploads" / row.id).exists()  # chunks cleaned up

    deadline = time.monotonic() + WAIT_SECONDS
    while asset.status == "processing" and time.monotonic() < deadline:
        time.sleep(0.3)
        asset = tl.assets.retrieve(result.asset_id)
    assert asset.status == "ready", asset
    assert asset.duration == pytest.approx(10.0, abs=0.5)


def test_sdk_upload_needing_more_presigned_urls(tl: TwelveLabs, tmp_path: Path, live_server: Any,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """More than 50 chunks: the SDK must fetch URLs beyond the first 50 with presigned-urls."""
    monkeypatch.setattr(live_server.settings, "multipart_chunk_bytes", 1024)
    source = tmp_path / "noise.bin"
    data = os.urandom(1024 * 57 + 321)
    source.write_bytes(data)
    result = sdk_uploads(tl).upload_file(source, batch_size=20, max_workers=8)
    assert result.asset_url
    assert result.asset_id is not None
    assert live_server.platform.blobs.local_path(asset_blob_key(result.asset_id)).read_bytes() == data

    uploads_seen = [u for u in tl.multipart_upload.list_incomplete_uploads()]
    assert all(u.status != "completed" for u in uploads_seen)


def test_manual_flow_status_and_reporting(client: httpx.Client, small_chunks: int, tl: TwelveLabs) -> None:
    data = os.urandom(small_chunks * 2 + 100)
    session = create(client, len(data), user_metadata={"k": "v", "drop": "", "gone": None})
    upload_id, asset_id = session["upload_id"], session["asset_id"]
    assert session["chunk_size"] == small_chunks and session["total_chunks"] == 3
    assert [u["chunk_index"] for u in session["upload_urls"]] == [1, 2, 3]
    assert all(u["url"].startswith("http://127.0.0.1:") for u in session["upload_urls"])
    assert session["expires_at"].endswith("Z")
    urls = {u["chunk_index"]: u["url"] for u in session["upload_urls"]}
    assert tl.assets.retrieve(asset_id).user_metadata == {"k": "v"}

    # Incomplete sessions are listed (the SDK needs data and page_info).
    listed = [u.upload_id for u in tl.multipart_upload.list_incomplete_uploads()]
    assert upload_id in listed

    # Reporting a chunk that is not uploaded yet fails, and changes nothing.
    assert_error(client.post(f"/assets/multipart-uploads/{upload_id}", json={"completed_chunks": [
        {"chunk_index": 1, "proof": "x", "proof_type": "etag", "chunk_size": small_chunks}]}),
        400, "chunk_not_uploaded")

    parts = [data[:small_chunks], data[small_chunks:2 * small_chunks], data[2 * small_chunks:]]
    etags = {}
    for index in (1, 2, 3):
        response = put(urls[index], parts[index - 1])
        assert response.status_code == 200, response.text
        etags[index] = response.headers["ETag"].strip('"')
        assert response.headers["ETag"].startswith('"')

    # A wrong proof or size is refused.
    assert_error(client.post(f"/assets/multipart-uploads/{upload_id}", json={"completed_chunks": [
        {"chunk_index": 1, "proof": "0" * 32, "proof_type": "etag", "chunk_size": small_chunks}]}),
        400, "chunk_proof_mismatch")
    assert_error(client.post(f"/assets/multipart-uploads/{upload_id}", json={"completed_chunks": [
        {"chunk_index": 1, "proof": etags[1], "proof_type": "etag", "chunk_size": 5}]}),
        400, "chunk_size_mismatch")
    assert_error(client.post(f"/assets/multipart-uploads/{upload_id}", json={"completed_chunks": [
        {"chunk_index": 4, "proof": etags[1], "proof_type": "etag", "chunk_size": 5}]}), 400)
    assert_error(client.post(f"/assets/multipart-uploads/{upload_id}", json={"completed_chunks": []}), 400)
    assert_error(client.post(f"/assets/multipart-uploads/{upload_id}", json={}), 400, "parameter_not_provided")
    assert_error(client.post(f"/assets/multipart-uploads/{upload_id}",
                             json={"completed_chunks": [{"chunk_index": "one", "proof": "x"}]}), 400)

    first = client.post(f"/assets/multipart-uploads/{upload_id}", json={"completed_chunks": [
        {"chunk_index": i, "proof": f'"{etags[i]}"', "proof_type": "etag", "chunk_size": len(parts[i - 1])}
        for i in (1, 3, 3)]})
    assert first.status_code == 200, first.text
    assert first.json() == {"url": "", "asset_id": asset_id, "processed_chunks": 2, "duplicate_chunks": 1,
                            "total_completed": 2}

    # Status pages through every chunk; past the last page `uploaded_chunks` is empty.
    status = client.get(f"/assets/multipart-uploads/{upload_id}", params={"page_limit": 2}).json()
    assert status["status"] == "active" and status["total_size"] == len(data)
    assert [(c["index"], c["status"]) for c in status["uploaded_chunks"]] == [(1, "completed"), (2, "pending")]
    assert status["chunks_completed"] == 2 and status["chunks_pending"] == 1
    assert status["uploaded_size"] == small_chunks + len(parts[2])
    assert status["page_info"]["total_results"] == 3
    past = client.get(f"/assets/multipart-uploads/{upload_id}", params={"page": 3, "page_limit": 2}).json()
    assert past["uploaded_chunks"] == []
    assert [c.index for c in tl.multipart_upload.get_status(upload_id, page_limit=2)] == [1, 2, 3]

    last = client.post(f"/assets/multipart-uploads/{upload_id}", json={"completed_chunks": [
        {"chunk_index": 2, "proof": etags[2], "proof_type": "etag", "chunk_size": small_chunks}]}).json()
    assert last["url"] and last["asset_id"] == asset_id and last["total_completed"] == 3
    assert tl.assets.retrieve(asset_id).size == len(data)

    done = client.get(f"/assets/multipart-uploads/{upload_id}").json()
    assert done["status"] == "completed" and done["chunks_completed"] == 3 and done["uploaded_size"] == len(data)
    assert sdk_uploads(tl).wait_for_upload_completion(upload_id, sleep_interval=0.1).status == "completed"
    assert upload_id not in [u.upload_id for u in tl.multipart_upload.list_incomplete_uploads()]

    # Reporting again is harmless; uploading again is refused.
    again = client.post(f"/assets/multipart-uploads/{upload_id}", json={"completed_chunks": [
        {"chunk_index": 2, "proof": etags[2], "proof_type": "etag", "chunk_size": small_chunks}]}).json()
    assert again["url"] and again["duplicate_chunks"] == 1
    assert_error(put(urls[1], parts[0]), 409)
    assert_error(client.post(f"/assets/multipart-uploads/{upload_id}/presigned-urls",
                             json={"start": 1, "count": 1}), 409)


def test_chunk_put_is_validated(client: httpx.Client, small_chunks: int, live_server: Any) -> None:
    session = create(client, small_chunks + 10)
    upload_id = session["upload_id"]
    url1, url2 = (u["url"] for u in session["upload_urls"])

    assert_error(put(url1, b"\0" * (small_chunks + 1)), 413, "chunk_too_large")
    assert_error(put(url1, b"\0" * (small_chunks - 1)), 400, "chunk_size_mismatch")
    assert_error(put(url2, b"\0" * 11), 413)  # the last chunk's size is the remainder

    def streamed() -> Iterator[bytes]:  # no Content-Length: the counted stream is bounded too
        for _ in range(small_chunks // 1000 + 2):
            yield b"\0" * 1000

    response = httpx.put(url1, content=streamed())
    assert_error(response, 413, "chunk_too_large")

    parts = urlsplit(url1)
    query = parse_qs(parts.query)
    base = f"{parts.scheme}://{parts.netloc}{parts.path}"
    assert_error(httpx.put(base, content=b"x"), 403, "signature_invalid")
    assert_error(httpx.put(f"{base}?expires={query['expires'][0]}&sig={'0' * 64}", content=b"x"), 403,
                 "signature_invalid")
    # A URL signed for chunk 1 cannot be used for chunk 2.
    assert_error(httpx.put(url1.replace("/chunks/1?", "/chunks/2?"), content=b"x" * 10), 403, "signature_invalid")
    assert_error(httpx.put(url1.replace(upload_id, new_id()), content=b"x"), 404)
    assert_error(httpx.put(f"{base}?expires=soon&sig=abc", content=b"x"), 403)

    # A validly signed but expired URL.
    with live_server.platform.store.session() as s:
        row = s.get(MultipartUploadRow, upload_id)
    past = int((utcnow() - timedelta(minutes=1)).timestamp())
    sig = uploads._signature(live_server.platform, row, 1, past)
    assert_error(httpx.put(f"{base}?expires={past}&sig={sig}", content=b"x"), 403, "url_expired")

    # A good chunk, then the same chunk again with other bytes: the newest wins, and its ETag changes.
    first = put(url1, b"a" * small_chunks)
    second = put(url1, b"b" * small_chunks)
    assert first.status_code == second.status_code == 200
    assert first.headers["ETag"] != second.headers["ETag"]
    # Served at the root as well as under /v1.3.
    root_url = url1.replace("/uploads/", "/v1.3/uploads/")
    assert put(root_url, b"c" * small_chunks).status_code == 200


def test_presigned_urls(client: httpx.Client, live_server: Any, monkeypatch: pytest.MonkeyPatch,
                        tl: TwelveLabs) -> None:
    monkeypatch.setattr(live_server.settings, "multipart_chunk_bytes", 100)
    session = create(client, 100 * 120 + 1)
    upload_id = session["upload_id"]
    assert session["total_chunks"] == 121 and len(session["upload_urls"]) == 50

    more = tl.multipart_upload.get_additional_presigned_urls(upload_id, start=101, count=50)
    assert more.start_index == 101 and more.count == 21  # clipped to the last chunk
    assert [u.chunk_index for u in more.upload_urls or []] == list(range(101, 122))
    assert more.expires_at is not None and more.generated_at is not None
    last = (more.upload_urls or [])[-1]
    assert last.url is not None
    assert put(last.url, b"z").status_code == 200

    for body in ({"start": 0, "count": 1}, {"start": 122, "count": 1}, {"start": 1, "count": 51},
                 {"start": 1, "count": 0}, {"start": "a", "count": 1}, {"count": 1}):
        assert_error(client.post(f"/assets/multipart-uploads/{upload_id}/presigned-urls", json=body), 400)

    # public_url, when set, is what the URLs point at.
    monkeypatch.setattr(live_server.settings, "public_url", "https://media.example.test/base/")
    urls = client.post(f"/assets/multipart-uploads/{upload_id}/presigned-urls",
                       json={"start": 1, "count": 2}).json()["upload_urls"]
    assert urls[0]["url"].startswith(f"https://media.example.test/base/uploads/{upload_id}/chunks/1?")


def test_create_is_validated(client: httpx.Client, live_server: Any, tl: TwelveLabs) -> None:
    endpoint = "/assets/multipart-uploads"
    good = {"filename": "a.mp4", "type": "video", "total_size": 10}
    for field in ("filename", "type", "total_size"):
        body = {k: v for k, v in good.items() if k != field}
        assert_error(client.post(endpoint, json=body), 400, "parameter_not_provided")
    for field, value in (("total_size", 0), ("total_size", -5), ("total_size", "abc"), ("total_size", 1.5),
                         ("type", "document"), ("type", 7), ("filename", ""),
                         ("user_metadata", {"x": {"y": 1}}), ("user_metadata", "str")):
        response = client.post(endpoint, json={**good, field: value})
        assert response.status_code == 400, (field, value, response.text)
        assert_error(response, 400)
    assert_error(client.post(endpoint, json={**good, "total_size": live_server.settings.max_multipart_bytes + 1}),
                 400, "file_too_large")
    assert_error(client.post(endpoint, json={**good, "type": "image", "total_size": 33 * 1024**2}), 400,
                 "file_too_large")
    assert_error(client.post(endpoint, content=b"{", headers={"content-type": "application/json"}), 400)
    assert_error(httpx.post(f"{live_server.api}{endpoint}", json=good), 401)
    with pytest.raises(BadRequestError):
        tl.multipart_upload.create(filename="a.mp4", type="video", total_size=-1)


def test_other_tenant_gets_404(client: httpx.Client, other_key: str, live_server: Any,
                               small_chunks: int) -> None:
    session = create(client, 10)
    upload_id = session["upload_id"]
    other = TwelveLabs(api_key=other_key, base_url=live_server.api)
    with pytest.raises(NotFoundError):
        other.multipart_upload.get_status(upload_id)
    with pytest.raises(NotFoundError):
        other.multipart_upload.get_additional_presigned_urls(upload_id, start=1, count=1)
    with pytest.raises(NotFoundError):
        other.multipart_upload.report_chunk_batch(
            upload_id, completed_chunks=[CompletedChunk(chunk_index=1, proof="x", proof_type="etag", chunk_size=10)]
        )
    with pytest.raises(NotFoundError):
        other.assets.retrieve(session["asset_id"])
    assert upload_id not in [u.upload_id for u in other.multipart_upload.list_incomplete_uploads()]
    for bad in (new_id(), "nope"):
        assert_error(client.get(f"/assets/multipart-uploads/{bad}"), 404)


def test_expired_session(client: httpx.Client, live_server: Any, small_chunks: int) -> None:
    session = create(client, 10)
    upload_id = session["upload_id"]
    url = session["upload_urls"][0]["url"]
    assert put(url, b"0123456789").status_code == 200
    with live_server.platform.store.session() as s:
        row = s.get(MultipartUploadRow, upload_id)
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)

    status = client.get(f"/assets/multipart-uploads/{upload_id}").json()
    assert status["status"] == "expired"
    listed = client.get("/assets/multipart-uploads", params={"page_limit": 50}).json()["data"]
    assert {"upload_id": upload_id, "status": "expired"}.items() <= next(
        u for u in listed if u["upload_id"] == upload_id).items()
    assert_error(client.post(f"/assets/multipart-uploads/{upload_id}/presigned-urls",
                             json={"start": 1, "count": 1}), 400, "upload_expired")
    assert_error(client.post(f"/assets/multipart-uploads/{upload_id}", json={"completed_chunks": [
        {"chunk_index": 1, "proof": "x", "proof_type": "etag", "chunk_size": 10}]}), 400, "upload_expired")

    # Housekeeping fails the asset and drops the chunks.
    chunk = chunk_key(live_server, upload_id, 1)
    assert live_server.platform.blobs.exists(chunk)
    assert uploads.expire_stale(live_server.platform) >= 1
    assert not live_server.platform.blobs.exists(chunk)
    asset = client.get(f"/assets/{session['asset_id']}").json()
    assert asset["status"] == "failed" and "expired" in asset["error"]["message"]


def test_deleting_the_asset_ends_the_session(client: httpx.Client, live_server: Any, small_chunks: int) -> None:
    session = create(client, 10)
    upload_id = session["upload_id"]
    assert put(session["upload_urls"][0]["url"], b"0123456789").status_code == 200
    chunk = chunk_key(live_server, upload_id, 1)
    assert live_server.platform.blobs.exists(chunk)
    assert client.delete(f"/assets/{session['asset_id']}").status_code == 204
    assert_error(client.get(f"/assets/multipart-uploads/{upload_id}"), 404)
    assert not live_server.platform.blobs.exists(chunk)
    assert_error(put(session["upload_urls"][0]["url"], b"0123456789"), 404)


def test_a_chunk_sent_twice_at_once_is_stored_whole_and_matches_its_proof(
        client: httpx.Client, small_chunks: int, live_server: Any) -> None:
    """Two PUTs of chunk 1 with different bytes, their bodies held mid-stream until both are in flight
    and then finished together (a client retrying a PUT it believes timed out): both succeed, exactly
    one of the two ETags is the chunk's proof, and the assembled file holds that PUT's bytes, whole."""
    for _round in range(6):
        _race_chunk_one(client, live_server, small_chunks)


def _race_chunk_one(client: httpx.Client, live_server: Any, small_chunks: int) -> None:
    tail = os.urandom(10)
    session = create(client, small_chunks + len(tail))
    upload_id, asset_id = session["upload_id"], session["asset_id"]
    url1, url2 = (u["url"] for u in session["upload_urls"])
    assert put(url2, tail).status_code == 200
    bodies = [os.urandom(small_chunks), os.urandom(small_chunks)]
    both_in_flight = threading.Barrier(2, timeout=30)

    def held(body: bytes) -> Iterator[bytes]:
        yield body[:small_chunks // 2]
        both_in_flight.wait()
        yield body[small_chunks // 2:]

    def send(body: bytes) -> httpx.Response:
        return httpx.put(url1, content=held(body), timeout=60,
                         headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(body))})

    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(send, bodies))
    assert [r.status_code for r in responses] == [200, 200], [r.text for r in responses]
    etags = [r.headers["ETag"].strip('"') for r in responses]
    assert etags == [hashlib.md5(b, usedforsecurity=False).hexdigest() for b in bodies]

    # One stored blob per chunk: the replaced PUT's bytes are gone, not left beside the winner's.
    stored = [p.name for p in (live_server.platform.blobs.root / "uploads" / upload_id).iterdir()
              if not p.name.startswith(".tmp-")]
    assert len(stored) == 2, stored

    def report(index: int, etag: str, size: int) -> httpx.Response:
        return client.post(f"/assets/multipart-uploads/{upload_id}", json={"completed_chunks": [
            {"chunk_index": index, "proof": etag, "proof_type": "etag", "chunk_size": size}]})

    accepted = [i for i, etag in enumerate(etags) if report(1, etag, small_chunks).status_code == 200]
    assert len(accepted) == 1, accepted
    done = report(2, hashlib.md5(tail, usedforsecurity=False).hexdigest(), len(tail))
    assert done.status_code == 200 and done.json()["url"], done.text
    with live_server.platform.blobs.open(asset_blob_key(asset_id)) as assembled:
        assert assembled.read() == bodies[accepted[0]] + tail
