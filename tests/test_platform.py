"""The composition root (`framedex.platform`): adapters are picked by URL scheme, and a scheme without an
adapter is refused with a message that names the setting, before anything is opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from framedex.config import Settings
from framedex.jobs.worker import JobHandler
from framedex.platform import Platform, UnsupportedScheme, file_path, job_handlers, scheme_of
from framedex.storage.blobs import LocalBlobStore


def test_schemes() -> None:
    assert scheme_of("sqlite:////tmp/x.db") == "sqlite"
    assert scheme_of("postgresql+psycopg://u@h/db") == "postgresql"
    assert scheme_of("/var/lib/framedex") == "file"
    assert file_path("file:///srv/blobs") == Path("/srv/blobs")
    assert file_path("relative/dir") == Path("relative/dir")


def test_default_settings_wire_the_embedded_adapters(tmp_path: Path) -> None:
    platform = Platform(Settings(data_dir=tmp_path))
    try:
        assert isinstance(platform.blobs, LocalBlobStore)
        assert platform.store.dialect == "sqlite"
        platform.blobs.put_bytes("a/b", b"x")
        assert (tmp_path / "blobs" / "a" / "b").read_bytes() == b"x"
    finally:
        platform.close()


def test_blob_url_points_the_blob_store_elsewhere(tmp_path: Path) -> None:
    platform = Platform(Settings(data_dir=tmp_path / "data", blob_url=f"file://{tmp_path / 'elsewhere'}"))
    try:
        platform.blobs.put_bytes("k", b"y")
        assert (tmp_path / "elsewhere" / "k").read_bytes() == b"y"
    finally:
        platform.close()


@pytest.mark.parametrize(("field", "url"), [
    ("database_url", "postgresql://u@localhost/framedex"),
    ("blob_url", "s3://bucket/prefix"),
    ("queue_url", "redis://localhost:6379/0"),
    ("vector_url", "postgresql://u@localhost/framedex"),
])
def test_unsupported_schemes_are_refused_by_name(tmp_path: Path, field: str, url: str) -> None:
    with pytest.raises(UnsupportedScheme, match=field):
        Platform(Settings(data_dir=tmp_path, **{field: url}))


def test_every_job_kind_has_one_owner(tmp_path: Path) -> None:
    platform = Platform(Settings(data_dir=tmp_path))
    try:
        handlers = job_handlers(platform)
    finally:
        platform.close()
    kinds = {"asset_probe", "asset_fetch", "video_validate", "video_index", "embed_task", "analyze_task"}
    assert kinds <= set(handlers)
    assert all(isinstance(h, JobHandler) for h in handlers.values())
