# Generated from _async/_client.py by `python -P src/framedex/client/_unasync.py`. Do not edit.
"""``TwelveLabs``: the sync framedex client."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from framedex.client._base import DEFAULT_TIMEOUT
from framedex.client.types import AnalyzeResponse, AnalyzeStreamEvent, Gist, SummarizeResponse

from ._http import SyncHTTP
from ._streaming import Stream
from .resources import (
    AnalyzeAsync,
    Assets,
    Embed,
    EntityCollections,
    Indexes,
    KnowledgeStoreItemCollections,
    KnowledgeStoreItems,
    KnowledgeStores,
    MultipartUpload,
    Responses,
    Search,
    Tasks,
)
from .resources._analyze import _stream_event, analyze_body


class TwelveLabs:
    """Client for a framedex server (or any server speaking the Twelve Labs v1.3 API).

    * ``TwelveLabs(api_key="...", base_url="http://host:8000")``: talk to a server. ``base_url`` may end
      in ``/v1.3`` or not; it defaults to ``$FRAMEDEX_BASE_URL``, ``$FRAMEDEX_URL``, ``$TWELVELABS_BASE_URL`` or
      ``http://127.0.0.1:8000``; ``api_key`` defaults to ``$FRAMEDEX_API_KEY`` / ``$TWELVELABS_API_KEY``.
    * ``TwelveLabs(data_dir="/path")``: run the framedex app in this process on that data directory
      (needs the server's dependencies). Without ``api_key`` authentication is off; with one it is on.
      ``settings=`` takes a ready ``framedex.config.Settings`` instead.

    ``transport`` plugs in any ``httpx.BaseTransport`` (e.g. ``httpx.MockTransport``).
    ``max_retries`` (default 0) retries 408/429/5xx and connection failures with exponential backoff.
    Close the client (``client.close()`` or ``with``) to stop an in-process app.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        timeout: float | httpx.Timeout | None = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        max_retries: int = 0,
        headers: Mapping[str, str] | None = None,
        settings: Any = None,
    ) -> None:
        self._http = SyncHTTP(
            api_key,
            base_url=base_url,
            data_dir=data_dir,
            settings=settings,
            timeout=timeout,
            transport=transport,
            max_retries=max_retries,
            headers=headers,
        )
        self.indexes = Indexes(self._http)
        self.tasks = Tasks(self._http)
        self.assets = Assets(self._http)
        self.multipart_upload = MultipartUpload(self._http)
        self.search = Search(self._http)
        self.analyze_async = AnalyzeAsync(self._http)
        self.embed = Embed(self._http)
        self.entity_collections = EntityCollections(self._http)
        # laid out as the official SDK: items and item collections at the top level (and, the same objects,
        # as knowledge_stores.items / .item_collections)
        self.knowledge_store_items = KnowledgeStoreItems(self._http)
        self.knowledge_store_item_collections = KnowledgeStoreItemCollections(self._http)
        self.knowledge_stores = KnowledgeStores(
            self._http, items=self.knowledge_store_items, item_collections=self.knowledge_store_item_collections
        )
        self.responses = Responses(self._http)

    @property
    def base_url(self) -> str:
        """The API root requests go to (ends in ``/v1.3``)."""
        return self._http.base_url

    @property
    def in_process(self) -> bool:
        return self._http.runner is not None

    def close(self) -> None:
        """Close connections and, in in-process mode, shut the app down (runs its lifespan shutdown)."""
        self._http.close()

    def __enter__(self) -> TwelveLabs:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- analysis ------------------------------------------------------------------------------------

    def analyze(
        self,
        *,
        video_id: str | None = None,
        video: Mapping[str, Any] | None = None,
        image: Sequence[Mapping[str, Any]] | None = None,
        prompt: str | None = None,
        prompt_v2: Mapping[str, Any] | None = None,
        model_name: str | None = None,
        temperature: float | None = None,
        response_format: Mapping[str, Any] | None = None,
        max_tokens: int | None = None,
        start_time: float | None = None,
        end_time: float | None = None,
    ) -> AnalyzeResponse:
        """Analyze a video (``video_id`` of an indexed video, or ``video={"type": "asset_id"|"url"|
        "base64_string", ...}``) or images with a prompt; returns the whole text (``stream: false``)."""
        body = analyze_body(
            video_id=video_id,
            video=video,
            image=image,
            prompt=prompt,
            prompt_v2=prompt_v2,
            model_name=model_name,
            temperature=temperature,
            response_format=response_format,
            max_tokens=max_tokens,
            start_time=start_time,
            end_time=end_time,
        )
        body["stream"] = False
        return self._http.model("POST", "analyze", AnalyzeResponse, json=body)

    def analyze_stream(
        self,
        *,
        video_id: str | None = None,
        video: Mapping[str, Any] | None = None,
        image: Sequence[Mapping[str, Any]] | None = None,
        prompt: str | None = None,
        prompt_v2: Mapping[str, Any] | None = None,
        model_name: str | None = None,
        temperature: float | None = None,
        response_format: Mapping[str, Any] | None = None,
        max_tokens: int | None = None,
        start_time: float | None = None,
        end_time: float | None = None,
    ) -> Stream[AnalyzeStreamEvent]:
        """Like :meth:`analyze` with ``stream: true``: iterate over ``StreamStart``, ``TextGeneration`` and
        ``StreamEnd`` events as the server produces them (NDJSON; unknown or bad lines are skipped)."""
        body = analyze_body(
            video_id=video_id,
            video=video,
            image=image,
            prompt=prompt,
            prompt_v2=prompt_v2,
            model_name=model_name,
            temperature=temperature,
            response_format=response_format,
            max_tokens=max_tokens,
            start_time=start_time,
            end_time=end_time,
        )
        body["stream"] = True
        response = self._http.request("POST", "analyze", json=body, stream=True)
        return Stream(response, _stream_event)

    def summarize(
        self,
        *,
        video_id: str,
        type: str,
        prompt: str | None = None,
        temperature: float | None = None,
        response_format: Mapping[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> SummarizeResponse:
        """``POST /summarize`` (Twelve Labs API before SDK 1.2): ``type`` is ``summary``, ``chapter`` or
        ``highlight``."""
        body = analyze_body(
            video_id=video_id,
            prompt=prompt,
            type=type,
            temperature=temperature,
            response_format=response_format,
            max_tokens=max_tokens,
        )
        return self._http.model("POST", "summarize", SummarizeResponse, json=body)

    def gist(self, *, video_id: str, types: Sequence[str]) -> Gist:
        """``POST /gist``: ``types`` among ``title``, ``topic``, ``hashtag``."""
        return self._http.model("POST", "gist", Gist, json={"video_id": video_id, "types": list(types)})

    def generate(
        self, *, video_id: str, prompt: str, temperature: float | None = None
    ) -> AnalyzeResponse:
        """``POST /generate`` (deprecated in the real API in favour of ``/analyze``), not streamed."""
        body = analyze_body(video_id=video_id, prompt=prompt, temperature=temperature)
        body["stream"] = False
        return self._http.model("POST", "generate", AnalyzeResponse, json=body)
