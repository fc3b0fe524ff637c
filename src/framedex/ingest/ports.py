"""What ingest needs of the running platform: the ports it reads and writes, never their adapters.

The composition root (`framedex.platform`) builds the adapters; `services.platform.Platform` extends this
with what only services use (the job queue, the URL-signing key).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from framedex.config import Settings
from framedex.storage.blobs import BlobStore
from framedex.storage.lexical import LexicalIndex
from framedex.storage.metadata import MetadataStore
from framedex.storage.vectors import VectorIndex

if TYPE_CHECKING:
    from framedex.models.registry import ModelRegistry


class IngestPorts(Protocol):
    @property
    def settings(self) -> Settings: ...

    @property
    def store(self) -> MetadataStore: ...

    @property
    def blobs(self) -> BlobStore: ...

    @property
    def lexical(self) -> LexicalIndex: ...

    @property
    def vectors(self) -> VectorIndex: ...

    @property
    def models(self) -> ModelRegistry: ...
