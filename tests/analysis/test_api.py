"""The analysis API against a live server whose LLM is scripted (wire shapes, errors, tasks, batches,
webhooks, streaming through the official SDK). The real model is exercised in test_real_model.py."""

from __future__ import annotations

import itertools
import json
import time

import httpx
import pytest

from framedex.storage.tables import IndexedAssetRow
from tests.analysis.conftest import FakeServer, WebhookSink, composite_rows, insert_video, wait_for


@pytest.fixture(scope="module")
def video(fake_server: FakeServer) -> IndexedAssetRow:
    duration, speech, features, cuts, _truth = composite_rows(40.0)
    return insert_video(fake_server.platform, fake_server.tenant, duration=duration, speech=speech,
                        features=features, cuts=cuts)


def test_analyze_with_video_id(fhttp: httpx.Client, fake_server: FakeServer, video: IndexedAssetRow) -> None:
    r = fhttp.post("/analyze", json={"video_id": video.id, "prompt": "What is it about?", "stream": False,
                                     "temperature": 0.1, "max_tokens": 100})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["data"] == fake_server.llm.reply and body["finish_reason"] == "stop"
    assert body["usage"]["output_tokens"] > 0 and body["usage"]["input_tokens"] > 0
    prompt = fake_server.llm.calls[-1]["messages"][-1].content
    assert "SAID: The volcano erupted" in prompt and "TEXT ON SCREEN: VOLCANO WATCH" in prompt
    assert prompt.rstrip().endswith("Request: What is it about?")


def test_window_and_truncation(fhttp: httpx.Client, fake_server: FakeServer, video: IndexedAssetRow) -> None:
    r = fhttp.post("/analyze", json={"video_id": video.id, "prompt": "x", "start_time": 40, "end_time": 80,
                                     "max_tokens": 3})
    body = r.json()
    assert body["finish_reason"] == "length" and body["error"]["message"]
    prompt = fake_server.llm.calls[-1]["messages"][-1].content
    assert "pasta" in prompt and "volcano" not in prompt.lower().split("request:")[0]


def test_model_names_map_to_the_local_model(fhttp: httpx.Client, video: IndexedAssetRow) -> None:
    for name in ("pegasus1.2", "pegasus1.5", "pegasus1.6"):
        assert fhttp.post("/analyze", json={"video_id": video.id, "prompt": "x", "model_name": name}).status_code == 200
    r = fhttp.post("/analyze", json={"video_id": video.id, "prompt": "x", "model_name": "gpt-9"})
    assert r.status_code == 400 and r.json()["code"] == "parameter_invalid"


def test_bad_input_gets_api_errors(fhttp: httpx.Client, fake_server: FakeServer, video: IndexedAssetRow) -> None:
    cases = [
        ({"video_id": "0123456789abcdef01234567", "prompt": "x"}, 404, "resource_not_exists"),
        ({"video_id": "nope", "prompt": "x"}, 404, "resource_not_exists"),
        ({"video_id": video.id}, 400, "parameter_not_provided"),
        ({"video_id": video.id, "prompt": "word " * 3000}, 400, "parameter_invalid"),
        ({"video_id": video.id, "prompt": "x", "response_format": {"type": "json_schema",
                                                                   "json_schema": {"type": 5}}}, 400,
         "parameter_invalid"),
        ({"video_id": video.id, "prompt": "x", "temperature": "hot"}, 400, "parameter_invalid"),
        ({"video_id": video.id, "prompt": "x", "max_tokens": 0}, 400, "parameter_invalid"),
        ({"video_id": video.id, "prompt": "x", "start_time": 500}, 400, "parameter_invalid"),
        ({"prompt": "x"}, 400, "parameter_not_provided"),
        ({"video": {"type": "asset_id", "asset_id": "0123456789abcdef01234567"}, "prompt": "x"}, 404,
         "resource_not_exists"),
        ({"video": {"type": "smoke"}, "prompt": "x"}, 400, "parameter_invalid"),
        ({"video": {"type": "base64_string", "base64_string": "!!!"}, "prompt": "x"}, 400, "parameter_invalid"),
    ]
    for body, status, code in cases:
        for stream in (False, True):
            r = fhttp.post("/analyze", json={**body, "stream": stream})
            assert (r.status_code, r.json().get("code")) == (status, code), (body, stream, r.text)
    pending = insert_video(fake_server.platform, fake_server.tenant, duration=10, status="indexing")
    r = fhttp.post("/analyze", json={"video_id": pending.id, "prompt": "x"})
    assert r.status_code == 400 and r.json()["code"] == "video_not_ready"
    failed = insert_video(fake_server.platform, fake_server.tenant, duration=10, status="failed")
    assert fhttp.post("/summarize", json={"video_id": failed.id, "type": "summary"}).json()["code"] == "video_not_ready"


