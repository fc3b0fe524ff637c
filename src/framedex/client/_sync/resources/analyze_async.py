# Generated from _async/resources/analyze_async.py by `python -P src/framedex/client/_unasync.py`. Do not edit.
"""``client.analyze_async``: ``.tasks`` and ``.batches``."""

from __future__ import annotations

from .._http import SyncHTTP
from .analyze_batches import AnalyzeBatches
from .analyze_tasks import AnalyzeTasks


class AnalyzeAsync:
    """``client.analyze_async``: ``.tasks`` and ``.batches``."""

    def __init__(self, http: SyncHTTP) -> None:
        self.tasks = AnalyzeTasks(http)
        self.batches = AnalyzeBatches(http)
