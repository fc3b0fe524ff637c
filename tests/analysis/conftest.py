"""Fixtures for analysis tests: a scripted LLM, a server that uses it, and videos made of rows we insert."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from framedex.config import Settings
from framedex.ids import new_id, utcnow
from framedex.ingest.keys import scan_key
from framedex.models.base import ChatMessage
from framedex.models.llm import Generation, OnText
from framedex.platform import Platform
from framedex.services import auth
from framedex.services.analysis import minimal_instance
from framedex.storage.tables import AssetRow, ClipFeatureRow, IndexedAssetRow, IndexRow, SpeechSegmentRow
from tests.conftest import start_server


@dataclass
class FakeLLM:
    """Deterministic stand-in for the model: echoes what it was asked, streams word by word, and answers
    JSON requests with ``json_reply`` (default: the schema's minimal instance)."""

    name: str = "fake"
    context_size: int = 8192
    reply: str = "The video talks about volcanoes and glaciers."
    json_reply: Any = None
    delay: float = 0.0
    calls: list[dict[str, Any]] = field(default_factory=list)

    def complete(self, messages: list[ChatMessage], *, max_tokens: int = 512, temperature: float = 0.0,
                 json_schema: dict[str, Any] | None = None, model: str | None = None,
                 on_text: OnText | None = None) -> Generation:
        self.calls.append({"messages": messages, "max_tokens": max_tokens, "json_schema": json_schema,
                           "model": model})
        if json_schema is not None:
            value = self.json_reply if self.json_reply is not None else minimal_instance(json_schema)
            text = value if isinstance(value, str) else json.dumps(value)
        else:
            text = self.reply
        words = text.split(" ")
        out: list[str] = []
        finish = "stop"
        stopped = False
        for i, w in enumerate(words):
            if i >= max_tokens:
                finish = "length"
                break
            piece = w if i == 0 else " " + w
            out.append(piece)
            if self.delay:
                time.sleep(self.delay)
            if on_text is not None and on_text(piece):
                stopped = True
                break
        prompt = sum(len(m.content) for m in messages) // 4
        return Generation("".join(out), finish, prompt, len(out), self.name, time_to_first_token=0.01,  # type: ignore[arg-type]
                          prompt_seconds=0.01, generation_seconds=0.01 * len(out), total_seconds=0.02,
                          stopped=stopped)

    def generate(self, messages: list[ChatMessage], *, max_tokens: int = 512, temperature: float = 0.0,
                 json_schema: dict[str, object] | None = None) -> str:
        return self.complete(messages, max_tokens=max_tokens, json_schema=dict(json_schema or {}) or None).text


@dataclass
class FakeServer:
    url: str
    platform: Platform
    llm: FakeLLM
    key: str
    tenant: str

    @property
    def api(self) -> str:
        return f"{self.url}/v1.3"


@pytest.fixture(scope="session")
def fake_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeServer]:
    data_dir = tmp_path_factory.mktemp("analysis-fake")
    settings = Settings(data_dir=data_dir, workers=1, allow_private_urls=True, worker_poll_seconds=0.1,
                        analyze_media_wait_seconds=2)
    server, thread, url = start_server(settings)
    platform: Platform = server.config.app.state.platform  # type: ignore[attr-defined]
    llm = FakeLLM()
    platform.models.register("llm", llm)
    key, info = auth.create_key(platform, "analysis")
    yield FakeServer(url, platform, llm, key, info.tenant_id)
    server.should_exit = True
    thread.join(30)


@pytest.fixture()
def fhttp(fake_server: FakeServer) -> Iterator[httpx.Client]:
    fake_server.llm.reply = FakeLLM.reply
    fake_server.llm.json_reply = None
    fake_server.llm.delay = 0.0
    with httpx.Client(base_url=fake_server.api, headers={"x-api-key": fake_server.key}, timeout=60) as client:
        yield client