def test_json_schema_output_always_validates(fhttp: httpx.Client, fake_server: FakeServer,
                                             video: IndexedAssetRow) -> None:
    schema = {"type": "object", "properties": {"topics": {"type": "array", "items": {"type": "string"},
                                                          "minItems": 1}},
              "required": ["topics"]}
    fake_server.llm.json_reply = '{"topics": ["volcano", "cooking"]}'
    body = fhttp.post("/analyze", json={"video_id": video.id, "prompt": "topics?", "response_format": {
        "type": "json_schema", "json_schema": schema}}).json()
    assert json.loads(body["data"]) == {"topics": ["volcano", "cooking"]}
    assert fake_server.llm.calls[-1]["json_schema"] == schema  # handed to the decoder as a grammar
    fake_server.llm.json_reply = '{"topics": []}'  # invalid: repaired
    data = json.loads(fhttp.post("/analyze", json={"video_id": video.id, "prompt": "t", "response_format": {
        "type": "json_schema", "json_schema": schema}}).json()["data"])
    assert isinstance(data["topics"], list) and len(data["topics"]) >= 1


def test_official_sdk_analyze_and_stream(fake_server: FakeServer, video: IndexedAssetRow) -> None:
    from twelvelabs import TwelveLabs

    tl = TwelveLabs(api_key=fake_server.key, base_url=fake_server.api)
    res = tl.analyze(video={"type": "asset_id", "asset_id": video.asset_id}, prompt="Summarize", max_tokens=50)
    assert res.data == fake_server.llm.reply and res.finish_reason == "stop" and res.usage.output_tokens > 0
    events = list(tl.analyze_stream(video={"type": "asset_id", "asset_id": video.asset_id}, prompt="Go"))
    kinds = [e.event_type for e in events]
    assert kinds[0] == "stream_start" and kinds[-1] == "stream_end" and kinds.count("text_generation") > 3
    assert "".join(e.text for e in events if e.event_type == "text_generation") == fake_server.llm.reply
    end = events[-1]
    assert end.finish_reason == "stop" and end.metadata.usage.output_tokens > 0
    assert end.metadata.generation_id == events[0].metadata.generation_id
    from twelvelabs.errors import BadRequestError, NotFoundError

    with pytest.raises(NotFoundError):
        tl.analyze(video={"type": "asset_id", "asset_id": "0123456789abcdef01234567"}, prompt="x")
    with pytest.raises(BadRequestError):
        list(tl.analyze_stream(video={"type": "asset_id", "asset_id": video.asset_id}, prompt="x", max_tokens=-1))


def test_summarize_chapters_highlights_gist(fhttp: httpx.Client, fake_server: FakeServer,
                                            video: IndexedAssetRow) -> None:
    summary = fhttp.post("/summarize", json={"video_id": video.id, "type": "summary", "prompt": "for kids"}).json()
    assert summary["summarize_type"] == "summary" and summary["summary"]
    assert "for kids" in fake_server.llm.calls[-1]["messages"][-1].content
    chapters = fhttp.post("/summarize", json={"video_id": video.id, "type": "chapter"}).json()["chapters"]
    assert [c["chapter_number"] for c in chapters] == list(range(1, len(chapters) + 1))
    assert chapters[0]["start"] == 0 and chapters[-1]["end"] == 120
    starts = [c["start_sec"] for c in chapters[1:]]
    assert len(starts) == 2 and abs(starts[0] - 40) <= 10 and abs(starts[1] - 80) <= 10
    for a, b in itertools.pairwise(chapters):
        assert a["end_sec"] == b["start_sec"] and a["start_sec"] < a["end_sec"]
    fake_server.llm.json_reply = {"highlights": [{"start": 81, "title": "Goal", "summary": "A goal."},
                                                 {"start": 1, "title": "Eruption", "summary": "Lava."}]}
    hl = fhttp.post("/summarize", json={"video_id": video.id, "type": "highlight"}).json()["highlights"]
    assert [h["start"] for h in hl] == [1, 81] and all(h["start"] < h["end"] <= 120 for h in hl)
    assert hl[0]["end"] <= hl[1]["start"] and hl[1]["highlight"] == "Goal"
    fake_server.llm.json_reply = {"title": "Three Topics", "topics": ["Volcanoes"], "hashtags": ["lava", "#cook ing",
                                                                                              "goal"]}
    g = fhttp.post("/gist", json={"video_id": video.id, "types": ["title", "hashtag", "topic"]}).json()
    assert g["title"] == "Three Topics" and g["topics"] == ["Volcanoes"] and g["hashtags"] == ["#lava", "#cooking",
                                                                                               "#goal"]
    assert fhttp.post("/gist", json={"video_id": video.id, "types": ["mood"]}).status_code == 400
    assert fhttp.post("/summarize", json={"video_id": video.id, "type": "poem"}).status_code == 400


