# Generated from _async/resources/embed_v2.py by `python -P src/framedex/client/_unasync.py`. Do not edit.
"""``client.embed.v_2``: ``/embed-v2``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from framedex.client._encoding import json_body
from framedex.client.types import EmbeddingV2Response

from .._http import SyncHTTP
from ._base import _Resource
from .embed_v2_tasks import EmbedV2Tasks


class EmbedV2(_Resource):
    """``/embed-v2``."""

    def __init__(self, http: SyncHTTP) -> None:
        super().__init__(http)
        self.tasks = EmbedV2Tasks(http)

    def create(
        self,
        *,
        input_type: str,
        model_name: str,
        text: str | Mapping[str, Any] | None = None,
        image: Mapping[str, Any] | None = None,
        text_image: Mapping[str, Any] | None = None,
        audio: Mapping[str, Any] | None = None,
        video: Mapping[str, Any] | None = None,
        multi_input: Mapping[str, Any] | None = None,
        auto_truncate: bool | None = None,
        embedding_uncertainty: bool | None = None,
        embedding_dimension: int | None = None,
    ) -> EmbeddingV2Response:
        """Embed synchronously; ``text`` may be a plain string (sent as ``{"input_text": text}``)."""
        if isinstance(text, str):
            text = {"input_text": text}
        body = json_body(
            input_type=input_type,
            model_name=model_name,
            auto_truncate=auto_truncate,
            embedding_uncertainty=embedding_uncertainty,
            embedding_dimension=embedding_dimension,
            text=text,
            image=image,
            text_image=text_image,
            audio=audio,
            video=video,
            multi_input=multi_input,
        )
        return self._http.model("POST", "embed-v2", EmbeddingV2Response, json=body)
