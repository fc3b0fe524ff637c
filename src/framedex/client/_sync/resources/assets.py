# Generated from _async/resources/assets.py by `python -P src/framedex/client/_unasync.py`. Do not edit.
"""``client.assets``: ``/assets``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from framedex.client._base import path
from framedex.client._encoding import FileInput, multipart
from framedex.client.types import Asset, AssetTranscription

from .._pagination import Pager
from ._base import Metadata, StrOrList, _Resource


class Assets(_Resource):
    """``/assets``: uploaded media, reusable across indexes."""

    def list(
        self,
        *,
        page: int | None = None,
        page_limit: int | None = None,
        asset_ids: StrOrList | None = None,
        asset_types: StrOrList | None = None,
        filename: str | None = None,
    ) -> Pager[Asset]:
        params = {
            "page_limit": page_limit,
            "asset_ids": asset_ids,
            "asset_types": asset_types,
            "filename": filename,
        }
        return self._pager("assets", params, Asset, page=page)

    def create(
        self,
        *,
        method: str | None = None,
        file: FileInput | None = None,
        url: str | None = None,
        filename: str | None = None,
        enable_hls: bool | None = None,
        enable_thumbnail: bool | None = None,
        user_metadata: Metadata | None = None,
    ) -> Asset:
        """Upload ``file`` (``method="direct"``) or have the server fetch ``url`` (``method="url"``);
        ``method`` defaults to whichever of the two is given."""
        if method is None:
            if file is not None:
                method = "direct"
            elif url is not None:
                method = "url"
            else:
                raise ValueError("give file or url")
        body = multipart(
            {
                "method": method,
                "url": url,
                "filename": filename,
                "enable_hls": enable_hls,
                "enable_thumbnail": enable_thumbnail,
                "user_metadata": user_metadata,
            },
            [("file", file)],
        )
        return self._http.model("POST", "assets", Asset, body=body)

    def retrieve(self, asset_id: str) -> Asset:
        return self._http.model("GET", path("assets/{}", asset_id), Asset)

    def delete(self, asset_id: str, *, force: bool | None = None) -> None:
        self._http.none("DELETE", path("assets/{}", asset_id), params={"force": force})

    def retrieve_transcription(
        self, asset_id: str, *, include: StrOrList | None = None
    ) -> AssetTranscription:
        return self._http.model(
            "GET", path("assets/{}/transcription", asset_id), AssetTranscription, params={"include": include}
        )

    def replace_user_metadata(self, asset_id: str, *, user_metadata: Metadata) -> None:
        self._http.none(
            "PUT", path("assets/{}/user-metadata", asset_id), json={"user_metadata": user_metadata}
        )

    def update_user_metadata(self, asset_id: str, *, user_metadata: Metadata) -> None:
        """Merge keys into the asset's metadata; a key set to ``None`` is removed."""
        self._http.none(
            "PATCH", path("assets/{}/user-metadata", asset_id), json={"user_metadata": user_metadata}
        )

    def delete_user_metadata(self, asset_id: str) -> None:
        self._http.none("DELETE", path("assets/{}/user-metadata", asset_id))

    def wait_for_ready(
        self,
        asset_id: str,
        *,
        sleep_interval: float = 2.0,
        callback: Callable[[Asset], Any] | None = None,
        timeout: float | None = None,
    ) -> Asset:
        """Poll until the asset is ``ready`` or ``failed``."""
        return self._poll(
            functools.partial(self.retrieve, asset_id),
            ("ready", "failed"),
            sleep_interval=sleep_interval,
            callback=callback,
            timeout=timeout,
            what=f"asset {asset_id}",
        )
