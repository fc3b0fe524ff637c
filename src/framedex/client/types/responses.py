"""The ``/responses`` agent (``client.responses``): the response object and its stream events.

Names follow the Twelve Labs SDK 1.3.6 (``ResponseObject``, ``ResponseOutputItem``, ...). A streamed event is
one ``ResponseStreamEvent`` whatever its ``type`` (``response.created``, ``response.output_text.delta``,
``response.completed``, ``keepalive``, ...); the fields that type carries are set, the others are ``None``.
Every event has a ``sequence_number`` (0, 1, 2, ... in the order sent).
"""

from __future__ import annotations

from datetime import datetime

from .shared import Model


class ResponseAnnotation(Model):
    """A citation: ``text[start_index:end_index + 1]`` cites ``item_id`` (an item, or a video when the scope
    is an index) from ``start_sec`` to ``end_sec``."""

    type: str | None = None
    start_index: int | None = None
    end_index: int | None = None
    item_id: str | None = None
    collection_id: str | None = None
    start_sec: float | None = None
    end_sec: float | None = None
    title: str | None = None
    thumbnail_url: str | None = None
    hls_url: str | None = None


class ResponseOutputContentPart(Model):
    type: str | None = None
    text: str | None = None
    annotations: list[ResponseAnnotation] | None = None


class ResponseOutputItem(Model):
    """A ``message`` (the answer: ``content``) or, with ``include=["intermediate_outputs"]``, a tool step
    (``function_call``: ``name``, ``arguments``; ``function_call_output``: ``output``)."""

    type: str | None = None
    id: str | None = None
    status: str | None = None
    role: str | None = None
    phase: str | None = None
    content: list[ResponseOutputContentPart] | None = None
    name: str | None = None
    call_id: str | None = None
    arguments: str | None = None
    output: str | None = None


class ResponseUsage(Model):
    input_tokens: int | None = None
    output_tokens: int | None = None


class ResponseIncompleteDetails(Model):
    reason: str | None = None


class ResponseError(Model):
    """Why a streamed response failed (in ``response.failed``)."""

    code: str | None = None
    message: str | None = None


class ResponseObject(Model):
    """The agent's answer; ``session_id`` continues the conversation in a later request."""

    id: str | None = None
    knowledge_store_id: str | None = None
    session_id: str | None = None
    type: str | None = None
    object: str | None = None
    status: str | None = None
    incomplete_details: ResponseIncompleteDetails | None = None
    output: list[ResponseOutputItem] | None = None
    usage: ResponseUsage | None = None
    error: ResponseError | None = None
    created_at: datetime | None = None

    @property
    def message(self) -> ResponseOutputItem | None:
        """The last ``message`` output item (the answer), if any."""
        messages = [o for o in self.output or [] if o.type == "message"]
        return messages[-1] if messages else None

    @property
    def output_text(self) -> str:
        """The answer's text (the text parts of the last message), ``""`` when there is none."""
        message = self.message
        parts = (message.content or []) if message is not None else []
        return "".join(p.text or "" for p in parts)

    @property
    def annotations(self) -> list[ResponseAnnotation]:
        """The citations of the answer (the last message)."""
        message = self.message
        parts = (message.content or []) if message is not None else []
        return [a for p in parts for a in p.annotations or []]


class ResponseStreamEvent(Model):
    """One Server-Sent Event of ``responses.create_stream``."""

    type: str
    sequence_number: int
    response: ResponseObject | None = None
    output_index: int | None = None
    item: ResponseOutputItem | None = None
    item_id: str | None = None
    content_index: int | None = None
    part: ResponseOutputContentPart | None = None
    delta: str | None = None
    text: str | None = None
    arguments: str | None = None
