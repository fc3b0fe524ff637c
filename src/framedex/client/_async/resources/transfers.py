"""``client.tasks.transfers``: ``/tasks/transfers/import/{integration_id}`` (imports from storage).

The Twelve Labs SDK 1.3.6 dropped these calls; the product documentation and SDK 1.0.2 still show them, so
framedex's client keeps them. ``integration_id`` names an integration the server's operator declared.
"""

from __future__ import annotations

from framedex.client._base import path
from framedex.client._encoding import json_body
from framedex.client.types import TransferCreateResponse, TransferLogs, TransferStatus

from ._base import Metadata, _Resource


class AsyncTransfers(_Resource):
    """Import every video under an integration's folder or bucket prefix into an index."""

    async def create(
        self,
        integration_id: str,
        *,
        index_id: str,
        incremental_import: bool | None = None,
        retry_failed: bool | None = None,
        user_metadata: Metadata | None = None,
    ) -> TransferCreateResponse:
        """Start an import. ``incremental_import`` (default true) skips files already imported into the index;
        ``retry_failed`` imports again the ones whose import or indexing failed."""
        body = json_body(
            index_id=index_id,
            incremental_import=incremental_import,
            retry_failed=retry_failed,
            user_metadata=user_metadata,
        )
        return await self._http.model(
            "POST", path("tasks/transfers/import/{}", integration_id), TransferCreateResponse, json=body
        )

    async def import_(
        self,
        integration_id: str,
        *,
        index_id: str,
        incremental_import: bool | None = None,
        retry_failed: bool | None = None,
        user_metadata: Metadata | None = None,
    ) -> TransferCreateResponse:
        """The name the product documentation uses for :meth:`create`."""
        return await self.create(
            integration_id,
            index_id=index_id,
            incremental_import=incremental_import,
            retry_failed=retry_failed,
            user_metadata=user_metadata,
        )

    async def get_status(self, integration_id: str, *, index_id: str) -> TransferStatus:
        return await self._http.model(
            "GET",
            path("tasks/transfers/import/{}/status", integration_id),
            TransferStatus,
            params={"index_id": index_id},
        )

    async def get_logs(
        self, integration_id: str, *, page: int | None = None, page_limit: int | None = None
    ) -> TransferLogs:
        """All imports from the integration, oldest first; one page of them with ``page``/``page_limit``."""
        params = {k: v for k, v in {"page": page, "page_limit": page_limit}.items() if v is not None}
        return await self._http.model(
            "GET", path("tasks/transfers/import/{}/logs", integration_id), TransferLogs, params=params
        )
