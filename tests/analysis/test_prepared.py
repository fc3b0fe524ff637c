"""Analysis prepared at index time (services/analysis_prepared.py) with the scripted model: the preparation job
runs after ready on the server's own worker, default requests are answered from its outputs without the model,
and changed content, another model or a deleted video never get a prepared answer."""

from __future__ import annotations

import inspect
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from framedex.ids import new_id
from framedex.models import llm_state
from framedex.models.llm_state import LLMPreempted, SlotStates
from framedex.services import analysis
from framedex.services.analysis import prepared as analysis_prepared
from framedex.services.analysis.prepared import PREPARED_LOG
from framedex.storage.tables import IndexedAssetRow, IndexRow, SpeechSegmentRow
from tests.analysis.conftest import FakeServer, composite_rows, insert_video, wait_for

SERVED = "served prepared"


def pegasus_video(fake_server: FakeServer) -> IndexedAssetRow:
    """A ready video (three topics, 120 s) in an index with a pegasus model."""
    duration, speech, features, cuts, _ = composite_rows()
    video = insert_video(fake_server.platform, fake_server.tenant, duration=duration, speech=speech,
                         features=features, cuts=cuts)
    with fake_server.platform.store.session() as s:
        index = IndexRow(id=new_id(), tenant_id=fake_server.tenant, name=f"pegasus-{new_id()[-6:]}", addons=[],
                         models=[{"model_name": "marengo3.0", "model_options": ["visual", "audio"]},
                                 {"model_name": "pegasus1.2", "model_options": ["visual", "audio"]}])
        s.add(index)
        s.flush()
        row = s.get(IndexedAssetRow, video.id)
        assert row is not None
        row.index_id = index.id
        s.flush()
        s.expunge(row)
    return row


