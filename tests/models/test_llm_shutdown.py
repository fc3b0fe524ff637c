"""A process that stops while the local model is generating on another thread exits cleanly.

The generation runs inside llama.cpp on a worker thread; a thread still in native code when the interpreter
exits aborts the process ("FATAL: exception not rethrown", exit 134). `ModelRegistry.close` interrupts the
running generation (it ends at its next token, raising `LLMError` so that a cut-short answer is never kept)
and waits for it before unloading. Run in a subprocess: the exit status is what is tested.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent("""
    import sys, threading, time
    from framedex.config import Settings
    from framedex.models.base import ChatMessage
    from framedex.models.llm import LLMError
    from framedex.models.registry import ModelRegistry

    registry = ModelRegistry(Settings(data_dir=sys.argv[1], model_threads=1))
    outcome = {}
    started = threading.Event()

    def generate():
        try:
            registry.llm().complete([ChatMessage("user", "Write a long essay on the history of Rome.")],
                                    max_tokens=2000, on_text=lambda _text: started.set())
            outcome["result"] = "finished"
        except LLMError as exc:
            outcome["result"] = f"interrupted: {exc}"

    worker = threading.Thread(target=generate, daemon=True)  # as the job workers are
    worker.start()
    started.wait(120)  # the model is loaded and writing
    time.sleep(1.0)
    t0 = time.monotonic()
    registry.close()
    worker.join(5)
    print("OUTCOME", outcome.get("result"), round(time.monotonic() - t0, 1), flush=True)
""")


def test_closing_during_a_generation_exits_cleanly(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[2] / "src"),
                                                         os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("OUTCOME"))
    assert "interrupted" in line, line
