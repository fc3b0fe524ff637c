"""Wiring: builds the storage, queue and model adapters once per process from `Settings`."""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from framedex.config import Settings
from framedex.jobs.queue import SqlJobQueue
from framedex.storage.blobs import LocalBlobStore
from framedex.storage.lexical import LexicalIndex, lexical_index_for
from framedex.storage.metadata import SqlMetadataStore
from framedex.storage.vectors import VectorIndex, open_embedded

if TYPE_CHECKING:
    from framedex.models.registry import ModelRegistry


@dataclass
class Platform:
    settings: Settings
    store: SqlMetadataStore = field(init=False)
    blobs: LocalBlobStore = field(init=False)
    queue: SqlJobQueue = field(init=False)
    lexical: LexicalIndex = field(init=False)

    def __post_init__(self) -> None:
        from framedex.native import preload_native_runtimes

        preload_native_runtimes()
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        self.store = SqlMetadataStore(s.db_url)
        self.store.create_schema()
        self.blobs = LocalBlobStore(s.blob_dir)
        self.queue = SqlJobQueue(self.store, lease_seconds=s.job_lease_seconds, max_attempts=s.job_max_attempts)
        self.lexical = lexical_index_for(self.store.dialect)

    @cached_property
    def vectors(self) -> VectorIndex:
        """Opened on first use: the embedded index is owned by one process at a time, and commands
        that never touch vectors (keys, uploads) must not take it from a running server."""
        return open_embedded(self.settings.data_dir / "vectors")

    @cached_property
    def models(self) -> ModelRegistry:
        from framedex.models.registry import ModelRegistry

        return ModelRegistry(self.settings)

    @cached_property
    def signing_key(self) -> bytes:
        """Secret for signed URLs (chunk uploads, thumbnails); created once per data dir."""
        path = self.settings.data_dir / "signing.key"
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
        if "vectors" in self.__dict__:
            self.vectors.close()
        if "models" in self.__dict__:
            self.models.close()
        self.store.dispose()
