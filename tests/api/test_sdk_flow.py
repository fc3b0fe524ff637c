"""The official twelvelabs SDK against a live framedex server: the flow of issue #2's acceptance checks."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from twelvelabs import TwelveLabs
from twelvelabs.core.api_error import ApiError

from tests.conftest import SPOKEN_TEXT, LiveServer, Media

MODELS = [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


@pytest.fixture(scope="module")
def indexed(tl: TwelveLabs, media: Media) -> dict[str, str]:
    index = tl.indexes.create(index_name=f"sdk-flow-{time.time()}", models=MODELS)
    with media.speech_video.open("rb") as f:
        task = tl.tasks.create(index_id=index.id, video_file=f)
    assert task.id and task.video_id
    done = tl.tasks.wait_for_done(task_id=task.id, sleep_interval=0.5)
    assert done.status == "ready", done
    return {"index_id": index.id, "task_id": task.id, "video_id": task.video_id}


def test_index_create_list_retrieve(tl: TwelveLabs) -> None:
    name = f"idx-{time.time()}"
    created = tl.indexes.create(index_name=name, models=MODELS, addons=["thumbnail"])
    fetched = tl.indexes.retrieve(created.id)
    assert fetched.index_name == name
    assert fetched.models[0].model_name == "marengo3.0"
    assert fetched.models[0].model_options == ["visual", "audio"]
    assert fetched.addons == ["thumbnail"]
    assert created.id in [i.id for i in tl.indexes.list()]
    tl.indexes.update(created.id, index_name=name + "-renamed")
    assert tl.indexes.retrieve(created.id).index_name == name + "-renamed"
    tl.indexes.delete(created.id)
    with pytest.raises(ApiError) as err:
        tl.indexes.retrieve(created.id)
    assert err.value.status_code == 404
    assert err.value.body["code"] == "resource_not_exists" and err.value.body["message"]


def test_index_list_pages_end_with_empty_data(tl: TwelveLabs, http: httpx.Client) -> None:
    for i in range(3):
        tl.indexes.create(index_name=f"paged-{time.time()}-{i}", models=MODELS)
    total = http.get("/indexes", params={"page_limit": 50}).json()["page_info"]["total_results"]
    listed = list(tl.indexes.list(page_limit=2))  # the pager walks every page until data == []
    assert len(listed) == total >= 3
    past = http.get("/indexes", params={"page": 999, "page_limit": 2})
    assert past.status_code == 200 and past.json()["data"] == []


def test_task_indexes_speech_video(tl: TwelveLabs, indexed: dict[str, str], media: Media) -> None:
    task = tl.tasks.retrieve(indexed["task_id"])
    assert task.status == "ready" and task.video_id == indexed["video_id"]
    assert task.system_metadata.filename == media.speech_video.name
    assert task.system_metadata.duration == pytest.approx(10, abs=0.3)
    asset = tl.indexes.indexed_assets.retrieve(indexed["index_id"], indexed["video_id"], transcription=True)
    assert asset.system_metadata.width == 640 and asset.system_metadata.height == 360
    spoken = " ".join(t.value for t in asset.transcription or [])
    expected = words(SPOKEN_TEXT)
    recall = len(expected & words(spoken)) / len(expected)
    assert recall >= 0.7, spoken
    starts = [t.start for t in asset.transcription or []]
    assert starts == sorted(starts) and all(0 <= s <= 10.5 for s in starts)
    # the same video through the legacy videos API
    video = tl.indexes.videos.retrieve(indexed["index_id"], indexed["video_id"], transcription=True)
    assert video.transcription and video.system_metadata.duration == pytest.approx(10, abs=0.3)
    listed = [v.id for v in tl.indexes.videos.list(indexed["index_id"])]
    assert indexed["video_id"] in listed
    tasks = [t.id for t in tl.tasks.list(index_id=indexed["index_id"], status=["ready"])]
    assert indexed["task_id"] in tasks


def test_search_transcription_finds_phrase(tl: TwelveLabs, indexed: dict[str, str], http: httpx.Client) -> None:
    hits = list(tl.search.query(index_id=indexed["index_id"], query_text="humpback whales",
                                search_options=["transcription"]))
    assert hits, "the spoken phrase was not found"
    top = hits[0]
    assert top.video_id == indexed["video_id"]
    assert top.rank == 1 and 0 <= top.start < top.end <= 10.5
    assert "whale" in (top.transcription or "").lower()
    thumb = httpx.get(top.thumbnail_url)
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
    raw = http.post("/search", data={"index_id": indexed["index_id"], "query_text": "humpback whales",
                                     "search_options": "transcription"}).json()
    assert raw["data"][0]["confidence"] in ("high", "medium") and raw["data"][0]["score"] > 0
    nothing = list(tl.search.query(index_id=indexed["index_id"], query_text="spreadsheet accounting",
                                   search_options=["transcription"]))
    assert nothing == []


def test_search_pages_with_tokens(tl: TwelveLabs, media: Media, http: httpx.Client) -> None:
    index = tl.indexes.create(index_name=f"paging-{time.time()}", models=MODELS)
    tasks = []
    for _ in range(3):
        with media.speech_video.open("rb") as f:
            tasks.append(tl.tasks.create(index_id=index.id, video_file=f))
    for task in tasks:
        assert tl.tasks.wait_for_done(task_id=task.id, sleep_interval=0.5).status == "ready"
    first = http.post("/search", data={"index_id": index.id, "query_text": "glaciers volcanoes",
                                       "search_options": "transcription", "page_limit": "1"}).json()
    assert len(first["data"]) == 1 and first["page_info"]["next_page_token"]
    second = http.get(f"/search/{first['page_info']['next_page_token']}").json()
    assert second["page_info"]["prev_page_token"] and second["data"][0]["rank"] == 2
    all_hits = list(tl.search.query(index_id=index.id, query_text="glaciers volcanoes",
                                    search_options=["transcription"], page_limit=1))
    assert len({h.video_id for h in all_hits}) == 3
    grouped = http.post("/search", data={"index_id": index.id, "query_text": "glaciers",
                                         "search_options": "transcription", "group_by": "video"}).json()
    assert len(grouped["data"]) == 3 and all(g["clips"] for g in grouped["data"])
    one = http.post("/search", data={"index_id": index.id, "query_text": "glaciers",
                                     "search_options": "transcription",
                                     "filter": f'{{"id": ["{tasks[0].video_id}"]}}'}).json()
    assert {h["video_id"] for h in one["data"]} == {tasks[0].video_id}
    bad = http.get("/search/not-a-token")
    assert bad.status_code == 400 and bad.json()["code"] == "search_page_token_invalid"


def test_assets_then_indexed_assets(tl: TwelveLabs, indexed: dict[str, str], media: Media) -> None:
    with media.speech_video.open("rb") as f:
        asset = tl.assets.create(method="direct", file=f)
    deadline = time.monotonic() + 60
    while tl.assets.retrieve(asset.id).status != "ready" and time.monotonic() < deadline:
        time.sleep(0.3)
    created = tl.indexes.indexed_assets.create(indexed["index_id"], asset_id=asset.id)
    deadline = time.monotonic() + 180
    status = None
    while time.monotonic() < deadline:
        status = tl.indexes.indexed_assets.retrieve(indexed["index_id"], created.id).status
        if status in ("ready", "failed"):
            break
        time.sleep(0.5)
    assert status == "ready"
    by_asset = list(tl.indexes.indexed_assets.list_by_asset(asset.id))
    assert [ia.id for ia in by_asset] == [created.id]
    # `IndexedAssetSummary.index{_id, name}`: the SDK reads the index from here, not from `index_id`.
    assert by_asset[0].index is not None
    assert by_asset[0].index.id == indexed["index_id"]
    assert by_asset[0].index.name == tl.indexes.retrieve(indexed["index_id"]).index_name
    tl.indexes.indexed_assets.update(indexed["index_id"], created.id, user_metadata={"topic": "nature", "n": 3})
    found = [ia.id for ia in tl.indexes.indexed_assets.list(indexed["index_id"], user_metadata={"topic": "nature"})]
    assert found == [created.id]
    found_legacy = [v.id for v in tl.indexes.videos.list(indexed["index_id"], user_metadata={"n": 3})]
    assert found_legacy == [created.id]
    tl.indexes.indexed_assets.delete(indexed["index_id"], created.id)
    with pytest.raises(ApiError) as err:
        tl.indexes.indexed_assets.retrieve(indexed["index_id"], created.id)
    assert err.value.status_code == 404


def test_missing_index_is_404_with_code(tl: TwelveLabs, http: httpx.Client) -> None:
    with pytest.raises(ApiError) as err:
        tl.indexes.retrieve("0123456789abcdef01234567")
    assert err.value.status_code == 404
    assert set(err.value.body) >= {"code", "message"}
    resp = http.get("/indexes/0123456789abcdef01234567/videos")
    assert resp.status_code == 404 and resp.json()["code"] == "resource_not_exists"


def test_wrong_key_is_rejected(live_server: LiveServer) -> None:
    bad = TwelveLabs(api_key="fdx_not-a-real-key", base_url=live_server.api)
    with pytest.raises(ApiError) as err:
        list(bad.indexes.list())
    assert err.value.status_code == 401 and err.value.body["code"] == "api_key_invalid"
    missing = httpx.get(f"{live_server.api}/indexes")
    assert missing.status_code == 401


def test_tenants_are_isolated(live_server: LiveServer, tl: TwelveLabs, indexed: dict[str, str]) -> None:
    other = TwelveLabs(api_key=live_server.new_key("other-tenant"), base_url=live_server.api)
    assert indexed["index_id"] not in [i.id for i in other.indexes.list()]
    with pytest.raises(ApiError) as err:
        other.indexes.retrieve(indexed["index_id"])
    assert err.value.status_code == 404
    with pytest.raises(ApiError):
        other.tasks.retrieve(indexed["task_id"])
    with pytest.raises(ApiError):
        other.indexes.indexed_assets.retrieve(indexed["index_id"], indexed["video_id"])
    hits = httpx.post(f"{live_server.api}/search", headers={"x-api-key": other._client_wrapper.api_key},
                      data={"index_id": indexed["index_id"], "query_text": "whales",
                            "search_options": "transcription"})
    assert hits.status_code == 404
    assert indexed["task_id"] not in [t.id for t in other.tasks.list()]
