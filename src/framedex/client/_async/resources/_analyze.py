"""Request bodies and response lines of ``/analyze``, shared by the client's ``analyze*`` methods and
``analyze_async``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from framedex.client._encoding import json_body
from framedex.client.types import BatchResultItem


def _stream_event(data: Any) -> Any:
    from framedex.client.types import STREAM_EVENTS

    if not isinstance(data, dict):
        return None
    model = STREAM_EVENTS.get(str(data.get("event_type")))
    if model is None:
        return None
    try:
        return model.model_validate(data)
    except ValueError:
        return None


def _batch_item(data: Any) -> BatchResultItem | None:
    if not isinstance(data, dict):
        return None
    try:
        return BatchResultItem.model_validate(data)
    except ValueError:
        return None


def analyze_body(
    *,
    video_id: str | None = None,
    video: Mapping[str, Any] | None = None,
    image: Sequence[Mapping[str, Any]] | None = None,
    prompt: str | None = None,
    prompt_v2: Mapping[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    if video_id is not None and video is not None:
        raise ValueError("give video_id or video, not both")
    body = json_body(
        video_id=video_id,
        video=video,
        image=None if image is None else list(image),
        prompt=prompt,
        prompt_v2=prompt_v2,
        **fields,
    )
    return body
