"""The real default stack end to end: Qwen2.5-Coder-1.5B (GGUF via llama.cpp) on the live server, a real
video indexed from a URL, the official SDK's analyze/analyze_stream, schema-constrained JSON, and chapters
from MiniLM topic boundaries. Generation is kept short so this stays fast on 2 cores."""

from __future__ import annotations

import functools
import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.analysis.conftest import composite_rows, insert_video
from tests.conftest import LiveServer, Media, free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def file_url(media: Media) -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(media.root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{media.speech_video.name}"
    server.shutdown()


@pytest.fixture(scope="module")
def first_answer(http: httpx.Client, file_url: str) -> dict[str, Any]:
    """Analyze a video given by URL: it is fetched, indexed into the analysis index, then analyzed."""
    r = http.post("/analyze", json={"video": {"type": "url", "url": file_url}, "stream": False, "temperature": 0,
                                    "prompt": "Which animals are mentioned in the video? Answer in a few words.",
                                    "max_tokens": 24}, timeout=600)
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_url_video_is_indexed_and_answered(first_answer: dict[str, Any]) -> None:
    assert "whale" in first_answer["data"].lower()
    assert first_answer["usage"]["input_tokens"] > 50 and first_answer["usage"]["output_tokens"] > 0


@pytest.fixture(scope="module")
def asset_id(first_answer: dict[str, Any], http: httpx.Client, live_server: LiveServer, api_key: str) -> str:
    # The analysis index is hidden from listings; find it in the store.
    from sqlalchemy import select

    from framedex.services.analysis import ANALYSIS_INDEX_NAME
    from framedex.services.auth import authenticate
    from framedex.storage.tables import IndexRow

    assert http.get("/indexes", params={"index_name": ANALYSIS_INDEX_NAME}).json()["data"] == []
    with live_server.platform.store.session() as s:
        index_id = s.scalars(select(IndexRow.id).where(
            IndexRow.name == ANALYSIS_INDEX_NAME,
            IndexRow.tenant_id == authenticate(live_server.platform, api_key))).one()
    videos = http.get(f"/indexes/{index_id}/indexed-assets").json()["data"]
    return str(videos[0]["asset_id"]) if "asset_id" in videos[0] else str(videos[0]["_id"])


def test_official_sdk_analyze_and_stream(tl: Any, asset_id: str) -> None:
    video = {"type": "asset_id", "asset_id": asset_id}
    res = tl.analyze(video=video, prompt="What natural features are talked about? Answer in a few words.",
                     temperature=0, max_tokens=24)
    text = res.data.lower()
    assert "volcano" in text or "glacier" in text, res.data
    t0 = time.perf_counter()
    first = None
    events = []
    for event in tl.analyze_stream(video=video, prompt="Name the ocean that is mentioned.", temperature=0,
                                   max_tokens=12):
        if event.event_type == "text_generation" and first is None:
            first = time.perf_counter() - t0
        events.append(event)
    assert events[0].event_type == "stream_start" and events[-1].event_type == "stream_end"
    streamed = "".join(e.text for e in events if e.event_type == "text_generation")
    assert "pacific" in streamed.lower(), streamed
    assert events[-1].metadata.usage.output_tokens > 0 and first is not None
    print(f"time to first token (stream, cached timeline): {first:.2f}s")


def test_json_schema_output_validates(http: httpx.Client, asset_id: str) -> None:
    import jsonschema

    schema = {"type": "object", "additionalProperties": False, "required": ["animals", "count"],
              "properties": {"animals": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                                         "maxItems": 3},
                             "count": {"type": "integer", "minimum": 0, "maximum": 10}}}
    r = http.post("/analyze", json={"video": {"type": "asset_id", "asset_id": asset_id}, "temperature": 0,
                                    "prompt": "List the animals mentioned.", "max_tokens": 60,
                                    "response_format": {"type": "json_schema", "json_schema": schema}},
                  timeout=300)
    value = json.loads(r.json()["data"])
    jsonschema.validate(value, schema)
    assert any("whale" in a.lower() for a in value["animals"]), value


def test_chapters_of_a_composite_video(live_server: LiveServer, http: httpx.Client, api_key: str) -> None:
    from framedex.services import auth

    tenant = auth.authenticate(live_server.platform, api_key)
    duration, speech, features, cuts, truth = composite_rows(60.0)
    video = insert_video(live_server.platform, tenant, duration=duration, speech=speech, features=features,
                         cuts=cuts)
    r = http.post("/summarize", json={"video_id": video.id, "type": "chapter", "temperature": 0}, timeout=600)
    chapters = r.json()["chapters"]
    assert len(chapters) == len(truth) + 1, chapters
    for t, chapter in zip(truth, chapters[1:], strict=True):
        assert abs(chapter["start_sec"] - t) <= 10
    assert all(c["chapter_title"] for c in chapters)
    # each chapter speaks of its own topic (one request for all chapters let them drift to their neighbours')
    topics = [("volcan", "lava", "magma", "erupt", "ash", "tremor", "seismo", "mountain"),
              ("cook", "pasta", "sauce", "onion", "garlic", "tomato", "recipe", "kitchen", "food", "fry", "boil",
               "chop", "meal", "dish", "pan"),
              ("football", "soccer", "goal", "striker", "match", "referee", "sport", "team", "player", "game",
               "stadium", "tackle", "ball")]
    for chapter, words in zip(chapters, topics, strict=True):
        text = (chapter["chapter_title"] + " " + chapter["chapter_summary"]).lower()
        assert any(w in text for w in words), (words, chapter)
