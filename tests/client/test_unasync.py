"""The sync client is generated from the async one; the generated files must be up to date."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import framedex.client

SCRIPT = Path(framedex.client.__file__).parent / "_unasync.py"


def test_generated_sync_client_is_current() -> None:
    proc = subprocess.run([sys.executable, "-P", str(SCRIPT), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, f"run `python -P {SCRIPT}`: {proc.stderr}"


def test_public_surface() -> None:
    import framedex

    assert framedex.TwelveLabs is framedex.client.TwelveLabs
    assert framedex.AsyncTwelveLabs is framedex.client.AsyncTwelveLabs
    assert framedex.__version__
    sync, asy = framedex.TwelveLabs, framedex.AsyncTwelveLabs
    sync_methods = {n for n in dir(sync) if not n.startswith("_")} - {"close"}
    async_methods = {n for n in dir(asy) if not n.startswith("_")} - {"aclose"}
    assert sync_methods == async_methods


def test_import_framedex_is_light() -> None:
    modules = "('httpx', 'fastapi', 'framedex.api', 'framedex.client')"
    code = f"import sys, framedex; print(sorted(m for m in {modules} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    code = "import sys, framedex.client; print('fastapi' in sys.modules, 'framedex.api' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False False"