def insert_video(platform: Platform, tenant: str, *, duration: float, status: str = "ready",
                 speech: list[tuple[float, float, str]] = (),  # type: ignore[assignment]
                 features: list[tuple[str, float, float, str]] = (),  # type: ignore[assignment]
                 cuts: list[float] = ()) -> IndexedAssetRow:  # type: ignore[assignment]
    """A video whose ingest results are the given rows (speech, (kind, start, end, text) features, cuts)."""
    with platform.store.session() as s:
        index = s.query(IndexRow).filter_by(tenant_id=tenant, name="analysis-tests").first()
        if index is None:
            index = IndexRow(id=new_id(), tenant_id=tenant, name="analysis-tests",
                             models=[{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}], addons=[])
            s.add(index)
            s.flush()
        asset = AssetRow(id=new_id(), tenant_id=tenant, method="direct", status="ready", file_type="video",
                         filename="made.mp4", system_metadata={}, user_metadata={})
        s.add(asset)
        s.flush()
        video = IndexedAssetRow(id=new_id(), tenant_id=tenant, index_id=index.id, asset_id=asset.id, status=status,
                                filename="made.mp4", duration=duration, system_metadata={}, user_metadata={},
                                indexed_at=utcnow())
        s.add(video)
        s.flush()
        for i, (a, b, text) in enumerate(speech):
            s.add(SpeechSegmentRow(tenant_id=tenant, index_id=index.id, video_id=video.id, seq=i, start=a, end=b,
                                   text=text, words=[]))
        for kind, a, b, text in features:
            s.add(ClipFeatureRow(tenant_id=tenant, index_id=index.id, video_id=video.id, kind=kind, clip_seq=0,
                                 start=a, end=b, text=text, data={}))
    if cuts:
        platform.blobs.put_bytes(scan_key(video.id), json.dumps({"cuts": list(cuts), "frame_times": [],
                                                                  "duration": duration}).encode())
    return video


TOPICS = [
    ("volcano", ["The volcano erupted and lava flowed down the mountain slopes.",
                 "Magma chambers under the volcano build pressure before an eruption.",
                 "Volcanic ash clouds can ground airplanes for days.",
                 "Scientists monitor volcano tremors with seismometers."],
     "volcano, lava, mountain", "VOLCANO WATCH"),
    ("cooking", ["Now we chop the onions and garlic for the pasta sauce.",
                 "Add olive oil to the hot pan and fry the onions until golden.",
                 "Pour in the tomatoes and let the sauce simmer for twenty minutes.",
                 "Boil the pasta in salted water and drain it."],
     "frying pan, plate, spaghetti", "TODAY'S RECIPE"),
    ("football", ["The striker dribbles past two defenders and shoots.",
                  "What a goal, the goalkeeper had no chance at all.",
                  "The referee shows a yellow card for the late tackle.",
                  "The home team leads two to one at half time."],
     "soccer ball, stadium, crowd", "LIVE: MATCH DAY"),
]


def composite_rows(segment: float = 40.0) -> tuple[float, list[tuple[float, float, str]],
                                                   list[tuple[str, float, float, str]], list[float], list[float]]:
    """Three topics back to back (each ``segment`` s): speech every 5 s, labels every 2 s, a title card,
    shot cuts every ~8 s inside a topic and at each topic change. Returns (duration, speech, features,
    cuts, true topic changes)."""
    speech: list[tuple[float, float, str]] = []
    features: list[tuple[str, float, float, str]] = []
    cuts: list[float] = []
    for k, (_name, lines, labels, card) in enumerate(TOPICS):
        base = k * segment
        t = base + 0.5
        i = 0
        while t < base + segment - 1:
            speech.append((t, min(t + 4.5, base + segment), lines[i % len(lines)]))
            t += 5.0
            i += 1
        for f in range(int(segment // 2)):
            features.append(("visual", base + f * 2, base + f * 2, labels))
        features.append(("ocr", base + 1, base + 1, card))
        cuts.extend([base + 8.3, base + 17.1, base + 29.6])
        if k:
            cuts.append(base)
    return len(TOPICS) * segment, speech, features, sorted(cuts), [segment * k for k in range(1, len(TOPICS))]


def wait_for(predicate: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError("condition not met")


class WebhookSink:
    """A loopback HTTP server that records the JSON bodies POSTed to it."""

    def __init__(self) -> None:
        import http.server

        self.events: list[dict[str, Any]] = []
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                sink.events.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture()
def webhook_sink() -> Iterator[WebhookSink]:
    sink = WebhookSink()
    yield sink
    sink.close()



