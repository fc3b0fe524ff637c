# Generated from _async/resources/analyze_batches.py by `python -P src/framedex/client/_unasync.py`. Do not edit.
"""``client.analyze_async.batches``: ``/analyze/batches``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from framedex.client._base import path
from framedex.client._encoding import json_body
from framedex.client.types import AnalyzeBatch, AnalyzeBatchCreateResponse, BatchResultItem

from .._pagination import Pager
from .._streaming import Stream
from ._analyze import _batch_item
from ._base import StrOrList, _Resource


class AnalyzeBatches(_Resource):
    """``/analyze/batches``."""

    def list(
        self,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        status: StrOrList | None = None,
        analysis_mode: StrOrList | None = None,
    ) -> Pager[AnalyzeBatch]:
        params = {"page_limit": page_limit, "status": status, "analysis_mode": analysis_mode}
        return self._pager("analyze/batches", params, AnalyzeBatch, page=page)

    def create(
        self,
        *,
        requests: Sequence[Mapping[str, Any]],
        model_name: str = "pegasus1.5",
        analysis_mode: str = "general",
        defaults: Mapping[str, Any] | None = None,
    ) -> AnalyzeBatchCreateResponse:
        body = json_body(
            model_name=model_name, analysis_mode=analysis_mode, defaults=defaults, requests=list(requests)
        )
        return self._http.model("POST", "analyze/batches", AnalyzeBatchCreateResponse, json=body)

    def retrieve(self, batch_id: str) -> AnalyzeBatch:
        return self._http.model("GET", path("analyze/batches/{}", batch_id), AnalyzeBatch)

    def delete(self, batch_id: str) -> None:
        self._http.none("DELETE", path("analyze/batches/{}", batch_id))

    def results(self, batch_id: str) -> Stream[BatchResultItem]:
        """The batch's results, one item per JSON line (``GET /analyze/batches/{id}/results``)."""
        response = self._http.request("GET", path("analyze/batches/{}/results", batch_id), stream=True)
        return Stream(response, _batch_item)

    def cancel(self, batch_id: str) -> AnalyzeBatch:
        return self._http.model("POST", path("analyze/batches/{}/cancel", batch_id), AnalyzeBatch)
