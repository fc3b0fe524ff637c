"""Knowledge stores and ``/responses`` on the wire, checked on the exact requests the client sends
(``httpx.MockTransport``): paths, JSON bodies, query strings, page-token following, and the Server-Sent
Events framing of ``responses.create_stream``. The live-server tests (``test_knowledge_live.py``) run the
same calls against the real server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from framedex import AsyncTwelveLabs, TwelveLabs
from framedex.client import types
from framedex.errors import ApiError, NotFoundError

from .conftest import Recorder


def test_store_crud_bodies(mock: TwelveLabs, recorder: Recorder) -> None:
    recorder.default = {"_id": "ks1", "name": "notes", "item_count": 0, "metadata": {"team": "a"}}
    store = mock.knowledge_stores.create(name="notes", description="d", metadata={"team": "a"})
    assert isinstance(store, types.KnowledgeStore) and store.id == "ks1" and store.metadata == {"team": "a"}
    assert (recorder.last.method, recorder.last.url.path) == ("POST", "/v1.3/knowledge-stores")
    assert recorder.json() == {"name": "notes", "description": "d", "metadata": {"team": "a"}}
    mock.knowledge_stores.update("ks1", metadata={})  # {} clears: sent, not dropped
    assert (recorder.last.method, recorder.json()) == ("PATCH", {"metadata": {}})
    mock.knowledge_stores.retrieve("ks1")
    assert (recorder.last.method, recorder.last.url.path) == ("GET", "/v1.3/knowledge-stores/ks1")
    recorder.reply(httpx.Response(204))
    mock.knowledge_stores.delete("ks/1")
    assert recorder.last.method == "DELETE" and recorder.last.url.raw_path == b"/v1.3/knowledge-stores/ks%2F1"


def test_items_and_collections_paths(mock: TwelveLabs, recorder: Recorder) -> None:
    recorder.reply(httpx.Response(200, json={"data": [{"_id": "it1", "status": "ready"}], "page_info": {}}),
                   httpx.Response(200, json={"data": []}))
    items = list(mock.knowledge_store_items.list("ks1", page_limit=5, status=["ready", "failed"]))
    assert [i.id for i in items] == ["it1"]
    assert recorder.query(0) == [("page", "1"), ("page_limit", "5"), ("status", "ready"), ("status", "failed")]
    recorder.default = {"_id": "it2", "asset_type": "video", "status": "queued"}
    item = mock.knowledge_stores.items.create("ks1", asset_id="a1", metadata={"take": 1})
    assert item.status == "queued" and recorder.last.url.path == "/v1.3/knowledge-stores/ks1/items"
    assert recorder.json() == {"asset_id": "a1", "metadata": {"take": 1}}
    # the SDK's top-level resources and the sub-resources are the same objects
    assert mock.knowledge_stores.items is mock.knowledge_store_items
    assert mock.knowledge_stores.item_collections is mock.knowledge_store_item_collections

    recorder.default = {"_id": "c1", "knowledge_store_id": "ks1", "member_count": 2}
    cols = mock.knowledge_store_item_collections
    assert cols.add_items("ks1", "c1", item_ids=("i1", "i2")).member_count == 2
    assert recorder.last.url.path == "/v1.3/knowledge-stores/ks1/item-collections/c1/items/add"
    assert recorder.json() == {"item_ids": ["i1", "i2"]}
    recorder.reply(httpx.Response(204))
    cols.remove_items("ks1", "c1", item_ids=["i1"])
    assert (recorder.last.method, recorder.last.url.path) == (
        "POST", "/v1.3/knowledge-stores/ks1/item-collections/c1/items/remove")
    cols.update("ks1", "c1", name="renamed")
    assert (recorder.last.method, recorder.json()) == ("PATCH", {"name": "renamed"})
    recorder.reply(httpx.Response(200, json={"data": []}))
    assert list(cols.list_items("ks1", "c1", page_limit=3)) == []
    assert recorder.last.url.path == "/v1.3/knowledge-stores/ks1/item-collections/c1/items"


def test_item_wait_for_ready(mock: TwelveLabs, recorder: Recorder) -> None:
    recorder.reply(httpx.Response(200, json={"_id": "it1", "status": "processing"}),
                   httpx.Response(503, json={"code": "busy", "message": "later"}),
                   httpx.Response(200, json={"_id": "it1", "status": "ready"}))
    seen: list[str | None] = []
    done = mock.knowledge_store_items.wait_for_ready("ks1", "it1", sleep_interval=0.01,
                                                     callback=lambda i: seen.append(i.status))
    assert done.status == "ready" and seen == ["processing", "ready"] and len(recorder.requests) == 3


def _hits(*ids: str, start: int = 1) -> list[dict[str, Any]]:
    return [{"asset_type": "video", "item_id": i, "rank": n, "metadata": {"system": {"duration": 5}, "user": {}},
             "matches": [{"start_sec": 0.5, "end_sec": 2.0, "modalities": ["audio"], "transcription": "fox"}]}
            for n, i in enumerate(ids, start=start)]


def test_search_follows_page_tokens(mock: TwelveLabs, recorder: Recorder) -> None:
    options = {"video": {"modalities": ["visual", "audio"]}}
    recorder.reply(
        httpx.Response(200, json={"data": _hits("a", "b"), "next_page_token": "t2",
                                  "effective_search_options": options}),
        httpx.Response(200, json={"data": _hits("c", start=3), "next_page_token": "t3"}),
        httpx.Response(200, json={"data": _hits("d", start=4)}),
    )
    res = mock.knowledge_stores.search("ks1", query="fox", page_size=2, group_by="item", include_metadata=True,
                                       filter={"asset_type": {"eq": "video"}}, search_options=options)
    # the first page reads like the SDK's SearchKnowledgeStoreResponse
    assert [h.item_id for h in res.data] == ["a", "b"] and res.next_page_token == "t2" and res.has_next
    assert res.effective_search_options == options and isinstance(res.first_page, types.SearchKnowledgeStoreResponse)
    hit = res.data[0]
    assert hit.matches and hit.matches[0].modalities == ["audio"] and hit.metadata and hit.metadata.system
    assert recorder.json(0) == {"query": {"text": "fox"}, "filter": {"asset_type": {"eq": "video"}},
                                "search_options": options, "group_by": "item", "page_size": 2,
                                "include_metadata": True}
    # iterating follows the tokens: POST the same path with only the token (and include_metadata)
    assert [h.item_id for h in res] == ["a", "b", "c", "d"]
    assert [(r.method, r.url.path) for r in recorder.requests] == [("POST", "/v1.3/knowledge-stores/ks1/search")] * 3
    assert recorder.json(1) == {"page_token": "t2", "include_metadata": True}
    assert recorder.json(2) == {"page_token": "t3", "include_metadata": True}

    # page by page, as with the SDK: pass the token back
    recorder.reply(httpx.Response(200, json={"data": _hits("c", start=3)}))
    page2 = mock.knowledge_stores.search("ks1", query={"text": "fox"}, page_token="t2")
    assert [h.rank for h in page2.data] == [3] and page2.next_page_token is None and page2.next_page() is None
    assert recorder.json() == {"query": {"text": "fox"}, "page_token": "t2"}

    # an expired token on a later page raises (410)
    recorder.reply(httpx.Response(200, json={"data": _hits("a"), "next_page_token": "old"}),
                   httpx.Response(410, json={"code": "search_page_token_expired", "message": "expired"}))
    with pytest.raises(ApiError) as err:
        list(mock.knowledge_stores.search("ks1", query="fox"))
    assert err.value.status_code == 410 and err.value.code == "search_page_token_expired"


RESPONSE: dict[str, Any] = {
    "id": "resp_1", "type": "response", "object": "response", "status": "completed", "session_id": "sess_1",
    "knowledge_store_id": "ks1", "created_at": "2025-01-01T00:00:00Z",
    "usage": {"input_tokens": 120, "output_tokens": 9},
    "output": [
        {"type": "function_call", "id": "fc_1", "status": "completed", "name": "search", "arguments": "{}"},
        {"type": "message", "id": "msg_1", "status": "completed", "role": "assistant", "phase": "final_answer",
         "content": [{"type": "output_text", "text": "A fox jumps [1].", "annotations": [
             {"type": "video_citation", "start_index": 12, "end_index": 14, "item_id": "it1",
              "start_sec": 1.0, "end_sec": 3.5}]}]},
    ],
}


def test_responses_create(mock: TwelveLabs, recorder: Recorder) -> None:
    recorder.default = RESPONSE
    res = mock.responses.create(knowledge_store_id="ks1", input="What jumps?", session_id="sess_0",
                                include=["intermediate_outputs"], selections=[{"kind": "item", "id": "it1"}])
    assert recorder.last.url.path == "/v1.3/responses"
    assert recorder.json() == {"knowledge_store_id": "ks1",
                               "input": [{"type": "message", "role": "user", "content": "What jumps?"}],
                               "session_id": "sess_0", "include": ["intermediate_outputs"],
                               "selections": [{"kind": "item", "id": "it1"}], "stream": False}
    assert isinstance(res, types.ResponseObject) and res.session_id == "sess_1"
    assert res.output_text == "A fox jumps [1]." and res.usage and res.usage.output_tokens == 9
    [ann] = res.annotations
    assert (ann.type, ann.item_id, ann.start_sec, ann.end_sec) == ("video_citation", "it1", 1.0, 3.5)
    assert res.output_text[ann.start_index or 0:(ann.end_index or 0) + 1] == "[1]"
    assert res.output and res.output[0].name == "search"
    recorder.reply(httpx.Response(404, json={"code": "resource_not_exists", "message": "no store"}))
    with pytest.raises(NotFoundError):
        mock.responses.create(knowledge_store_id="nope", input=[{"type": "message", "role": "user", "content": "hi"}])


def _sse(events: list[dict[str, Any]]) -> bytes:
    out = [": a comment line\n\n"]
    for n, e in enumerate(events):
        data = json.dumps({**e, "sequence_number": n})
        if n == 2:  # a data value split over two data: lines is joined with a newline (valid JSON whitespace)
            head, tail = data.split(", ", 1)
            out.append(f"event: {e['type']}\r\ndata: {head},\r\ndata: {tail}\r\n\r\n")
        else:
            out.append(f"event: {e['type']}\nid: {n}\ndata: {data}\n\n")
    out.append("data: [DONE]\n\n")
    out.append('data: {"type": "after_done", "sequence_number": 99}\n\n')  # never read
    return "".join(out).encode()


STREAM: list[dict[str, Any]] = [
    {"type": "response.created", "response": {**RESPONSE, "status": "in_progress", "output": []}},
    {"type": "response.in_progress", "response": {**RESPONSE, "status": "in_progress", "output": []}},
    {"type": "keepalive"},
    {"type": "response.output_item.added", "output_index": 0, "item": {"type": "message", "id": "msg_1",
                                                                       "status": "in_progress"}},
    {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0,
     "delta": "A fox "},
    {"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0, "content_index": 0,
     "delta": "jumps [1]."},
    {"type": "response.output_text.done", "item_id": "msg_1", "output_index": 0, "content_index": 0,
     "text": "A fox jumps [1]."},
    {"type": "response.completed", "response": RESPONSE},
]


def test_responses_create_stream_sse(mock: TwelveLabs, recorder: Recorder) -> None:
    recorder.reply(httpx.Response(200, content=_sse(STREAM), headers={"content-type": "text/event-stream"}))
    with mock.responses.create_stream(knowledge_store_id="ks1", input="What jumps?", session_id="sess_1") as stream:
        events = list(stream)
    assert recorder.json()["stream"] is True and recorder.json()["session_id"] == "sess_1"
    assert all(isinstance(e, types.ResponseStreamEvent) for e in events)
    assert [e.type for e in events] == [e["type"] for e in STREAM]
    assert [e.sequence_number for e in events] == list(range(len(STREAM)))
    assert "".join(e.delta or "" for e in events if e.type == "response.output_text.delta") == "A fox jumps [1]."
    final = events[-1].response
    assert final and final.status == "completed" and final.annotations[0].item_id == "it1"
    # errors before the stream starts are typed, as for create
    recorder.reply(httpx.Response(400, json={"code": "parameter_invalid", "message": "bad include"}))
    with pytest.raises(ApiError) as err:
        mock.responses.create_stream(knowledge_store_id="ks1", input="hi", include=["everything"])
    assert err.value.status_code == 400


def test_async_client_encodes_the_same(recorder: Recorder) -> None:
    recorder.reply(
        httpx.Response(200, json={"data": _hits("a"), "next_page_token": "t2"}),
        httpx.Response(200, json={"data": _hits("b", start=2)}),
        httpx.Response(200, content=_sse(STREAM), headers={"content-type": "text/event-stream"}),
    )

    async def main() -> tuple[list[str | None], list[int]]:
        async with AsyncTwelveLabs(api_key="k", base_url="http://tl.local",
                                   transport=httpx.MockTransport(recorder)) as c:
            res = await c.knowledge_stores.search("ks1", query="fox", page_size=1)
            ids = [h.item_id async for h in res]
            stream = await c.responses.create_stream(knowledge_store_id="ks1", input="What jumps?")
            numbers = [e.sequence_number async for e in stream]
            return ids, numbers

    ids, numbers = asyncio.run(main())
    assert ids == ["a", "b"] and numbers == list(range(len(STREAM)))
    assert recorder.json(1) == {"page_token": "t2"}
