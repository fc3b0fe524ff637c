# Generated from _async/resources/indexes.py by `python -P src/framedex/client/_unasync.py`. Do not edit.
"""``client.indexes``: ``/indexes``, with ``.videos`` and ``.indexed_assets``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from framedex.client._base import path
from framedex.client._encoding import json_body
from framedex.client.types import Index, IndexCreateResponse, Model

from .._http import SyncHTTP
from .._pagination import Pager
from ._base import _Resource
from .indexed_assets import IndexedAssets
from .videos import Videos


class Indexes(_Resource):
    """``/indexes``."""

    def __init__(self, http: SyncHTTP) -> None:
        super().__init__(http)
        self.videos = Videos(http)
        self.indexed_assets = IndexedAssets(http)

    def list(
        self,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        sort_by: str | None = None,
        sort_option: str | None = None,
        index_name: str | None = None,
        model_options: str | None = None,
        model_family: str | None = None,
        created_at: str | None = None,
        updated_at: str | None = None,
    ) -> Pager[Index]:
        params = {
            "page_limit": page_limit,
            "sort_by": sort_by,
            "sort_option": sort_option,
            "index_name": index_name,
            "model_options": model_options,
            "model_family": model_family,
            "created_at": created_at,
            "updated_at": updated_at,
        }
        return self._pager("indexes", params, Index, page=page)

    def create(
        self,
        *,
        index_name: str,
        models: Sequence[Mapping[str, Any] | Model],
        addons: Sequence[str] | None = None,
    ) -> IndexCreateResponse:
        body = json_body(
            index_name=index_name, models=list(models), addons=None if addons is None else list(addons)
        )
        return self._http.model("POST", "indexes", IndexCreateResponse, json=body)

    def retrieve(self, index_id: str) -> Index:
        return self._http.model("GET", path("indexes/{}", index_id), Index)

    def update(self, index_id: str, *, index_name: str) -> None:
        self._http.none("PUT", path("indexes/{}", index_id), json={"index_name": index_name})

    def delete(self, index_id: str) -> None:
        self._http.none("DELETE", path("indexes/{}", index_id))
