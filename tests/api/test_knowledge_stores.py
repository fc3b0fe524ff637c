"""Knowledge stores through the official SDK on a live server: a store, items from a real video asset
(indexed with the real models), text search over what is said, token paging with 410 for an expired
token, item collections, and deletion; image items (real photos) found by what they show and document
items (a PDF) by a quoted phrase, on its page."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from twelvelabs import TwelveLabs
from twelvelabs.core.api_error import ApiError

from framedex.services import knowledge_stores
from tests.conftest import SHARED_MEDIA, LiveServer, Media
from tests.documents.pdfgen import text_pdf

pytestmark = pytest.mark.slow

# Knowledge-store search looks at what is seen unless asked (the reference's default is ["visual"]).
SPEECH: Any = {"video": {"modalities": ["visual", "audio"]}}


def wait_ready(tl: TwelveLabs, store_id: str, item_id: str, timeout: float = 300) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        item = tl.knowledge_store_items.retrieve(store_id, item_id)
        if item.status in ("ready", "failed"):
            return item
        time.sleep(0.5)
    raise TimeoutError(item_id)


@pytest.fixture(scope="module")
def store(tl: TwelveLabs, media: Media) -> dict[str, Any]:
    created = tl.knowledge_stores.create(name="field notes", description="nature talks", metadata={"team": "a"})
    with media.speech_video.open("rb") as fh:
        asset: Any = tl.assets.create(method="direct", file=fh)
    # The same asset twice (two items): two ranked results for the paging checks.
    first = tl.knowledge_store_items.create(created.id, asset_id=asset.id, metadata={"take": 1})
    second = tl.knowledge_store_items.create(created.id, asset_id=asset.id, asset_type="video",
                                             metadata={"take": 2})
    assert first.status in ("queued", "pending", "processing", "ready")
    for item in (first, second):
        done = wait_ready(tl, created.id, item.id)
        assert done.status == "ready", done
        assert done.system_metadata.duration == pytest.approx(10, abs=0.5)
    return {"id": created.id, "items": [first.id, second.id], "asset_id": asset.id}


def test_store_crud(tl: TwelveLabs, store: dict[str, Any]) -> None:
    got = tl.knowledge_stores.retrieve(store["id"])
    assert got.name == "field notes" and got.item_count == 2 and got.metadata == {"team": "a"}
    assert store["id"] in [s.id for s in tl.knowledge_stores.list()]
    updated = tl.knowledge_stores.update(store["id"], name="field notes 2", metadata={})
    assert updated.name == "field notes 2" and updated.metadata == {}
    items = list(tl.knowledge_store_items.list(store["id"]))
    assert sorted(i.id for i in items) == sorted(store["items"])
    assert all(i.asset_id == store["asset_id"] for i in items)
    assert list(tl.knowledge_store_items.list(store["id"], status="failed")) == []


def test_search_finds_what_is_said_and_pages(tl: TwelveLabs, store: dict[str, Any],
                                             live_server: LiveServer) -> None:
    res = tl.knowledge_stores.search(store["id"], query={"text": "humpback whales in the Pacific Ocean"},
                                     search_options=SPEECH, group_by="item", page_size=1)
    assert len(res.data) == 1 and res.data[0].item_id in store["items"] and res.data[0].rank == 1
    match = res.data[0].matches[0]
    assert 0 <= match.start_sec < match.end_sec <= 10.5 and "audio" in match.modalities
    assert res.effective_search_options.video.modalities == ["visual", "audio"]
    seen = tl.knowledge_stores.search(store["id"], query={"text": "humpback whales in the Pacific Ocean"})
    assert seen.effective_search_options.video.modalities == ["visual"]
    assert res.next_page_token
    page2 = tl.knowledge_stores.search(store["id"], query={"text": "ignored on later pages"},
                                       page_token=res.next_page_token)
    assert [h.item_id for h in page2.data] == [i for i in store["items"] if i != res.data[0].item_id]
    assert page2.data[0].rank == 2 and not page2.next_page_token
    # An unrelated query finds nothing in this store.
    none = tl.knowledge_stores.search(store["id"], query={"text": "a red sports car racing on a track"},
                                      search_options=SPEECH)
    assert none.data == []
    # Filters narrow to one item.
    only = tl.knowledge_stores.search(store["id"], query={"text": "volcanoes and glaciers"},
                                      search_options=SPEECH, filter={"item_id": {"eq": store["items"][1]}})
    assert only.data and {h.item_id for h in only.data} == {store["items"][1]}
    # An expired token answers 410; a malformed one 400.
    knowledge_stores.expire_search(live_server.platform, res.next_page_token)
    with pytest.raises(ApiError) as gone:
        tl.knowledge_stores.search(store["id"], query={"text": "x"}, page_token=res.next_page_token)
    assert gone.value.status_code == 410 and gone.value.body.code == "search_page_token_expired"
    with pytest.raises(ApiError) as bad:
        tl.knowledge_stores.search(store["id"], query={"text": "x"}, page_token="not-a-token")
    assert bad.value.status_code == 400


def test_collections(tl: TwelveLabs, store: dict[str, Any]) -> None:
    c = tl.knowledge_store_item_collections.create(store["id"], name="takes", metadata={"k": "v"})
    assert c.member_count == 0 and c.knowledge_store_id == store["id"]
    added = tl.knowledge_store_item_collections.add_items(store["id"], c.id, item_ids=store["items"])
    assert added.member_count == 2
    members = list(tl.knowledge_store_item_collections.list_items(store["id"], c.id))
    assert sorted(m.id for m in members) == sorted(store["items"])
    tl.knowledge_store_item_collections.remove_items(store["id"], c.id, item_ids=[store["items"][0]])
    assert tl.knowledge_store_item_collections.retrieve(store["id"], c.id).member_count == 1
    assert tl.knowledge_store_item_collections.update(store["id"], c.id, name="renamed").name == "renamed"
    assert c.id in [x.id for x in tl.knowledge_store_item_collections.list(store["id"])]
    with pytest.raises(ApiError) as err:
        tl.knowledge_store_item_collections.add_items(store["id"], c.id, item_ids=["0" * 24])
    assert err.value.status_code == 404
    tl.knowledge_store_item_collections.delete(store["id"], c.id)
    with pytest.raises(ApiError):
        tl.knowledge_store_item_collections.retrieve(store["id"], c.id)


def test_bad_bodies(http: httpx.Client, store: dict[str, Any]) -> None:
    r = http.post("/knowledge-stores", json={"name": "x", "metadata": {"nested": {"a": 1}}})
    assert r.status_code == 400 and r.json()["code"] == "parameter_invalid"
    r = http.post(f"/knowledge-stores/{store['id']}/search", json={"query": {"text": "x"}, "page_size": 51})
    assert r.status_code == 400 and r.json()["message"]
    r = http.post(f"/knowledge-stores/{store['id']}/items", json={"asset_id": "0" * 24})
    assert r.status_code == 404 and r.json()["code"] == "resource_not_exists"


def test_responses_over_the_store_cite_items(tl: TwelveLabs, store: dict[str, Any], http: httpx.Client) -> None:
    res = tl.responses.create(knowledge_store_id=store["id"], selections=[{"kind": "item", "id": store["items"][0]}],
                              input=[{"type": "message", "role": "user",
                                      "content": "Which ocean do the whales in {{sel:0}} cross?"}])
    assert res.knowledge_store_id == store["id"] and res.status == "completed"
    part = res.output[-1].content[0]
    assert "pacific" in part.text.lower(), part.text
    assert part.annotations and {a.item_id for a in part.annotations} == {store["items"][0]}
    assert all(0 <= a.start_sec < a.end_sec <= 10.5 for a in part.annotations)
    # A session belongs to the store it was created against.
    other = tl.knowledge_stores.create(name="other")
    r = http.post("/responses", json={"knowledge_store_id": other.id, "session_id": res.session_id,
                                      "input": [{"type": "message", "role": "user", "content": "and then?"}]})
    assert r.status_code == 400 and r.json()["code"] == "parameter_invalid"
    tl.knowledge_stores.delete(other.id)


def test_delete_item_then_store(tl: TwelveLabs, store: dict[str, Any]) -> None:
    tl.knowledge_store_items.delete(store["id"], store["items"][1])
    res = tl.knowledge_stores.search(store["id"], query={"text": "humpback whales in the Pacific Ocean"},
                                     search_options=SPEECH, group_by="item")
    assert [h.item_id for h in res.data] == [store["items"][0]]
    tl.knowledge_stores.delete(store["id"])
    with pytest.raises(ApiError) as err:
        tl.knowledge_stores.retrieve(store["id"])
    assert err.value.status_code == 404


PHOTOS = {"dogs": "two_samoyeds_grass_IMG_20200608_111614_1600px.jpg", "fruit": "fruits.jpg",
          "highway": "city_highway_IMG_1054.jpg"}


@pytest.fixture(scope="module")
def photo_store(tl: TwelveLabs) -> Any:
    created = tl.knowledge_stores.create(name="photos")
    items: dict[str, str] = {}
    for key, name in PHOTOS.items():
        with (SHARED_MEDIA / "images" / name).open("rb") as fh:
            asset: Any = tl.assets.create(method="direct", file=fh)
        item = tl.knowledge_store_items.create(created.id, asset_id=asset.id, metadata={"photo": key})
        assert item.asset_type == "image"
        items[key] = item.id
    for item_id in items.values():
        done = wait_ready(tl, created.id, item_id)
        assert done.status == "ready", done
        assert done.system_metadata.width and done.system_metadata.height
        assert getattr(done.system_metadata, "duration", None) is None
    yield {"id": created.id, "items": items}
    tl.knowledge_stores.delete(created.id)


def test_image_items_are_found_by_what_they_show(tl: TwelveLabs, photo_store: dict[str, Any]) -> None:
    items = photo_store["items"]
    for query, key in (("two white dogs lying on the grass", "dogs"), ("a bowl of fruit", "fruit"),
                       ("cars driving on a highway", "highway")):
        res = tl.knowledge_stores.search(photo_store["id"], query={"text": query})
        assert res.data and res.data[0].item_id == items[key], (query, res.data)
        hit = res.data[0]
        assert hit.asset_type == "image" and hit.rank == 1
        assert hit.metadata.user == {"photo": key} and hit.metadata.system.width
    # Images are matched on what is seen even when the videos are searched by audio only.
    heard = tl.knowledge_stores.search(photo_store["id"], query={"text": "two white dogs lying on the grass"},
                                       search_options={"video": {"modalities": ["audio"]}}, group_by="item")
    assert heard.data and heard.data[0].item_id == items["dogs"]
    images = tl.knowledge_stores.search(photo_store["id"], query={"text": "a bowl of fruit"},
                                        filter={"asset_type": {"eq": "image"}})
    assert images.data and images.data[0].item_id == items["fruit"]
    assert images.effective_search_options.video is None  # no video options apply to images only
    # Filtering on videos leaves no image.
    videos = tl.knowledge_stores.search(photo_store["id"], query={"text": "two white dogs lying on the grass"},
                                        filter={"asset_type": {"eq": "video"}})
    assert videos.data == []


def test_document_item_is_found_by_a_quoted_phrase(tl: TwelveLabs, http: httpx.Client, tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(text_pdf([["Volcanoes erupt molten lava and ash.", "Magma rises through the crust."],
                              ["Page two talks about glaciers and ice sheets."]], title="Earth Forces"))
    created = tl.knowledge_stores.create(name="papers")
    with pdf.open("rb") as fh:
        asset: Any = tl.assets.create(method="direct", file=fh, filename="report.pdf")
    # A framedex extension, asked for by name (the SDK's item and hit types know videos and images only).
    r = http.post(f"/knowledge-stores/{created.id}/items", json={"asset_id": asset.id, "asset_type": "document"})
    assert r.status_code in (200, 201) and r.json()["asset_type"] == "document", r.text
    item_id = r.json()["_id"]
    deadline = time.monotonic() + 180
    while (item := http.get(f"/knowledge-stores/{created.id}/items/{item_id}").json())["status"] not in (
            "ready", "failed") and time.monotonic() < deadline:
        time.sleep(0.3)
    assert item["status"] == "ready" and item["system_metadata"]["document_page_count"] == 2, item
    found = http.post(f"/knowledge-stores/{created.id}/search",
                      json={"query": {"text": '"glaciers and ice sheets"'}}).json()
    assert found["data"] and found["data"][0]["item_id"] == item_id, found
    assert found["data"][0]["asset_type"] == "document"
    assert found["data"][0]["matches"][0] == {"start_page_number": 2, "end_page_number": 2}
    first = http.post(f"/knowledge-stores/{created.id}/search", json={"query": {"text": "molten lava"}}).json()
    assert first["data"] and first["data"][0]["matches"][0]["start_page_number"] == 1, first
    tl.knowledge_stores.delete(created.id)
