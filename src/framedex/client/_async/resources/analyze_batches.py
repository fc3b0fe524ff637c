"""``client.analyze_async.batches``: ``/analyze/batches``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from framedex.client._base import path
from framedex.client._encoding import json_body
from framedex.client.types import AnalyzeBatch, AnalyzeBatchCreateResponse, BatchResultItem

from .._pagination import AsyncPager
from .._streaming import AsyncStream
from ._analyze import _batch_item
from ._base import StrOrList, _Resource


class AsyncAnalyzeBatches(_Resource):
    """``/analyze/batches``."""

    async def list(
        self,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        status: StrOrList | None = None,
        analysis_mode: StrOrList | None = None,
    ) -> AsyncPager[AnalyzeBatch]:
        params = {"page_limit": page_limit, "status": status, "analysis_mode": analysis_mode}
        return await self._pager("analyze/batches", params, AnalyzeBatch, page=page)

    async def create(
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
        return await self._http.model("POST", "analyze/batches", AnalyzeBatchCreateResponse, json=body)

    async def retrieve(self, batch_id: str) -> AnalyzeBatch:
        return await self._http.model("GET", path("analyze/batches/{}", batch_id), AnalyzeBatch)

    async def delete(self, batch_id: str) -> None:
        await self._http.none("DELETE", path("analyze/batches/{}", batch_id))

    async def results(self, batch_id: str) -> AsyncStream[BatchResultItem]:
        """The batch's results, one item per JSON line (``GET /analyze/batches/{id}/results``)."""
        response = await self._http.request("GET", path("analyze/batches/{}/results", batch_id), stream=True)
        return AsyncStream(response, _batch_item)

    async def cancel(self, batch_id: str) -> AnalyzeBatch:
        return await self._http.model("POST", path("analyze/batches/{}/cancel", batch_id), AnalyzeBatch)
