"""`framedex analyze` and `framedex summarize` against a live server whose model is scripted."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.analysis.conftest import FakeLLM, FakeServer, insert_video


def _cli(server: FakeServer, *args: str) -> list[str]:
    return [sys.executable, "-m", "framedex.cli.main", *args, "--url", server.url, "--api-key", server.key]


def test_analyze_streams_the_answer_as_it_is_written(fake_server: FakeServer) -> None:
    video = insert_video(fake_server.platform, fake_server.tenant, duration=20,
                         speech=[(0.0, 5.0, "volcanoes erupt near the glacier")])
    fake_server.llm.reply = "Lava meets ice in this video about volcanoes and glaciers."
    fake_server.llm.delay = 0.25  # ten words: the whole answer takes about 2.5 s to write
    try:
        proc = subprocess.Popen(_cli(fake_server, "analyze", video.id, "What happens?"), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "200"})
        assert proc.stdout is not None
        first = proc.stdout.read(4)
        running_after_first_words = proc.poll() is None
        rest, err = proc.communicate(timeout=120)
    finally:
        fake_server.llm.delay = 0.0
        fake_server.llm.reply = FakeLLM.reply
    assert proc.returncode == 0, err
    assert (first + rest).decode().strip() == "Lava meets ice in this video about volcanoes and glaciers."
    assert running_after_first_words  # the first words arrived while the model was still writing


def test_analyze_json_and_errors(fake_server: FakeServer) -> None:
    video = insert_video(fake_server.platform, fake_server.tenant, duration=20)
    done = subprocess.run(_cli(fake_server, "analyze", video.id, "Summarise.", "--json"), capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert FakeLLM.reply in done.stdout and '"data"' in done.stdout
    missing = subprocess.run(_cli(fake_server, "analyze", "0" * 24, "Anything?"), capture_output=True, text=True,
                             timeout=120)
    assert missing.returncode == 4 and "404" in missing.stderr
    unreachable = subprocess.run([sys.executable, "-m", "framedex.cli.main", "analyze", video.id, "Hi?",
                                  "--url", "http://127.0.0.1:9", "--api-key", "x"],
                                 capture_output=True, text=True, timeout=120)
    assert unreachable.returncode == 3 and "cannot reach" in unreachable.stderr
    summary = subprocess.run(_cli(fake_server, "summarize", video.id, "--type", "summary"), capture_output=True,
                             text=True, timeout=120)
    assert summary.returncode == 0 and summary.stdout.strip(), summary.stderr
