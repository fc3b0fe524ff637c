"""The composition root (`framedex.platform`): adapters are picked by URL scheme, and a scheme without an
adapter is refused with a message that names the setting, before anything is opened."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from framedex.config import Settings
from framedex.jobs.queue_redis import RedisJobQueue
from framedex.jobs.worker import JobHandler
from framedex.platform import Platform, UnsupportedScheme, file_path, job_handlers, scheme_of
from framedex.storage.blobs import LocalBlobStore
from framedex.storage.blobs_s3 import S3BlobStore
from framedex.storage.lexical_postgres import PostgresLexicalIndex
from framedex.storage.metadata import SqlMetadataStore
from framedex.storage.vectors_pgvector import PgVectorIndex
from tests.servers import Server


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
    ("database_url", "mysql://u@localhost/framedex"),
    ("blob_url", "gs://bucket/prefix"),
    ("queue_url", "amqp://localhost:5672/"),
    ("vector_url", "qdrant://localhost:6333"),
])
def test_unsupported_schemes_are_refused_by_name(tmp_path: Path, field: str, url: str) -> None:
    with pytest.raises(UnsupportedScheme, match=field):
        Platform(Settings(data_dir=tmp_path, **{field: url}))


def test_a_database_queue_must_be_the_metadata_database(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="queue_url"):
        Platform(Settings(data_dir=tmp_path, queue_url=f"sqlite:///{tmp_path / 'other.db'}"))


def test_scale_out_urls_wire_the_server_adapters(tmp_path: Path, postgres_url: str, redis_server: Server,
                                                  s3_server: Server) -> None:
    """PostgreSQL metadata + pgvector + PostgreSQL full-text search, Redis dispatch, S3 blobs: every port on its
    server, and two processes' platforms on the same URLs share the data and the signing key."""
    settings = {"database_url": postgres_url, "vector_url": postgres_url, "queue_url": redis_server.url,
                "blob_url": f"{s3_server.url}/wiring{uuid.uuid4().hex[:8]}"}
    one = Platform(Settings(data_dir=tmp_path / "one", **settings))
    two = Platform(Settings(data_dir=tmp_path / "two", **settings))
    try:
        assert isinstance(one.store, SqlMetadataStore) and one.store.dialect == "postgresql"
        assert isinstance(one.queue, RedisJobQueue)
        assert isinstance(one.blobs, S3BlobStore)
        assert isinstance(one.vectors, PgVectorIndex)
        assert isinstance(one.lexical, PostgresLexicalIndex)
        assert one.vectors.engine is one.store.engine  # one pool when vectors live in the metadata database
        assert one.signing_key == two.signing_key and len(one.signing_key) == 32
        assert not (tmp_path / "one" / "signing.key").exists()  # a cluster's secret is in the database
        one.blobs.put_bytes("shared/x", b"seen by both")
        with two.blobs.open("shared/x") as f:
            assert f.read() == b"seen by both"
        job_id = one.queue.enqueue("wiring", {"n": 1})
        job = two.queue.claim("other-process", ["wiring"])
        assert job is not None and job.id == job_id and two.queue.complete(job.id, "other-process")
    finally:
        one.close()
        two.close()


def test_every_job_kind_has_one_owner(tmp_path: Path) -> None:
    platform = Platform(Settings(data_dir=tmp_path))
    try:
        handlers = job_handlers(platform)
    finally:
        platform.close()
    kinds = {"asset_probe", "asset_fetch", "video_validate", "video_index", "embed_task", "analyze_task"}
    assert kinds <= set(handlers)
    assert all(isinstance(h, JobHandler) for h in handlers.values())
