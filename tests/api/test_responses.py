"""`POST /responses` through the official SDK on a live server with the real local model: a real video
(speech about volcanoes, glaciers and whales in the Pacific) is indexed, the agent answers questions
about it and cites the moment where the evidence is; SSE events are numbered; sessions continue."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest
from twelvelabs import TwelveLabs
from twelvelabs.core.api_error import ApiError

from tests.conftest import Media

pytestmark = pytest.mark.slow

MODELS = [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]


@pytest.fixture(scope="module")
def indexed(tl: TwelveLabs, media: Media) -> dict[str, Any]:
    index = tl.indexes.create(index_name=f"responses-{time.time()}", models=MODELS)
    with media.speech_video.open("rb") as f:
        task = tl.tasks.create(index_id=index.id, video_file=f)
    done = tl.tasks.wait_for_done(task_id=task.id, sleep_interval=0.5)
    assert done.status == "ready", done
    video = tl.indexes.indexed_assets.retrieve(index.id, task.video_id, transcription=True)
    segments = [(t.start, t.end, t.value) for t in video.transcription or []]
    return {"index_id": index.id, "video_id": task.video_id, "segments": segments,
            "duration": video.system_metadata.duration}


def said_span(indexed: dict[str, Any], word: str) -> tuple[float, float]:
    """Where the transcript says `word` (the ground truth a citation must point at)."""
    spans = [(a, b) for a, b, text in indexed["segments"] if word in text.lower()]
    assert spans, indexed["segments"]
    return spans[0][0], spans[-1][1]


def ask(text: str) -> list[dict[str, str]]:
    return [{"type": "message", "role": "user", "content": text}]


def assert_cites(annotations: list[Any], indexed: dict[str, Any], word: str, text: str) -> None:
    assert annotations, text
    a, b = said_span(indexed, word)
    hit = False
    for ann in annotations:
        assert ann.type == "video_citation"
        assert ann.item_id == indexed["video_id"]
        assert 0 <= ann.start_sec < ann.end_sec <= indexed["duration"] + 0.5
        assert text[ann.start_index:ann.end_index + 1].strip().startswith("[")
        hit = hit or (ann.start_sec < b and ann.end_sec > a)  # overlaps where it is said
    assert hit, (annotations, (a, b))


def test_create_answers_and_cites_the_moment(tl: TwelveLabs, indexed: dict[str, Any]) -> None:
    res = tl.responses.create(knowledge_store_id=indexed["index_id"],
                              input=ask("Which ocean do the whales cross?"),
                              include=["intermediate_outputs"])
    assert res.status == "completed" and res.session_id and res.id
    message = [o for o in res.output if o.type == "message"][-1]
    text = message.content[0].text
    assert "pacific" in text.lower(), text
    assert_cites(message.content[0].annotations, indexed, "pacific", text)
    calls = [o.name for o in res.output if o.type == "function_call"]
    assert calls[0] == "search" and "analyze" in calls
    assert res.usage.input_tokens > 50 and res.usage.output_tokens > 0


def test_stream_numbers_events_and_continues_the_session(tl: TwelveLabs, indexed: dict[str, Any]) -> None:
    first = tl.responses.create(knowledge_store_id=indexed["index_id"],
                                input=ask("What natural features are talked about at the start?"))
    events = list(tl.responses.create_stream(knowledge_store_id=indexed["index_id"], session_id=first.session_id,
                                             input=ask("And which animals are mentioned after that?")))
    kinds = [e.type for e in events]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    for kind in ("response.output_item.added", "response.content_part.added", "response.output_text.delta",
                 "response.output_text.done", "response.content_part.done", "response.output_item.done"):
        assert kind in kinds
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    done = next(e for e in events if e.type == "response.output_text.done")
    assert deltas == done.text
    final = events[-1].response
    assert final.session_id == first.session_id and final.status == "completed"
    text = final.output[-1].content[0].text
    assert text == done.text and "whale" in text.lower(), text
    assert_cites(final.output[-1].content[0].annotations, indexed, "whale", text)


def test_sse_content_type_and_done_marker(http: httpx.Client, indexed: dict[str, Any]) -> None:
    # An empty store-like scope is not needed: a question is answered, but here only the framing matters.
    with http.stream("POST", "/responses", json={"knowledge_store_id": indexed["index_id"], "stream": True,
                                                 "input": ask("Name one thing said in the video.")},
                     timeout=600) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    assert re.search(r'"type": "response.completed"', lines[-2])


@pytest.mark.parametrize("body, status, code", [
    ({"input": [{"type": "message", "role": "user", "content": "hi"}]}, 400, "parameter_not_provided"),
    ({"knowledge_store_id": "0" * 24, "input": [{"type": "message", "role": "user", "content": "hi"}]},
     404, "resource_not_exists"),
    ({"knowledge_store_id": "INDEX", "input": []}, 400, "parameter_not_provided"),
    ({"knowledge_store_id": "INDEX", "input": [{"type": "message", "role": "user", "content": "x" * 9000}]},
     400, "parameter_invalid"),
    ({"knowledge_store_id": "INDEX", "input": [{"type": "message", "role": "user", "content": "hi"}],
      "session_id": "sess_nope"}, 404, "resource_not_exists"),
    ({"knowledge_store_id": "INDEX", "input": [{"type": "message", "role": "user", "content": "hi"}],
      "include": ["everything"]}, 400, "parameter_invalid"),
    # the first error in field order, each reference looked up where it is reached (services.responses.ResponseInput)
    ({"knowledge_store_id": "0" * 24, "input": 3}, 404, "resource_not_exists"),
    ({"knowledge_store_id": "INDEX", "input": [{"type": "message", "role": "user", "content": "hi"}],
      "selections": [{"kind": "collection", "id": "0" * 24}, {"kind": "x"}], "session_id": 5}, 404,
     "resource_not_exists"),
])
def test_bad_requests_get_the_error_envelope(http: httpx.Client, indexed: dict[str, Any], body: dict[str, Any],
                                             status: int, code: str) -> None:
    if body.get("knowledge_store_id") == "INDEX":
        body = {**body, "knowledge_store_id": indexed["index_id"]}
    for stream in (False, True):
        r = http.post("/responses", json={**body, "stream": stream})
        assert r.status_code == status, r.text
        assert r.json()["code"] == code and r.json()["message"]


def test_sdk_raises_for_unknown_store(tl: TwelveLabs) -> None:
    with pytest.raises(ApiError) as err:
        tl.responses.create(knowledge_store_id="0" * 24, input=ask("hi"))
    assert err.value.status_code == 404