def test_generate_streams_by_default(fhttp: httpx.Client, video: IndexedAssetRow) -> None:
    r = fhttp.post("/generate", json={"video_id": video.id, "prompt": "Write a memo"})
    lines = [json.loads(x) for x in r.text.splitlines() if x.strip()]
    assert r.headers["content-type"].startswith("application/x-ndjson")
    assert lines[0]["event_type"] == "stream_start" and lines[-1]["event_type"] == "stream_end"
    r = fhttp.post("/generate", json={"video_id": video.id, "prompt": "Write a memo", "stream": False})
    assert r.json()["data"]


def test_async_task_lifecycle_with_webhook(fhttp: httpx.Client, fake_server: FakeServer, video: IndexedAssetRow,
                                           webhook_sink: WebhookSink) -> None:
    r = fhttp.post("/analyze/tasks", json={"video": {"type": "asset_id", "asset_id": video.asset_id},
                                           "prompt": "Summarize", "custom_id": "job-1",
                                           "webhook_url": webhook_sink.url})
    assert r.status_code == 201, r.text
    task_id = r.json()["task_id"]
    task = wait_for(lambda: (t := fhttp.get(f"/analyze/tasks/{task_id}").json())["status"] == "ready" and t, 30)
    assert task["result"]["data"] == fake_server.llm.reply and task["custom_id"] == "job-1"
    assert task["video_source"]["type"] == "asset_id" and task["request_params"]["prompt"] == "Summarize"
    assert task["completed_at"] and task["result"]["usage"]["output_tokens"] > 0
    event = wait_for(lambda: webhook_sink.events and webhook_sink.events[0], 10)
    assert event["type"] == "analyze.task.ready" and event["data"]["id"] == task_id
    assert event["data"]["custom_id"] == "job-1" and event["id"].startswith("evt_") and event["created_at"]
    task = wait_for(lambda: (t := fhttp.get(f"/analyze/tasks/{task_id}").json()).get("webhooks") and t, 10)
    assert task["webhooks"][0]["delivered"] is True and task["webhooks"][0]["attempts"] == 1
    listed = fhttp.get("/analyze/tasks", params={"status": "ready", "page_limit": 50}).json()
    assert task_id in [t["task_id"] for t in listed["data"]] and listed["page_info"]["total_results"] >= 1
    assert fhttp.get("/analyze/tasks", params={"asset_id": video.asset_id}).json()["data"]
    assert fhttp.post(f"/analyze/tasks/{task_id}/cancel").status_code == 409
    assert fhttp.delete(f"/analyze/tasks/{task_id}").status_code == 204
    assert fhttp.get(f"/analyze/tasks/{task_id}").status_code == 404


def test_cancel_a_running_task(fhttp: httpx.Client, fake_server: FakeServer, video: IndexedAssetRow,
                               webhook_sink: WebhookSink) -> None:
    fake_server.llm.reply = " ".join(["word"] * 400)
    fake_server.llm.delay = 0.02
    task_id = fhttp.post("/analyze/tasks", json={"video_id": video.id, "prompt": "long",
                                                 "webhook_urls": [webhook_sink.url]}).json()["task_id"]
    wait_for(lambda: fhttp.get(f"/analyze/tasks/{task_id}").json()["status"] == "processing", 20)
    r = fhttp.post(f"/analyze/tasks/{task_id}/cancel")
    assert r.json() == {"task_id": task_id, "status": "canceled"}
    assert fhttp.post(f"/analyze/tasks/{task_id}/cancel").json()["status"] == "canceled"
    time.sleep(1.5)
    task = fhttp.get(f"/analyze/tasks/{task_id}").json()
    assert task["status"] == "canceled" and task["error"]["code"] == "user_canceled" and "result" not in task
    event = wait_for(lambda: webhook_sink.events and webhook_sink.events[0], 10)
    assert event["type"] == "analyze.task.canceled"


