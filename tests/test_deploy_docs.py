"""docs/deploy.md and deploy/ stay true to `framedex.config.Settings`: every setting is documented, the
compose file is valid YAML whose FRAMEDEX_* variables are real settings, and the systemd units run
commands and options the CLI has."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from framedex.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY_MD = ROOT / "docs" / "deploy.md"
COMPOSE = ROOT / "deploy" / "compose.yaml"
UNITS = ROOT / "deploy" / "systemd"
# FRAMEDEX_* variables read by the CLI itself rather than by Settings (the client's server URL and key)
CLI_ONLY = {"FRAMEDEX_URL", "FRAMEDEX_API_KEY"}


def env_names() -> dict[str, str]:
    prefix = str(Settings.model_config.get("env_prefix", "")).upper()
    return {f"{prefix}{name.upper()}": name for name in Settings.model_fields}


def settings_doc() -> ModuleType:
    spec = importlib.util.spec_from_file_location("settings_doc", ROOT / "scripts" / "settings_doc.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_setting_is_in_the_deploy_guide() -> None:
    doc = DEPLOY_MD.read_text()
    rows = set(re.findall(r"^\| `(FRAMEDEX_[A-Z0-9_]+)` \|", doc, flags=re.M))
    missing = sorted(set(env_names()) - rows)
    assert not missing, f"settings missing from docs/deploy.md (run scripts/settings_doc.py --write): {missing}"
    stale = sorted(rows - set(env_names()))
    assert not stale, f"docs/deploy.md documents settings that no longer exist: {stale}"


def test_the_settings_table_is_the_generated_one() -> None:
    mod = settings_doc()
    assert not mod.undocumented(), "give these settings a Field(description=...) or a NOTES entry"
    doc = DEPLOY_MD.read_text()
    assert mod.replaced(doc) == doc, "docs/deploy.md's settings table is stale: run scripts/settings_doc.py --write"


def _compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def test_compose_file_is_valid_and_names_real_settings() -> None:
    services = _compose()["services"]
    assert {"postgres", "redis", "minio", "api-1", "api-2", "worker-1", "worker-2"} <= set(services)
    known = env_names()
    for name, service in services.items():
        env = service.get("environment") or {}
        assert isinstance(env, dict), f"{name}: use the mapping form of environment"
        for var in env:
            if var.startswith("FRAMEDEX_"):
                assert var in known or var in CLI_ONLY, f"{name}: {var} is not a Settings field"
    for name in ("api-1", "api-2", "worker-1", "worker-2"):
        env = services[name]["environment"]
        # the scale-out stack: every shared store by URL, nothing on a process's own disk but caches
        for var in ("FRAMEDEX_DATABASE_URL", "FRAMEDEX_VECTOR_URL", "FRAMEDEX_QUEUE_URL", "FRAMEDEX_BLOB_URL"):
            assert var in env, f"{name} lacks {var}"
        assert env["FRAMEDEX_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert env["FRAMEDEX_VECTOR_URL"].startswith("postgresql+psycopg://")
        assert env["FRAMEDEX_QUEUE_URL"].startswith("redis://")
        assert env["FRAMEDEX_BLOB_URL"].startswith("s3://")
    for name in ("api-1", "api-2"):
        command = services[name]["command"]
        assert command[:2] == ["framedex", "serve"] and "--workers" in command
        assert command[command.index("--workers") + 1] == "0", "API processes run no in-process workers"
    for name in ("worker-1", "worker-2"):
        assert services[name]["command"][:2] == ["framedex", "worker"]


@pytest.mark.parametrize("unit", ["framedex-api@.service", "framedex-worker@.service"])
def test_systemd_units_use_real_cli_options(unit: str) -> None:
    from typer.main import get_command

    from framedex.cli.main import app

    text = (UNITS / unit).read_text()
    assert re.search(r"^\[Service\]$", text, flags=re.M) and re.search(r"^\[Install\]$", text, flags=re.M)
    line = next(x for x in text.splitlines() if x.startswith("ExecStart="))
    argv = line.split("=", 1)[1].split()
    assert argv[0].endswith("/framedex")
    group: Any = get_command(app)
    command = group.commands[argv[1]]
    options = {opt for p in command.params for opt in getattr(p, "opts", [])}
    for arg in argv[2:]:
        if arg.startswith("--"):
            assert arg in options, f"{unit}: `framedex {argv[1]}` has no option {arg}"
    for var in re.findall(r"\b(FRAMEDEX_[A-Z0-9_]+)=", (UNITS / "framedex.env.example").read_text()):
        assert var in env_names(), f"framedex.env.example: {var} is not a Settings field"
