"""The composition root: reads `Settings`, picks an adapter for each port by URL scheme, and hands
services the ports. `framedex serve`/`worker`, the API's lifespan, tests and tools build one per process.

Port (setting, default) → adapters by scheme:

* `storage.MetadataStore` (`database_url`, ``sqlite:///<data>/framedex.db``): ``sqlite://``, ``postgresql://``
  (SQLAlchemy + psycopg 3; schema by the Alembic revisions in `storage/migrations`).
* `jobs.JobQueue` (`queue_url`, the metadata database): the database's own rows, or ``redis://`` dispatch with
  the job state still in the database.
* `storage.BlobStore` (`blob_url`, ``file://<data>/blobs``): ``file://``, ``s3://`` (boto3).
* `storage.VectorIndex` (`vector_url`, ``file://<data>/vectors``): ``file://`` embedded (usearch),
  ``postgresql://`` pgvector.
* `storage.LexicalIndex`: follows the metadata store's dialect (SQLite FTS5, PostgreSQL full-text search).

The embedded stack (every default) is one process's: its vector index is opened by one process at a time.
With ``postgresql://`` metadata and vectors, ``redis://`` (or the database) as queue and ``s3://`` blobs, a
process keeps nothing of its own on disk but caches (model files, downloaded media being processed, saved
LLM states under ``data_dir``), so any number of `framedex serve` and `framedex worker` processes run on
the same URLs. Services only ever see the ports; a new backend is a branch per scheme in the openers below.

Job handlers are declared by the services that own them (`job_handlers(platform)` in each module listed in
`JOB_OWNERS`); this module only collects them for the worker pool.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from framedex.config import Settings
from framedex.jobs.queue import JobQueue, SqlJobQueue
from framedex.jobs.worker import JobHandler, Worker, WorkerPool
from framedex.storage.blobs import BlobStore, LocalBlobStore
from framedex.storage.lexical import LexicalIndex, lexical_index_for
from framedex.storage.metadata import MetadataStore, SqlMetadataStore
from framedex.storage.vectors import VectorIndex

if TYPE_CHECKING:
    from framedex.models.registry import ModelRegistry


class UnsupportedScheme(ValueError):
    """A setting names a backend this build has no adapter for."""

    def __init__(self, setting: str, url: str, supported: tuple[str, ...]) -> None:
        super().__init__(f"{setting}: no adapter for the {scheme_of(url)!r} scheme; "
                         f"supported: {', '.join(s + '://' for s in supported)}")


_POSTGRES = ("postgresql", "postgres")
_REDIS = ("redis", "rediss")


def scheme_of(url: str) -> str:
    """``postgresql+psycopg://…`` → ``postgresql``; a bare path counts as ``file``."""
    if "://" not in url:
        return "file"
    return url.split("://", 1)[0].split("+", 1)[0].lower()


def file_path(url: str) -> Path:
    """``file:///abs/dir`` or ``file://rel/dir`` or a bare path → the directory."""
    if "://" not in url:
        return Path(url)
    parts = urlsplit(url)
    return Path(unquote(parts.netloc + parts.path))


def open_metadata(settings: Settings) -> SqlMetadataStore:
    url = settings.db_url
    if scheme_of(url) not in ("sqlite", *_POSTGRES):
        raise UnsupportedScheme("database_url", url, ("sqlite", "postgresql"))
    return SqlMetadataStore(url)


def open_queue(settings: Settings, store: SqlMetadataStore) -> JobQueue:
    """Job *state* always lives in the metadata store (the API reports it from there); `queue_url` chooses
    what dispatches the jobs: the database itself (unset, or the database's URL) or Redis."""
    url = settings.queue_url or store.url
    lease, attempts = settings.job_lease_seconds, settings.job_max_attempts
    if scheme_of(url) in _REDIS:
        from framedex.jobs.queue_redis import RedisJobQueue

        return RedisJobQueue(store, url, lease_seconds=lease, max_attempts=attempts)
    if scheme_of(url) not in ("sqlite", *_POSTGRES):
        raise UnsupportedScheme("queue_url", url, ("redis", "sqlite", "postgresql"))
    if SqlMetadataStore.normalize_url(url) != store.url:
        raise ValueError("queue_url: a database queue lives in the metadata database; leave queue_url unset, "
                         "set it to database_url, or give a redis:// URL")
    return SqlJobQueue(store, lease_seconds=lease, max_attempts=attempts)


def open_blobs(settings: Settings) -> BlobStore:
    url = settings.blob_url or str(settings.blob_dir)
    if scheme_of(url) == "s3":
        from framedex.storage.blobs_s3 import S3BlobStore

        # Media that ffmpeg/PyAV must read as a file is downloaded here, once per process and object version.
        return S3BlobStore(url, cache_dir=settings.data_dir / "cache" / "blobs",
                           cache_max_bytes=settings.blob_cache_max_bytes)
    if scheme_of(url) != "file":
        raise UnsupportedScheme("blob_url", url, ("file", "s3"))
    return LocalBlobStore(file_path(url))


def vector_url(settings: Settings) -> str:
    """The vector index's URL, checked: a directory for the embedded index or a PostgreSQL database."""
    url = settings.vector_url or str(settings.data_dir / "vectors")
    if scheme_of(url) not in ("file", *_POSTGRES):
        raise UnsupportedScheme("vector_url", url, ("file", "postgresql"))
    return url


