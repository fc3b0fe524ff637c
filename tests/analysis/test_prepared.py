"""Analysis prepared at index time (services/analysis_prepared.py) with the scripted model: the preparation job
runs after ready on the server's own worker, default requests are answered from its outputs without the model,
and changed content, another model or a deleted video never get a prepared answer."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from framedex.ids import new_id
from framedex.services import analysis, analysis_prepared
from framedex.services.analysis_prepared import PREPARED_LOG
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
