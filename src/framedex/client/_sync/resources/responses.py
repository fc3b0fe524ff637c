# Generated from _async/resources/responses.py by `python -P src/framedex/client/_unasync.py`. Do not edit.
"""``client.responses``: ``POST /responses`` (the agent), as JSON or as Server-Sent Events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from framedex.client._encoding import json_body
from framedex.client.types import ResponseObject, ResponseStreamEvent

from .._streaming import Stream
from ._base import _Resource

ResponseInput: TypeAlias = str | Sequence[Mapping[str, Any]]


def _stream_event(data: Any) -> ResponseStreamEvent | None:
    if not isinstance(data, dict):
        return None
    try:
        return ResponseStreamEvent.model_validate(data)
    except ValueError:
        return None


def _response_body(
    *,
    knowledge_store_id: str,
    input: ResponseInput,
    session_id: str | None,
    instructions: str | None,
    include: Sequence[str] | None,
    selections: Sequence[Mapping[str, Any]] | None,
    text: Mapping[str, Any] | None,
    stream: bool,
) -> dict[str, Any]:
    if isinstance(input, str):  # a bare question is one user message
        input = [{"type": "message", "role": "user", "content": input}]
    body = json_body(
        knowledge_store_id=knowledge_store_id,
        input=list(input),
        session_id=session_id,
        instructions=instructions,
        include=None if include is None else list(include),
        selections=None if selections is None else list(selections),
        text=text,
    )
    body["stream"] = stream
    return body


class Responses(_Resource):
    """``POST /responses``: answer a question over a knowledge store (or, a framedex extension, an index
    given as ``knowledge_store_id``) with cited moments. ``input`` is a list of messages
    ``{"type": "message", "role": "user", "content": "..."}`` or a bare question; ``session_id`` (from an
    earlier answer) continues that conversation; ``include=["intermediate_outputs"]`` adds the tool calls to
    ``output``; ``selections=[{"kind": "item", "id": ...}]`` are referred to as ``{{sel:0}}``, ... in the text."""

    def create(
        self,
        *,
        knowledge_store_id: str,
        input: ResponseInput,
        session_id: str | None = None,
        instructions: str | None = None,
        include: Sequence[str] | None = None,
        selections: Sequence[Mapping[str, Any]] | None = None,
        text: Mapping[str, Any] | None = None,
    ) -> ResponseObject:
        """The whole answer (``stream: false``); ``.output_text`` and ``.annotations`` read its message."""
        body = _response_body(
            knowledge_store_id=knowledge_store_id,
            input=input,
            session_id=session_id,
            instructions=instructions,
            include=include,
            selections=selections,
            text=text,
            stream=False,
        )
        return self._http.model("POST", "responses", ResponseObject, json=body)

    def create_stream(
        self,
        *,
        knowledge_store_id: str,
        input: ResponseInput,
        session_id: str | None = None,
        instructions: str | None = None,
        include: Sequence[str] | None = None,
        selections: Sequence[Mapping[str, Any]] | None = None,
        text: Mapping[str, Any] | None = None,
    ) -> Stream[ResponseStreamEvent]:
        """Like :meth:`create` with ``stream: true``: iterate over the events as the server sends them
        (``response.created``, ..., ``response.output_text.delta``, ..., ``response.completed`` or
        ``response.failed``; ``keepalive`` while a tool is busy), each with its ``sequence_number``."""
        body = _response_body(
            knowledge_store_id=knowledge_store_id,
            input=input,
            session_id=session_id,
            instructions=instructions,
            include=include,
            selections=selections,
            text=text,
            stream=True,
        )
        response = self._http.request("POST", "responses", json=body, stream=True)
        return Stream(response, _stream_event, sse=True)
