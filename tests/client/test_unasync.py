"""The sync client is generated from the async one; the generated files must be up to date."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import framedex.client

CLIENT = Path(framedex.client.__file__).parent
SCRIPT = CLIENT / "_unasync.py"
HAND_WRITTEN = {"__init__.py", "_concurrency.py"}


def _py_files(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*.py")}


def _load_unasync() -> ModuleType:
    spec = importlib.util.spec_from_file_location("framedex_unasync", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_sync_client_is_current() -> None:
    proc = subprocess.run([sys.executable, "-P", str(SCRIPT), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, f"run `python -P {SCRIPT}`: {proc.stderr}"


def test_every_module_has_a_twin() -> None:
    """Same files on both sides, resources one module per resource; all but two generated."""
    async_files, sync_files = _py_files(CLIENT / "_async"), _py_files(CLIENT / "_sync")
    assert async_files == sync_files
    resources = {f.removeprefix("resources/") for f in async_files if f.startswith("resources/")}
    for name in ("indexes", "videos", "indexed_assets", "tasks", "assets", "multipart_upload", "search",
                 "analyze_async", "analyze_tasks", "analyze_batches", "embed", "embed_tasks", "embed_v2",
                 "embed_v2_tasks", "entity_collections", "entities"):  # fmt: skip
        assert f"{name}.py" in resources
    generated = {p.relative_to(CLIENT / "_sync").as_posix() for p in _load_unasync().generate()}
    assert generated == sync_files - HAND_WRITTEN
    for rel in generated:
        first = (CLIENT / "_sync" / rel).read_text().splitlines()[0]
        assert first.startswith(f"# Generated from _async/{rel} "), rel


def test_check_reports_stale_and_orphaned_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a copy of the tree: an edited generated file and a sync file with no async twin both fail
    ``--check``; a rewrite restores the one and deletes the other."""
    shutil.copytree(CLIENT / "_async", tmp_path / "_async", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(CLIENT / "_sync", tmp_path / "_sync", ignore=shutil.ignore_patterns("__pycache__"))
    unasync = _load_unasync()
    monkeypatch.setattr(unasync, "SOURCE", tmp_path / "_async")
    monkeypatch.setattr(unasync, "TARGET", tmp_path / "_sync")
    assert unasync.main(["--check"]) == 0

    edited = tmp_path / "_sync" / "resources" / "search.py"
    edited.write_text(edited.read_text() + "# hand edit\n")
    orphan = tmp_path / "_sync" / "resources" / "gone.py"
    orphan.write_text("")
    assert unasync.main(["--check"]) == 1
    assert unasync.main([]) == 0
    assert not orphan.exists()
    assert edited.read_text() == (CLIENT / "_sync" / "resources" / "search.py").read_text()
    assert unasync.main(["--check"]) == 0


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