def open_vectors(settings: Settings, store: SqlMetadataStore) -> VectorIndex:
    url = vector_url(settings)
    if scheme_of(url) in _POSTGRES:
        from framedex.storage.vectors_pgvector import PgVectorIndex

        if SqlMetadataStore.normalize_url(url) == store.url:  # one pool for both when they share the database
            return PgVectorIndex(engine=store.engine)
        return PgVectorIndex(url)
    from framedex.storage.vectors_embedded import open_embedded

    return open_embedded(file_path(url))


class Platform:
    """One per process. Implements `services.platform.Platform`; every attribute is typed as its port."""

    store: MetadataStore
    blobs: BlobStore
    queue: JobQueue
    lexical: LexicalIndex

    def __init__(self, settings: Settings) -> None:
        from framedex.native import preload_native_runtimes

        preload_native_runtimes()
        self.settings = settings
        vector_url(settings)  # refuse an unsupported vector_url now; the index itself opens on first use
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        sql = open_metadata(settings)
        sql.create_schema()
        self._sql = sql
        self.store = sql
        self.blobs = open_blobs(settings)
        self.queue = open_queue(settings, sql)
        self.lexical = lexical_index_for(sql.dialect)

    @cached_property
    def vectors(self) -> VectorIndex:
        """Opened on first use: the embedded index is owned by one process at a time, and commands
        that never touch vectors (keys, uploads) must not take it from a running server."""
        return open_vectors(self.settings, self._sql)

    @cached_property
    def models(self) -> ModelRegistry:
        from framedex.models.registry import ModelRegistry

        return ModelRegistry(self.settings)

    @cached_property
    def signing_key(self) -> bytes:
        """Secret for signed URLs (chunk uploads, thumbnails, playback) and webhook secrets: created once, then
        the same in every process. The embedded stack keeps it in the data dir; a server database holds it
        for every API process and worker of a cluster."""
        if self._sql.dialect == "sqlite":
            return _file_secret(self.settings.data_dir / "signing.key")
        return _database_secret(self._sql, "signing_key")

    def warm_up(self) -> None:
        """What a long-running process does once at start-up: load the vector collections, then move every
        object alive so far (modules, vocabularies, loaded vectors' bookkeeping) out of the cyclic garbage
        collector's reach. A full collection walks every tracked object; with ~130k of them it pauses the
        process for ~70 ms, which lands in whichever search is running (the p99 of `bench/search_end_to_end.py`)."""
        import gc

        load_all = getattr(self.vectors, "load_all", None)
        if load_all is not None:
            load_all()
        gc.collect()
        gc.freeze()

    def close(self) -> None:
        self.queue.close()
        if "vectors" in self.__dict__:
            self.vectors.close()
        if "models" in self.__dict__:
            self.models.close()
        self.store.dispose()


def _file_secret(path: Path) -> bytes:
    # O_EXCL with mode 0600: the key is never readable by others, not even between create and chmod,
    # and two processes starting on one data dir cannot both write one (the loser reads the winner's).
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "wb") as f:
            f.write(secrets.token_bytes(32))
            f.flush()
            os.fsync(f.fileno())
    for _ in range(50):  # a racing creator may not have written its 32 bytes yet
        key = path.read_bytes()
        if len(key) >= 32:
            return key
        time.sleep(0.01)
    raise RuntimeError(f"{path.name} in the data dir is truncated; delete it to create a new one")


def _database_secret(store: SqlMetadataStore, name: str) -> bytes:
    """Insert a fresh secret unless one exists (the first process wins), then read whichever is stored."""
    from sqlalchemy.dialects.postgresql import insert

    from framedex.storage.tables import PlatformSecretRow

    with store.session() as s:
        s.execute(insert(PlatformSecretRow).values(name=name, value=secrets.token_bytes(32))
                  .on_conflict_do_nothing(index_elements=["name"]))
    with store.session() as s:
        return bytes(s.get_one(PlatformSecretRow, name).value)


def _job_owners() -> tuple[ModuleType, ...]:
    """The services that run work on the queue; each declares its kinds in `job_handlers(platform)`."""
    from framedex.services import entities, indexing, streaming
    from framedex.services.analysis import tasks as analysis_tasks
    from framedex.services.embed import tasks as embed_tasks
    from framedex.services.imports import transfers

    return (indexing, embed_tasks, entities, analysis_tasks, transfers, streaming)


def job_handlers(platform: Platform) -> dict[str, JobHandler]:
    handlers: dict[str, JobHandler] = {}
    for owner in _job_owners():
        declare: Callable[[Platform], dict[str, JobHandler]] = owner.job_handlers
        for kind, handler in declare(platform).items():
            if kind in handlers:
                raise RuntimeError(f"job kind {kind!r} is declared twice (again by {owner.__name__})")
            handlers[kind] = handler
    return handlers


def start_worker_pool(platform: Platform, count: int) -> WorkerPool:
    from framedex.services.analysis import prepared as analysis_prepared

    handlers = job_handlers(platform)
    # Analysis preparation gets a worker of its own (its jobs are not in `handlers`): it never holds up indexing.
    prepare = analysis_prepared.job_handlers(platform)
    pool = WorkerPool(
        lambda i: Worker(platform.queue, handlers if i < count else prepare,
                         poll_seconds=platform.settings.worker_poll_seconds), count + (1 if count else 0)
    )
    pool.start()
    # Whatever a killed predecessor left half-done is finished or cleaned up now, then periodically.
    from framedex.services.recovery import Maintenance

    maintenance = Maintenance(platform)
    maintenance.start()
    pool.on_stop.append(maintenance.stop)
    return pool