class ServedLines:
    """The log lines that say a request was answered from prepared outputs (the fast path's status line)."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog

    def take(self) -> list[str]:
        out = [r.getMessage() for r in self.caplog.records
               if r.name == PREPARED_LOG and SERVED in r.getMessage()]
        self.caplog.clear()
        return out


@pytest.fixture()
def served(caplog: pytest.LogCaptureFixture) -> Iterator[ServedLines]:
    caplog.set_level(logging.INFO, logger=PREPARED_LOG)
    yield ServedLines(caplog)


@pytest.fixture()
def prepared(fhttp: httpx.Client, fake_server: FakeServer) -> IndexedAssetRow:
    """A pegasus video whose preparation was queued as ingest queues it (after ready) and has finished."""
    fake_server.llm.reply = "A prepared summary of volcanoes, cooking and football."
    video = pegasus_video(fake_server)
    analysis_prepared.after_ready(fake_server.platform, video.id)
    wait_for(lambda: analysis_prepared.status(fake_server.platform, video.id)["status"] == "prepared", 60)
    return video


def test_default_requests_are_answered_from_prepared_outputs(fhttp: httpx.Client, fake_server: FakeServer,
                                                              prepared: IndexedAssetRow, served: ServedLines) -> None:
    platform, llm = fake_server.platform, fake_server.llm
    state = analysis_prepared.status(platform, prepared.id)
    assert state["status"] == "prepared" and state["seconds"] >= 0
    llm.reply = "A different answer that only a new generation would give."
    calls = len(llm.calls)
    served.take()

    summary = fhttp.post("/summarize", json={"video_id": prepared.id, "type": "summary"}).json()
    assert summary["summary"] == "A prepared summary of volcanoes, cooking and football."
    chapters = fhttp.post("/summarize", json={"video_id": prepared.id, "type": "chapter"}).json()
    assert chapters["chapters"][0]["start_sec"] == 0 and len(chapters["chapters"]) >= 2
    highlights = fhttp.post("/summarize", json={"video_id": prepared.id, "type": "highlight"}).json()
    assert highlights["summarize_type"] == "highlight" and highlights["highlights"]
    gist = fhttp.post("/gist", json={"video_id": prepared.id, "types": ["title", "hashtag"]}).json()
    assert set(gist) >= {"title", "hashtags"} and "topics" not in gist
    lines = fhttp.post("/analyze", json={"video_id": prepared.id, "prompt": analysis.SUMMARY_PROMPT,
                                         "stream": True}).text.splitlines()
    events = [json.loads(line) for line in lines]
    assert events[0]["event_type"] == "stream_start" and events[-1]["event_type"] == "stream_end"
    assert "".join(e["text"] for e in events if e["event_type"] == "text_generation") == summary["summary"]

    assert len(llm.calls) == calls, "a prepared answer must not run the model"
    assert summary["id"] != fhttp.post("/summarize", json={"video_id": prepared.id, "type": "summary"}).json()["id"]
    assert len(served.take()) == 6

    # anything else is generated: a custom prompt, a window, a schema
    custom = fhttp.post("/summarize", json={"video_id": prepared.id, "type": "summary", "prompt": "for kids"}).json()
    assert custom["summary"] == llm.reply
    window = fhttp.post("/analyze", json={"video_id": prepared.id, "prompt": analysis.SUMMARY_PROMPT,
                                          "stream": False, "start_time": 0, "end_time": 40}).json()
    assert window["data"] == llm.reply
    assert served.take() == []
    assert len(llm.calls) > calls


def test_changed_content_or_model_is_never_answered_from_stale_outputs(
        fhttp: httpx.Client, fake_server: FakeServer, prepared: IndexedAssetRow, served: ServedLines) -> None:
    platform, llm = fake_server.platform, fake_server.llm
    llm.reply = "A fresh summary."
    served.take()
    # re-indexed: what ingest stored for the video changed
    with platform.store.session() as s:
        s.add(SpeechSegmentRow(tenant_id=prepared.tenant_id, index_id=prepared.index_id, video_id=prepared.id,
                               seq=999, start=110.0, end=115.0, text="Penguins march across the sea ice.",
                               words=[]))
    calls = len(llm.calls)
    summary = fhttp.post("/summarize", json={"video_id": prepared.id, "type": "summary"}).json()
    assert summary["summary"] == "A fresh summary."
    assert "Penguins march" in llm.calls[calls]["messages"][-1].content
    assert served.take() == []

    # prepared again for the new content, then another model behind the same API name
    analysis_prepared.prepare_video(platform, prepared.id)
    assert fhttp.post("/summarize", json={"video_id": prepared.id, "type": "summary"}).json()["summary"] == \
        "A fresh summary."
    assert len(served.take()) == 1
    llm.reply = "Another model's summary."
    before = platform.settings.llm_model
    platform.settings.llm_model = "another-model"
    try:
        assert fhttp.post("/summarize", json={"video_id": prepared.id, "type": "summary"}).json()["summary"] == \
            "Another model's summary."
        assert served.take() == []
    finally:
        platform.settings.llm_model = before


def test_outputs_of_older_templates_are_prepared_again(fhttp: httpx.Client, fake_server: FakeServer,
                                                      prepared: IndexedAssetRow, served: ServedLines,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """After an upgrade that changes the templates, the first default request takes the slow path and queues a
    new preparation; the old outputs are deleted and the new ones served."""
    platform, llm = fake_server.platform, fake_server.llm
    old_key = analysis_prepared.status(platform, prepared.id)["key"]
    monkeypatch.setattr(analysis_prepared, "template_version", lambda: "a newer release")
    llm.reply = "A summary by the new templates."
    served.take()
    body = {"video_id": prepared.id, "type": "summary"}
    assert fhttp.post("/summarize", json=body).json()["summary"] == "A summary by the new templates."
    assert served.take() == []
    wait_for(lambda: analysis_prepared.status(platform, prepared.id).get("key") not in (None, old_key)
             and analysis_prepared.status(platform, prepared.id)["status"] == "prepared", 60)
    assert not platform.blobs.exists(analysis_prepared.blob_key(prepared.id, old_key))
    calls = len(llm.calls)
    assert fhttp.post("/summarize", json=body).json()["summary"] == "A summary by the new templates."
    assert len(served.take()) == 1 and len(llm.calls) == calls
    # a request for another model is not the default's preparation: nothing is queued for it
    platform.settings.llm_models = {**platform.settings.llm_models, "pegasus1.2": "another-model"}
    try:
        fhttp.post("/summarize", json={**body, "model_name": "pegasus1.2"})
        assert analysis_prepared.status(platform, prepared.id)["status"] == "prepared"
    finally:
        platform.settings.llm_models = {k: v for k, v in platform.settings.llm_models.items() if k != "pegasus1.2"}


def test_a_changed_timeline_rendering_is_a_new_template_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the model reads of the same stored content changes with the timeline code (e.g. which labels count
    as confident): outputs prepared by older code must not be served after an upgrade."""
    from framedex.services.analysis import timeline

    analysis_prepared.template_version.cache_clear()
    before = analysis_prepared.template_version()
    getsource = inspect.getsource
    monkeypatch.setattr(inspect, "getsource", lambda obj: getsource(obj) + ("\n# changed" if obj is timeline else ""))
    analysis_prepared.template_version.cache_clear()
    try:
        assert analysis_prepared.template_version() != before
    finally:
        analysis_prepared.template_version.cache_clear()


