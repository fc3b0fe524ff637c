# Generated from _async/resources/embed.py by `python -P src/framedex/client/_unasync.py`. Do not edit.
"""``client.embed``: ``/embed`` (v1), with ``.tasks`` and ``.v_2``."""

from __future__ import annotations

from framedex.client._encoding import FileInput, multipart
from framedex.client.types import EmbeddingResponse

from .._http import SyncHTTP
from ._base import _Resource
from .embed_tasks import EmbedTasks
from .embed_v2 import EmbedV2


class Embed(_Resource):
    """``/embed`` (v1), with ``.tasks`` (v1) and ``.v_2`` (the v2 API)."""

    def __init__(self, http: SyncHTTP) -> None:
        super().__init__(http)
        self.tasks = EmbedTasks(http)
        self.v_2 = EmbedV2(http)

    def create(
        self,
        *,
        model_name: str,
        text: str | None = None,
        text_truncate: str | None = None,
        image_url: str | None = None,
        image_file: FileInput | None = None,
        audio_url: str | None = None,
        audio_file: FileInput | None = None,
        audio_start_offset_sec: float | None = None,
    ) -> EmbeddingResponse:
        body = multipart(
            {
                "model_name": model_name,
                "text": text,
                "text_truncate": text_truncate,
                "image_url": image_url,
                "audio_url": audio_url,
                "audio_start_offset_sec": audio_start_offset_sec,
            },
            [("image_file", image_file), ("audio_file", audio_file)],
        )
        return self._http.model("POST", "embed", EmbeddingResponse, body=body)
