"""In-process mode: ``TwelveLabs(data_dir=...)`` runs the framedex app (with its lifespan and workers) on a
private event loop in this process; no server, no socket."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from framedex import AsyncTwelveLabs, TwelveLabs
from framedex.errors import NotFoundError, UnauthorizedError

from .conftest import MODELS


def test_in_process_sync_client(tmp_path: Path, speech_video: Path) -> None:
    client = TwelveLabs(data_dir=tmp_path / "data")
    assert client.in_process and client.base_url == "http://framedex.inprocess/v1.3"
    runner = client._http.runner
    assert runner is not None and runner._state.thread.is_alive()
    with client:
        index = client.indexes.create(index_name="local", models=MODELS)
        assert index.id and [i.id for i in client.indexes.list()] == [index.id]
        task = client.tasks.create(index_id=index.id, video_file=speech_video)
        task.wait_for_done(sleep_interval=0.2, timeout=240)  # the app's workers run in this process
        assert task.status == "ready", task
        hits = list(client.search.query(index_id=index.id, query_text="brown fox", search_options=["transcription"]))
        assert task.video_id in [h.video_id for h in hits]
        result = client.multipart_upload.upload_file(speech_video)  # chunk PUTs go through the app too
        assert result.asset_id and client.assets.retrieve(result.asset_id).method == "multipart"
        with pytest.raises(NotFoundError):
            client.indexes.retrieve("0" * 24)
    # closing ran the lifespan shutdown and stopped the private loop
    assert runner.closed and not runner._state.thread.is_alive()
    with pytest.raises(RuntimeError):
        client.indexes.list()
    assert (tmp_path / "data").is_dir()

    # the data directory persists: a new client sees the same index
    with TwelveLabs(data_dir=tmp_path / "data") as again:
        assert [i.index_name for i in again.indexes.list()] == ["local"]


def test_in_process_with_api_key_enables_auth(tmp_path: Path) -> None:
    with TwelveLabs(api_key="tlk_not_a_key", data_dir=tmp_path) as client, pytest.raises(UnauthorizedError):
        client.indexes.list()


def test_in_process_async_client(tmp_path: Path, speech_video: Path) -> None:
    async def main() -> None:
        async with AsyncTwelveLabs(data_dir=tmp_path) as client:
            index = await client.indexes.create(index_name="async-local", models=MODELS)
            assert index.id
            with speech_video.open("rb") as fh:
                task = await client.tasks.create(index_id=index.id, video_file=fh)
            done = await client.tasks.wait_for_done(task.id or "", sleep_interval=0.2, timeout=240)
            assert done.status == "ready"
            pager = await client.indexes.list()
            assert [i.index_name async for i in pager] == ["async-local"]

    asyncio.run(main())


def test_in_process_client_used_from_several_threads(tmp_path: Path) -> None:
    with TwelveLabs(data_dir=tmp_path) as client:
        errors: list[BaseException] = []

        def work(n: int) -> None:
            try:
                for i in range(5):
                    client.indexes.create(index_name=f"t{n}-{i}", models=MODELS)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert len(list(client.indexes.list(page_limit=7))) == 20


LIFESPAN_APP = """
import contextlib
from pathlib import Path
from starlette.applications import Starlette
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

def make(marker: Path):
    @contextlib.asynccontextmanager
    async def lifespan(app):
        marker.write_text("started")
        yield {"greeting": "hi"}
        marker.write_text("stopped")

    async def hello(request):
        return JSONResponse({"greeting": request.state.greeting})

    async def stream(request):
        async def gen():
            for i in range(3):
                yield f'{{"event_type": "text_generation", "text": "{i}"}}\\n'
        return StreamingResponse(gen(), media_type="application/x-ndjson")

    return Starlette(routes=[Route("/hello", hello), Route("/stream", stream)], lifespan=lifespan)
"""


def _lifespan_app_module(tmp_path: Path) -> Path:
    module = tmp_path / "lifespan_app.py"
    module.write_text(LIFESPAN_APP)
    return module


def test_runner_runs_lifespan_and_streams(tmp_path: Path) -> None:
    import httpx

    from framedex.client._inprocess import ASGIRunner, InProcessTransport

    spec = importlib.util.spec_from_file_location("lifespan_app", _lifespan_app_module(tmp_path))
    assert spec and spec.loader
    lifespan_app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lifespan_app)
    marker = tmp_path / "marker"
    runner = ASGIRunner(lambda: lifespan_app.make(marker))
    assert marker.read_text() == "started"
    with httpx.Client(transport=InProcessTransport(runner), base_url="http://app") as http:
        assert http.get("/hello").json() == {"greeting": "hi"}  # lifespan state reaches requests
        with http.stream("GET", "/stream") as response:
            assert [line for line in response.iter_lines() if line] == [
                json.dumps({"event_type": "text_generation", "text": str(i)}, separators=(", ", ": "))
                for i in range(3)
            ]
    assert marker.read_text() == "stopped" and runner.closed


def test_unclosed_runner_shuts_down_at_exit(tmp_path: Path) -> None:
    """An in-process app nobody closes still gets its lifespan shutdown when the interpreter exits."""
    _lifespan_app_module(tmp_path)
    marker = tmp_path / "marker"
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path)!r})\n"
        "from pathlib import Path\n"
        "import lifespan_app\n"
        "from framedex.client._inprocess import ASGIRunner\n"
        f"runner = ASGIRunner(lambda: lifespan_app.make(Path({str(marker)!r})))\n"
        "print(Path(" + repr(str(marker)) + ").read_text())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "started"
    assert marker.read_text() == "stopped"


def test_unclosed_client_exits_cleanly(tmp_path: Path) -> None:
    code = (
        "from framedex import TwelveLabs\n"
        f"c = TwelveLabs(data_dir={str(tmp_path)!r})\n"
        "c.indexes.create(index_name='x', models=[{'model_name': 'marengo3.0', 'model_options': ['visual']}])\n"
        "print('done')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "done"