def test_deleted_video_takes_its_prepared_outputs_along(fhttp: httpx.Client, fake_server: FakeServer,
                                                        prepared: IndexedAssetRow) -> None:
    platform = fake_server.platform
    key = analysis_prepared.status(platform, prepared.id)["key"]
    assert platform.blobs.exists(analysis_prepared.blob_key(prepared.id, key))
    r = fhttp.delete(f"/indexes/{prepared.index_id}/indexed-assets/{prepared.id}")
    assert r.status_code in (200, 204), r.text
    assert not platform.blobs.exists(analysis_prepared.blob_key(prepared.id, key))
    assert fhttp.post("/summarize", json={"video_id": prepared.id, "type": "summary"}).status_code == 404
    # a preparation job that runs after the delete does nothing
    assert analysis_prepared.prepare_video(platform, prepared.id) is None


def test_only_pegasus_indexes_are_prepared(fake_server: FakeServer) -> None:
    duration, speech, features, cuts, _ = composite_rows(10.0)
    plain = insert_video(fake_server.platform, fake_server.tenant, duration=duration, speech=speech,
                         features=features, cuts=cuts)
    analysis_prepared.after_ready(fake_server.platform, plain.id)
    assert analysis_prepared.status(fake_server.platform, plain.id)["status"] == "none"


def test_every_question_on_a_video_shares_the_timeline_prefix(fhttp: httpx.Client, fake_server: FakeServer) -> None:
    """The timeline is rendered to one budget whatever the prompt and max_tokens, so llama.cpp can reuse it."""
    from framedex.models.llm_state import PREFIX_END

    duration, speech, features, cuts, _ = composite_rows(100.0)  # a timeline longer than some budgets
    video = insert_video(fake_server.platform, fake_server.tenant, duration=duration, speech=speech,
                         features=features, cuts=cuts)
    llm, settings = fake_server.llm, fake_server.platform.settings
    calls = len(llm.calls)
    before = settings.llm_context
    settings.llm_context = 4096  # a small context, where fitting the timeline to each request used to matter
    try:
        for prompt, max_tokens in (("Which sport?", 10), ("Describe every scene in detail. " * 40, 1500),
                                   ("What is cooked?", 90_000)):
            r = fhttp.post("/analyze", json={"video_id": video.id, "prompt": prompt, "max_tokens": max_tokens,
                                             "stream": False})
            assert r.status_code == 200, r.text
        fhttp.post("/gist", json={"video_id": video.id, "types": ["title"]})
    finally:
        settings.llm_context = before
    calls += sum(1 for c in llm.calls[calls:] if "Write compact notes" in c["messages"][-1].content)
    prefixes = set()
    for call in llm.calls[calls:]:
        system, user = call["messages"][0].content, call["messages"][1].content
        assert PREFIX_END in user
        prefixes.add(system + user[: user.index(PREFIX_END)])
    assert len(llm.calls) - calls == 4 and len(prefixes) == 1
    assert "Notes on consecutive parts of the video (0s to 300s)" in next(iter(prefixes))  # map-reduced once


def test_prompt_states_are_evicted_least_recently_used(tmp_path: Path) -> None:
    states = SlotStates(tmp_path, budget_bytes=3 * 1000, identity="model")
    for i, key in enumerate(["old", "used", "new"]):
        (tmp_path / f"{key}.bin").write_bytes(b"x" * 1000)
        (tmp_path / f"{key}.json").write_text("{}")
        os.utime(tmp_path / f"{key}.bin", (1000 + i, 1000 + i))
    os.utime(tmp_path / "used.bin", (2000, 2000))  # restored lately
    (tmp_path / "newest.bin").write_bytes(b"x" * 1500)
    (tmp_path / "newest.json").write_text("{}")
    states._evict()
    assert sorted(p.stem for p in tmp_path.glob("*.bin")) == ["newest", "used"]
    assert not (tmp_path / "old.json").exists() and not (tmp_path / "new.json").exists()
    assert states.disk_bytes() <= 3000


def test_a_background_generation_yields_to_a_waiting_request(tmp_path: Path) -> None:
    """Preparation runs in llm_state.background(): it stops at its next token when an interactive request waits
    for the model, and raises LLMPreempted so that it can be retried."""
    states = SlotStates(tmp_path, budget_bytes=0, identity="model")
    lock = threading.Lock()
    messages = [{"role": "user", "content": "hi"}]
    started, outcome = threading.Event(), []

    def background_generation() -> None:
        with llm_state.background():
            on_text = states.guard(None)
            assert on_text is not None
            try:
                with states.turn(lock, messages):
                    started.set()
                    for _ in range(2000):  # a long generation, one token every 10 ms
                        if on_text("token"):
                            break
                        time.sleep(0.01)
                outcome.append("finished")
            except LLMPreempted:
                outcome.append("preempted")

    worker = threading.Thread(target=background_generation)
    worker.start()
    assert started.wait(10)
    t0 = time.monotonic()
    with states.turn(lock, messages):  # the interactive request gets the model at the next token
        waited = time.monotonic() - t0
    worker.join(10)
    assert outcome == ["preempted"] and waited < 5
    assert states.guard(None) is None  # foreground generations are never stopped by it
