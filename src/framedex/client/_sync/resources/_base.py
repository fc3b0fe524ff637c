# Generated from _async/resources/_base.py by `python -P src/framedex/client/_unasync.py`. Do not edit.
"""What every resource of the sync client shares: the HTTP handle, paging, polling for a final status."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

import httpx

from framedex.client._base import M
from framedex.client.types import Model, Page
from framedex.errors import ApiError, WaitTimeoutError

from .._concurrency import Thunk, maybe_await, monotonic, sleep
from .._http import SyncHTTP
from .._pagination import Pager

Range: TypeAlias = float | Mapping[str, float]
"""A number (exact match) or ``{"gte": ..., "lte": ...}``."""
Metadata: TypeAlias = Mapping[str, Any]
StrOrList: TypeAlias = str | Sequence[str]


def _transient(exc: BaseException) -> bool:
    """Worth polling again: the connection failed, or the server was busy (429) or erred (5xx)."""
    if isinstance(exc, httpx.TransportError):
        return True
    return (
        isinstance(exc, ApiError)
        and exc.status_code is not None
        and (exc.status_code == 429 or exc.status_code >= 500)
    )


class _Resource:
    """Base of every resource. All resources of a client share its one HTTP core (connection pool, retries,
    in-process app), so a resource is cheap and holds no state of its own."""

    def __init__(self, http: SyncHTTP) -> None:
        self._http = http

    def _pager(
        self,
        url: str,
        params: Mapping[str, Any],
        item_model: type[M],
        *,
        page: int | None = None,
        items_key: str = "data",
        page_model: type[Model] = Page,
        transform: Callable[[M], M] | None = None,
    ) -> Pager[M]:
        base = dict(params)

        def fetch(number: int) -> Any:
            return self._http.json("GET", url, params={"page": number, **base})

        return Pager.create(
            fetch, item_model, page=page or 1, items_key=items_key, page_model=page_model, transform=transform
        )

    def _poll(
        self,
        fetch: Thunk[M],
        final: Sequence[str],
        *,
        sleep_interval: float,
        callback: Callable[[M], Any] | None,
        timeout: float | None,
        what: str,
    ) -> M:
        """Fetch now, then every ``sleep_interval`` s until ``status`` is in ``final``. Transient errors
        (connection failures, 429, 5xx) are retried; others propagate."""
        deadline = None if timeout is None else monotonic() + timeout
        last: M | None = None
        while True:
            try:
                last = fetch()
            except Exception as exc:
                if not _transient(exc):
                    raise
            else:
                if callback is not None:
                    maybe_await(callback(last))
                if getattr(last, "status", None) in final:
                    return last
            if deadline is not None and monotonic() + sleep_interval > deadline:
                raise WaitTimeoutError(f"{what} did not finish within {timeout} s", last=last)
            sleep(sleep_interval)
