"""The sync client against the real framedex server on loopback (the session's ``live_server``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from framedex import TwelveLabs
from framedex.client import types
from framedex.errors import BadRequestError, NotFoundError, UnauthorizedError

from .conftest import MODELS, unique


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


@pytest.fixture(scope="module")
def indexed(client: TwelveLabs, speech_video: Path) -> dict[str, Any]:
    """An index with the spoken test video, uploaded from a path through ``POST /tasks``."""
    index = client.indexes.create(index_name=unique("client-live"), models=MODELS)
    assert index.id
    task = client.tasks.create(index_id=index.id, video_file=speech_video, user_metadata={"topic": "fox"})
    assert task.id and task.video_id and task.index_id == index.id
    polled: list[str | None] = []
    final = task.wait_for_done(sleep_interval=0.25, callback=lambda t: polled.append(t.status), timeout=240)
    assert final is task and task.status == "ready", task
    assert polled and polled[-1] == "ready"
    return {"index_id": index.id, "task": task, "video_id": task.video_id}


def test_index_crud(client: TwelveLabs) -> None:
    name = unique("crud")
    created = client.indexes.create(index_name=name, models=MODELS, addons=["thumbnail"])
    assert created.id
    index = client.indexes.retrieve(created.id)
    assert isinstance(index, types.Index)
    assert (index.id, index.index_name, index.addons) == (created.id, name, ["thumbnail"])
    assert index.models and index.models[0].model_name == "marengo3.0"
    assert index.models[0].model_options == ["visual", "audio"]
    client.indexes.update(created.id, index_name=name + "-renamed")
    assert client.indexes.retrieve(created.id).index_name == name + "-renamed"
    assert created.id in [i.id for i in client.indexes.list(index_name=name + "-renamed")]
    client.indexes.delete(created.id)
    with pytest.raises(NotFoundError) as err:
        client.indexes.retrieve(created.id)
    assert err.value.status_code == 404
    assert err.value.code == "resource_not_exists"
    assert err.value.message and created.id in err.value.message


def test_index_paging_past_the_last_page(client: TwelveLabs) -> None:
    ids = {client.indexes.create(index_name=unique(f"page{i}"), models=MODELS).id for i in range(3)}
    pager = client.indexes.list(page_limit=2)
    assert len(pager.items) == 2 and pager.page_info and pager.page_info.total_results
    total = pager.page_info.total_results
    listed = [i.id for i in pager]  # walks page 1, 2, ... until a page comes back empty
    assert len(listed) == total == len(set(listed)) and ids <= set(listed)
    pages = list(pager.pages())
    assert all(len(p) <= 2 for p in pages) and sum(len(p) for p in pages) == total
    beyond = client.indexes.list(page=999, page_limit=2)  # past the end: 200 with no data
    assert beyond.items == [] and list(beyond) == []


def test_typed_errors(client: TwelveLabs, live_server: Any) -> None:
    with pytest.raises(NotFoundError) as err:
        client.tasks.retrieve("0" * 24)
    assert err.value.code and err.value.message
    with pytest.raises(BadRequestError) as bad:
        client.indexes.create(index_name="", models=[])
    assert bad.value.code and bad.value.message
    with TwelveLabs(api_key="tlk_wrong", base_url=live_server.url) as wrong, pytest.raises(UnauthorizedError) as un:
        wrong.indexes.list()
    assert un.value.status_code == 401 and un.value.code and un.value.message
    with TwelveLabs(base_url=live_server.url) as anonymous, pytest.raises(UnauthorizedError):
        anonymous.indexes.retrieve("0" * 24)


def test_task_from_path_is_indexed(client: TwelveLabs, indexed: dict[str, Any], speech_video: Path) -> None:
    task = client.tasks.retrieve(indexed["task"].id)
    assert task.status == "ready" and task.video_id == indexed["video_id"]
    assert task.system_metadata and task.system_metadata.filename == speech_video.name
    assert task.system_metadata.duration == pytest.approx(5, abs=0.3)
    listed = client.tasks.list(index_id=indexed["index_id"], status=["ready"])
    assert indexed["task"].id in [t.id for t in listed]
    assert all(t._client is not None for t in listed.items)  # list items can wait_for_done too

    asset = client.indexes.indexed_assets.retrieve(indexed["index_id"], indexed["video_id"], transcription=True)
    assert asset.system_metadata and (asset.system_metadata.width, asset.system_metadata.height) == (640, 360)
    assert asset.user_metadata == {"topic": "fox"}
    spoken = " ".join(seg.value or "" for seg in asset.transcription or [])
    # most of the words of a synthetic voice (int8 Whisper output differs across CPUs)
    assert len({"quick", "brown", "fox", "lazy", "dog", "river"} & words(spoken)) >= 4, spoken
    video = client.indexes.videos.retrieve(indexed["index_id"], indexed["video_id"])
    assert video.id == indexed["video_id"]
    assert indexed["video_id"] in [v.id for v in client.indexes.videos.list(indexed["index_id"])]
    filtered = client.indexes.indexed_assets.list(indexed["index_id"], user_metadata={"topic": "fox"},
                                                  duration={"gte": 4, "lte": 6})
    assert [a.id for a in filtered] == [indexed["video_id"]]

    client.indexes.indexed_assets.update(indexed["index_id"], indexed["video_id"], user_metadata={"n": 2})
    assert client.indexes.videos.retrieve(indexed["index_id"], indexed["video_id"]).user_metadata == {
        "topic": "fox", "n": 2}


def test_task_from_file_object(client: TwelveLabs, indexed: dict[str, Any], speech_video: Path) -> None:
    with speech_video.open("rb") as fh:
        task = client.tasks.create(index_id=indexed["index_id"], video_file=fh)
    final = client.tasks.wait_for_done(task.id or "", sleep_interval=0.25, timeout=240)
    assert final.status == "ready" and final.video_id == task.video_id
    assert final.system_metadata and final.system_metadata.filename == speech_video.name
    with pytest.raises(BadRequestError) as err:  # a ready task's video must be deleted first
        client.tasks.delete(task.id or "")
    assert err.value.code == "task_cannot_be_deleted"
    client.indexes.videos.delete(indexed["index_id"], final.video_id or "")
    with pytest.raises(NotFoundError):
        client.indexes.videos.retrieve(indexed["index_id"], final.video_id or "")


def test_search_transcription(client: TwelveLabs, indexed: dict[str, Any]) -> None:
    hits = list(client.search.query(index_id=indexed["index_id"], query_text="quick brown fox",
                                    search_options=["transcription"], page_limit=1))
    assert indexed["video_id"] in [h.video_id for h in hits]
    top = next(h for h in hits if h.video_id == indexed["video_id"])
    assert top.start is not None and top.end is not None and 0 <= top.start < top.end <= 5.5
    assert top.transcription and "fox" in top.transcription.lower()
    first = client.search.create(index_id=indexed["index_id"], query_text="quick brown fox",
                                 search_options=["transcription"], transcription_options=["lexical"],
                                 page_limit=1, filter={"id": [indexed["video_id"]]})
    assert first.data and first.data[0].video_id == indexed["video_id"]
    token = first.page_info.next_page_token if first.page_info else None
    if token:
        nxt = client.search.retrieve(token)
        assert nxt.data is not None


def test_assets_and_indexed_assets(client: TwelveLabs, indexed: dict[str, Any], speech_video: Path) -> None:
    asset = client.assets.create(file=speech_video, user_metadata={"source": "client-test"})
    assert asset.id and asset.method == "direct"
    ready = client.assets.wait_for_ready(asset.id, sleep_interval=0.2, timeout=120)
    assert ready.status == "ready", ready
    assert asset.id in [a.id for a in client.assets.list(asset_ids=[asset.id])]

    client.assets.update_user_metadata(asset.id, user_metadata={"extra": 1})
    assert client.assets.retrieve(asset.id).user_metadata == {"source": "client-test", "extra": 1}
    client.assets.replace_user_metadata(asset.id, user_metadata={"only": "this"})
    assert client.assets.retrieve(asset.id).user_metadata == {"only": "this"}
    client.assets.delete_user_metadata(asset.id)
    assert not client.assets.retrieve(asset.id).user_metadata

    created = client.indexes.indexed_assets.create(indexed["index_id"], asset_id=asset.id)
    assert created.id
    done = client.indexes.indexed_assets.wait_for_done(indexed["index_id"], created.id, sleep_interval=0.25,
                                                       timeout=240)
    assert done.status == "ready", done
    by_asset = client.indexes.indexed_assets.list_by_asset(asset.id)
    assert [s.id for s in by_asset] == [created.id]
    transcript = client.assets.retrieve_transcription(asset.id, include=["words", "sentences"])
    assert transcript.status == "ready"
    assert {"quick", "fox"} <= words(" ".join(w.value or "" for w in transcript.words or []))

    client.indexes.indexed_assets.delete(indexed["index_id"], created.id)
    with pytest.raises(NotFoundError):
        client.indexes.indexed_assets.retrieve(indexed["index_id"], created.id)


def test_multipart_upload_file(client: TwelveLabs, speech_video: Path) -> None:
    progress: list[types.UploadProgress] = []
    result = client.multipart_upload.upload_file(speech_video, filename="multi.mp4", progress_callback=progress.append)
    assert result.asset_id and result.upload_id
    assert progress and progress[-1].percentage == 100.0 and progress[-1].status == "completed"
    asset = client.assets.retrieve(result.asset_id)
    assert asset.filename == "multi.mp4" and asset.method == "multipart"
    status = client.multipart_upload.get_status(result.upload_id)
    assert isinstance(status.first_page, types.UploadStatus)
    assert status.first_page.status == "completed"
    assert all(chunk.status == "completed" for chunk in status)
    assert result.upload_id not in [u.upload_id for u in client.multipart_upload.list_incomplete_uploads()]


def test_multipart_upload_by_hand(client: TwelveLabs, tmp_path: Path, speech_video: Path) -> None:
    data = speech_video.read_bytes()
    upload = client.multipart_upload.create(filename="hand.mp4", total_size=len(data))
    assert upload.upload_id and upload.chunk_size and upload.upload_urls
    assert len(data) <= upload.chunk_size  # one chunk
    assert upload.upload_id in [u.upload_id for u in client.multipart_upload.list_incomplete_uploads()]
    urls = client.multipart_upload.get_additional_presigned_urls(upload.upload_id, start=1, count=1)
    assert urls.upload_urls and urls.upload_urls[0].chunk_index == 1 and urls.upload_urls[0].url
    put = httpx.put(urls.upload_urls[0].url, content=data[: upload.chunk_size])
    etag = put.headers["etag"].strip('"')
    report = client.multipart_upload.report_chunk_batch(
        upload.upload_id,
        completed_chunks=[types.CompletedChunk(chunk_index=1, proof=etag, chunk_size=min(len(data),
                                                                                          upload.chunk_size))],
    )
    assert report.url and report.asset_id == upload.asset_id
