"""Async analysis tasks are served in fair turns across tenants: one tenant's backlog does not make another
tenant's task wait behind all of it.

A live server with one worker, whose language model is an OpenAI-compatible endpoint on loopback (a real
HTTP server speaking the streaming protocol) that takes a moment per answer and records the order in which
the prompts reach it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from framedex.config import Settings
from framedex.platform import Platform
from framedex.services import auth
from tests.analysis.conftest import insert_video, wait_for
from tests.conftest import start_server

ANSWER_SECONDS = 0.4


@dataclass
class SlowModel:
    """What the endpoint saw: the last line of each prompt (``Request: ...``), in arrival order."""

    requests: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(model: SlowModel) -> type[BaseHTTPRequestHandler]:
    class Endpoint(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)))
            prompt = str(body["messages"][-1]["content"]).rstrip().rsplit("\n", 1)[-1]
            with model.lock:
                model.requests.append(prompt)
            time.sleep(ANSWER_SECONDS)
            events = [{"choices": [{"delta": {"content": "An answer."}, "finish_reason": None}]},
                      {"choices": [{"delta": {}, "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 50, "completion_tokens": 3}}]
            data = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    return Endpoint


@dataclass
class Server:
    api: str
    platform: Platform
    model: SlowModel


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    model = SlowModel()
    endpoint = ThreadingHTTPServer(("127.0.0.1", 0), _handler(model))
    threading.Thread(target=endpoint.serve_forever, daemon=True).start()
    settings = Settings(data_dir=tmp_path_factory.mktemp("fairness"), workers=1, worker_poll_seconds=0.1,
                        llm_url=f"http://127.0.0.1:{endpoint.server_address[1]}", llm_model="remote-model")
    live, thread, url = start_server(settings)
    app: Any = live.config.app
    yield Server(f"{url}/v1.3", app.state.platform, model)
    live.should_exit = True
    thread.join(30)
    endpoint.shutdown()


def _tenant(server: Server, name: str) -> tuple[httpx.Client, str]:
    key, info = auth.create_key(server.platform, name)
    video = insert_video(server.platform, info.tenant_id, duration=30.0,
                         speech=[(0.5, 5.0, "Lava flows down the volcano.")])
    return httpx.Client(base_url=server.api, headers={"x-api-key": key}, timeout=30), video.id


def test_one_tenants_backlog_does_not_starve_another_tenant(server: Server) -> None:
    heavy, heavy_video = _tenant(server, "heavy")
    light, light_video = _tenant(server, "light")
    with heavy, light:
        created = []
        for i in range(6):
            r = heavy.post("/analyze/tasks", json={"video_id": heavy_video, "prompt": f"heavy task {i}",
                                                    "model_name": "pegasus1.2"})
            assert r.status_code == 201, r.text
            created.append((heavy, r.json()["task_id"]))
        r = light.post("/analyze/tasks", json={"video_id": light_video, "prompt": "light task",
                                                "model_name": "pegasus1.2"})
        assert r.status_code == 201, r.text
        created.append((light, r.json()["task_id"]))

        for client, task_id in created:
            wait_for(lambda c=client, t=task_id: c.get(f"/analyze/tasks/{t}").json()["status"] == "ready", 60)

    order = [p.removeprefix("Request: ") for p in server.model.requests]
    assert sorted(order) == sorted([f"heavy task {i}" for i in range(6)] + ["light task"]), order
    # First come, first served would run it last, after all six. The heavy tenant had one task running
    # (or just started) when the light one arrived; the light tenant's task goes next.
    assert order.index("light task") <= 2, order
    # The heavy tenant's own tasks keep their order.
    assert [p for p in order if p.startswith("heavy")] == [f"heavy task {i}" for i in range(6)], order
