"""Knowledge stores and the ``/responses`` agent through framedex's own clients (sync and async) against the
real server on loopback: a store whose items are the spoken test video (indexed with the real models), text
search over what is said with token paging, item collections, and questions answered by the local model
with citations into the store's items, continued in a session over SSE.

The agent's cost is kept down as ``tests/api/test_responses.py`` does (the server bounds generation to a
few hundred tokens per analysed video) and, further, by selecting one item (``selections``), so each
question analyses one 5 s video.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from framedex import AsyncTwelveLabs, TwelveLabs
from framedex.client import types
from framedex.errors import ApiError, NotFoundError

from .conftest import unique

pytestmark = pytest.mark.slow

DURATION = 5.0  # the speech video's length (conftest.speech_video)
# Knowledge-store search looks at what is seen unless asked (the reference's default is ["visual"]).
SPEECH: Any = {"video": {"modalities": ["visual", "audio"]}}


def ask(text: str) -> list[dict[str, str]]:
    return [{"type": "message", "role": "user", "content": text}]


@pytest.fixture(scope="module")
def fdx(live_server: Any, api_key: str) -> Iterator[TwelveLabs]:
    """A sync client with room for a whole (unstreamed) answer of the local model on a slow machine."""
    with TwelveLabs(api_key=api_key, base_url=live_server.url, timeout=600) as c:
        yield c


@pytest.fixture(scope="module")
def store(fdx: TwelveLabs, speech_video: Path) -> dict[str, Any]:
    """A store with the spoken video added twice (two items: two ranked results for the paging checks)."""
    created = fdx.knowledge_stores.create(name=unique("client-ks"), description="spoken fox", metadata={"team": "a"})
    assert isinstance(created, types.KnowledgeStore) and created.id
    asset = fdx.assets.create(file=speech_video)
    assert asset.id
    first = fdx.knowledge_store_items.create(created.id, asset_id=asset.id, metadata={"take": 1})
    second = fdx.knowledge_stores.items.create(created.id, asset_id=asset.id, asset_type="video",
                                              metadata={"take": 2})
    assert first.id and second.id and first.status in ("pending", "queued", "processing", "ready")
    for item in (first, second):
        done = fdx.knowledge_store_items.wait_for_ready(created.id, item.id or "", sleep_interval=0.5, timeout=300)
        assert done.status == "ready", done
        assert done.system_metadata and done.system_metadata.duration == pytest.approx(DURATION, abs=0.5)
    return {"id": created.id, "items": [first.id, second.id], "asset_id": asset.id}


def test_store_and_items(fdx: TwelveLabs, store: dict[str, Any]) -> None:
    got = fdx.knowledge_stores.retrieve(store["id"])
    assert got.item_count == 2 and got.metadata == {"team": "a"} and got.description == "spoken fox"
    assert store["id"] in [s.id for s in fdx.knowledge_stores.list(page_limit=1)]  # walks every page
    updated = fdx.knowledge_stores.update(store["id"], metadata={})
    assert updated.metadata == {} and updated.name == got.name
    items = list(fdx.knowledge_store_items.list(store["id"], status=["ready", "processing"]))
    assert sorted(i.id or "" for i in items) == sorted(store["items"])
    assert {i.asset_id for i in items} == {store["asset_id"]} and {i.asset_type for i in items} == {"video"}
    assert list(fdx.knowledge_store_items.list(store["id"], status="failed")) == []


def test_search_by_text_and_page_with_the_token(fdx: TwelveLabs, store: dict[str, Any]) -> None:
    res = fdx.knowledge_stores.search(store["id"], query={"text": "the quick brown fox"}, group_by="item",
                                     page_size=1, include_metadata=True, search_options=SPEECH)
    assert len(res.data) == 1 and res.data[0].item_id in store["items"] and res.data[0].rank == 1
    match = res.data[0].matches[0] if res.data[0].matches else None
    assert match and 0 <= (match.start_sec or 0) < (match.end_sec or 0) <= DURATION + 0.5
    assert "audio" in (match.modalities or [])
    assert res.data[0].metadata and res.data[0].metadata.user in ({"take": 1}, {"take": 2})
    assert res.next_page_token and res.has_next
    # page by page, as with the official SDK: send the token back
    page2 = fdx.knowledge_stores.search(store["id"], query={"text": "ignored on later pages"},
                                       page_token=res.next_page_token)
    assert [h.item_id for h in page2.data] == [i for i in store["items"] if i != res.data[0].item_id]
    assert page2.data[0].rank == 2 and page2.next_page_token is None
    # or let the pager follow the tokens
    assert sorted(h.item_id or "" for h in res) == sorted(store["items"])
    assert [len(p.data) for p in res.iter_pages()] == [1, 1]
    # a query about something not in the video finds nothing; a filter narrows to one item
    assert fdx.knowledge_stores.search(store["id"], query="a red sports car racing on a track",
                                       search_options=SPEECH).data == []
    only = fdx.knowledge_stores.search(store["id"], query="lazy dog near the river", search_options=SPEECH,
                                      filter={"item_id": {"eq": store["items"][1]}})
    assert only.data and {h.item_id for h in only.data} == {store["items"][1]}
    with pytest.raises(ApiError) as bad:
        fdx.knowledge_stores.search(store["id"], query="x", page_token="not-a-token")
    assert bad.value.status_code == 400


def test_item_collections(fdx: TwelveLabs, store: dict[str, Any]) -> None:
    cols = fdx.knowledge_store_item_collections
    c = cols.create(store["id"], name="takes", metadata={"k": "v"})
    assert c.id and c.member_count == 0 and c.knowledge_store_id == store["id"]
    assert cols.add_items(store["id"], c.id, item_ids=store["items"]).member_count == 2
    assert sorted(m.id or "" for m in cols.list_items(store["id"], c.id)) == sorted(store["items"])
    cols.remove_items(store["id"], c.id, item_ids=[store["items"][0]])
    assert cols.retrieve(store["id"], c.id).member_count == 1
    assert fdx.knowledge_stores.item_collections.update(store["id"], c.id, name="renamed").name == "renamed"
    assert c.id in [x.id for x in cols.list(store["id"])]
    cols.delete(store["id"], c.id)
    with pytest.raises(NotFoundError):
        cols.retrieve(store["id"], c.id)


def assert_cites(annotations: list[types.ResponseAnnotation], text: str, item_id: str) -> None:
    assert annotations, text
    for ann in annotations:
        assert ann.type == "video_citation" and ann.item_id == item_id
        assert ann.start_sec is not None and ann.end_sec is not None
        assert 0 <= ann.start_sec < ann.end_sec <= DURATION + 0.5
        assert ann.start_index is not None and ann.end_index is not None
        assert text[ann.start_index:ann.end_index + 1].strip().startswith("[")


@pytest.fixture(scope="module")
def answered(fdx: TwelveLabs, store: dict[str, Any]) -> types.ResponseObject:
    """One question about the first item, answered as JSON by the sync client."""
    return fdx.responses.create(knowledge_store_id=store["id"], selections=[{"kind": "item", "id": store["items"][0]}],
                               input=ask("Which animal jumps over the lazy dog in {{sel:0}}?"),
                               include=["intermediate_outputs"])


def test_sync_responses_create_answers_and_cites(answered: types.ResponseObject, store: dict[str, Any]) -> None:
    res = answered
    assert res.status == "completed" and res.id and res.session_id and res.knowledge_store_id == store["id"]
    assert "fox" in res.output_text.lower(), res.output_text
    assert_cites(res.annotations, res.output_text, store["items"][0])
    calls = [o.name for o in res.output or [] if o.type == "function_call"]
    assert calls and calls[0] == "search" and "analyze" in calls
    assert res.usage and (res.usage.input_tokens or 0) > 20 and (res.usage.output_tokens or 0) > 0


def test_async_search_and_create_stream_continue_the_session(
    live_server: Any, api_key: str, store: dict[str, Any], answered: types.ResponseObject
) -> None:
    async def main() -> tuple[list[str], list[types.ResponseStreamEvent]]:
        async with AsyncTwelveLabs(api_key=api_key, base_url=live_server.url, timeout=600) as c:
            res = await c.knowledge_stores.search(store["id"], query="the lazy dog", group_by="item", page_size=1,
                                                  search_options=SPEECH)
            ids = [h.item_id or "" async for h in res]
            stream = await c.responses.create_stream(
                knowledge_store_id=store["id"], session_id=answered.session_id,
                selections=[{"kind": "item", "id": store["items"][0]}],
                input=ask("And which animal does it jump over, according to {{sel:0}}?"))
            async with stream:
                events = [e async for e in stream]
            return ids, events

    ids, events = asyncio.run(main())
    assert sorted(ids) == sorted(store["items"])
    kinds = [e.type for e in events]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    for kind in ("response.output_item.added", "response.content_part.added", "response.output_text.delta",
                 "response.output_text.done", "response.content_part.done", "response.output_item.done"):
        assert kind in kinds
    deltas = "".join(e.delta or "" for e in events if e.type == "response.output_text.delta")
    done = next(e for e in events if e.type == "response.output_text.done")
    assert deltas == done.text
    final = events[-1].response
    assert final and final.session_id == answered.session_id and final.status == "completed"
    assert final.output_text == done.text and "dog" in final.output_text.lower(), final.output_text
    assert_cites(final.annotations, final.output_text, store["items"][0])


def test_unknown_store_and_deletion(fdx: TwelveLabs, store: dict[str, Any]) -> None:
    with pytest.raises(NotFoundError):
        fdx.responses.create(knowledge_store_id="0" * 24, input="hi")
    fdx.knowledge_store_items.delete(store["id"], store["items"][1])
    res = fdx.knowledge_stores.search(store["id"], query="the quick brown fox", group_by="item",
                                      search_options=SPEECH)
    assert [h.item_id for h in res] == [store["items"][0]]
    fdx.knowledge_stores.delete(store["id"])
    with pytest.raises(NotFoundError):
        fdx.knowledge_stores.retrieve(store["id"])
