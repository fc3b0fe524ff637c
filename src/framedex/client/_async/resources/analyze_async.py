"""``client.analyze_async``: ``.tasks`` and ``.batches``."""

from __future__ import annotations

from .._http import AsyncHTTP
from .analyze_batches import AsyncAnalyzeBatches
from .analyze_tasks import AsyncAnalyzeTasks


class AsyncAnalyzeAsync:
    """``client.analyze_async``: ``.tasks`` and ``.batches``."""

    def __init__(self, http: AsyncHTTP) -> None:
        self.tasks = AsyncAnalyzeTasks(http)
        self.batches = AsyncAnalyzeBatches(http)
