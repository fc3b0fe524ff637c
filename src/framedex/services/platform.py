"""The platform as services see it: ports (Protocols) and the model registry, never adapter classes.

`framedex.platform.Platform` (the composition root) is the one implementation; it picks each port's
adapter from the settings. Services, and the API routers that hand the platform to them, are typed with
this Protocol, so a new adapter (PostgreSQL, S3, Redis) plugs in without touching them.
"""

from __future__ import annotations

from typing import Protocol

from framedex.ingest.ports import IngestPorts
from framedex.jobs.queue import JobQueue


class Platform(IngestPorts, Protocol):
    @property
    def queue(self) -> JobQueue: ...

    @property
    def signing_key(self) -> bytes:
        """Secret for signed URLs (chunk uploads, thumbnails)."""
        ...