def test_task_errors(fhttp: httpx.Client, fake_server: FakeServer, video: IndexedAssetRow) -> None:
    assert fhttp.post("/analyze/tasks", json={"video_id": video.id}).json()["code"] == "parameter_not_provided"
    assert fhttp.post("/analyze/tasks", json={"video_id": video.id, "prompt": "x", "custom_id": ""}).status_code == 400
    assert fhttp.post("/analyze/tasks", json={"video_id": video.id, "prompt": "x",
                                              "analysis_mode": "time_based_metadata"}).status_code == 400
    assert fhttp.post("/analyze/tasks", json={"video_id": "0123456789abcdef01234567",
                                              "prompt": "x"}).status_code == 404
    assert fhttp.get("/analyze/tasks/0123456789abcdef01234567").status_code == 404
    assert fhttp.get("/analyze/tasks", params={"status": "sleeping"}).status_code == 400
    # a video that fails indexing fails the task, with the reason
    failed = insert_video(fake_server.platform, fake_server.tenant, duration=10, status="failed")
    tid = fhttp.post("/analyze/tasks", json={"video_id": failed.id, "prompt": "x"}).json()["task_id"]
    task = wait_for(lambda: (t := fhttp.get(f"/analyze/tasks/{tid}").json())["status"] == "failed" and t, 20)
    assert task["error"]["code"] == "video_not_ready"


def test_batches(fhttp: httpx.Client, fake_server: FakeServer, video: IndexedAssetRow) -> None:
    from twelvelabs import TwelveLabs

    tl = TwelveLabs(api_key=fake_server.key, base_url=fake_server.api)
    created = tl.analyze_async.batches.create(
        model_name="pegasus1.5", analysis_mode="general", defaults={"prompt": {"input_text": "Summarize"}},
        requests=[{"video": {"type": "asset_id", "asset_id": video.asset_id}, "custom_id": "a"},
                  {"video": {"type": "asset_id", "asset_id": "0123456789abcdef01234567"}, "custom_id": "b"}])
    assert created.total_items == 2 and [i.custom_id for i in created.items] == ["a", "b"]
    batch = wait_for(lambda: (b := tl.analyze_async.batches.retrieve(created.batch_id)).status == "completed" and b,
                     30)
    assert batch.ready_items == 1 and batch.failed_items == 1 and batch.completed_at is not None
    results = {r.custom_id: r for r in tl.analyze_async.batches.results(created.batch_id)}
    assert results["a"].status == "ready" and results["a"].data.data == fake_server.llm.reply
    assert results["b"].status == "failed" and results["b"].error.message
    assert created.batch_id in [b.batch_id for b in tl.analyze_async.batches.list()]
    with pytest.raises(Exception):  # noqa: B017 - ConflictError: already completed
        tl.analyze_async.batches.cancel(created.batch_id)
    tl.analyze_async.batches.delete(created.batch_id)
    assert fhttp.get(f"/analyze/batches/{created.batch_id}").status_code == 404


def test_cancel_a_batch(fhttp: httpx.Client, fake_server: FakeServer, video: IndexedAssetRow) -> None:
    pending = insert_video(fake_server.platform, fake_server.tenant, duration=10, status="indexing")
    body = {"model_name": "pegasus1.5", "analysis_mode": "general", "defaults": {"prompt": "x"},
            "requests": [{"video": {"type": "asset_id", "asset_id": pending.asset_id}}] * 2}
    created = fhttp.post("/analyze/batches", json=body).json()
    assert fhttp.delete(f"/analyze/batches/{created['batch_id']}").status_code == 409
    canceled = fhttp.post(f"/analyze/batches/{created['batch_id']}/cancel").json()
    assert canceled["status"] in ("canceling", "canceled")
    batch = wait_for(lambda: (b := fhttp.get(f"/analyze/batches/{created['batch_id']}").json())["status"]
                     == "canceled" and b, 20)
    assert batch["canceled_items"] == 2 and batch["canceled_at"]
    lines = [json.loads(x) for x in fhttp.get(f"/analyze/batches/{created['batch_id']}/results").text.splitlines()]
    assert {x["status"] for x in lines} == {"canceled"} and lines[0]["error"]["code"] == "batch_canceled"


def test_framedex_client_requests_are_accepted(fake_server: FakeServer, video: IndexedAssetRow) -> None:
    from framedex.client import TwelveLabs as FramedexClient

    with FramedexClient(api_key=fake_server.key, base_url=fake_server.api) as fx:
        assert fx.analyze(video_id=video.id, prompt="What?", max_tokens=20).data == fake_server.llm.reply
        with fx.analyze_stream(video_id=video.id, prompt="What?") as stream:
            events = list(stream)
        assert events[0].event_type == "stream_start" and events[-1].event_type == "stream_end"
        assert fx.summarize(video_id=video.id, type="summary").summary
        chapters = fx.summarize(video_id=video.id, type="chapter").chapters
        assert chapters and chapters[0].start == 0
        assert fx.gist(video_id=video.id, types=["title"]).title is not None
        assert fx.generate(video_id=video.id, prompt="Memo").data
        created = fx.analyze_async.tasks.create(video_id=video.id, prompt="x", max_tokens=600)
        done = fx.analyze_async.tasks.wait_for_done(created.task_id, sleep_interval=0.2, timeout=30)
        assert done.status == "ready" and done.result is not None and done.result.data
