"""`POST /responses` (reference B.20): the agent, as JSON (`stream: false`) or Server-Sent Events.

The SDK reads the stream with `httpx_sse`, which needs `Content-Type: text/event-stream`, validates each
`data:` against `ResponseStreamEvent` (so every event carries `sequence_number`) and skips the final
`data: [DONE]`.

The service answers domain values (`services.responses.Outcome`, tool steps); `api/schemas/responses.py`
shapes them into the response, message and step objects (issue 11).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse, StreamingResponse

from framedex.api.deps import PlatformDep, TenantDep
from framedex.api.schemas.knowledge import RESPONSE_BODY
from framedex.api.schemas.responses import ResponseWire, step_item
from framedex.domain_errors import InvalidParameter, ServiceError
from framedex.services import responses
from framedex.services.platform import Platform

log = logging.getLogger(__name__)

router = APIRouter(tags=["responses"])

SSE = "text/event-stream"
KEEPALIVE_SECONDS = 10.0  # search, model loading and map-reduce can be silent this long


@router.post("/responses", openapi_extra=RESPONSE_BODY)
def create_response(body: Annotated[dict[str, Any], Body()], platform: PlatformDep, tenant: TenantDep) -> Any:
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidParameter("stream", "It must be true or false.")
    # Validation and scope/session lookup happen here, so their errors are plain JSON 4xx, not a stream.
    scope, turn = responses.prepare(platform, tenant, responses.ResponseInput.from_body(body))
    wire = ResponseWire.of(scope, turn)
    if not stream:
        return JSONResponse(wire.body(responses.answer(platform, tenant, scope, turn)))
    return StreamingResponse(_events(platform, tenant, scope, turn, wire), media_type=SSE,
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _events(platform: Platform, tenant: str, scope: responses.Scope, turn: responses.Turn,
            run: ResponseWire) -> Iterator[str]:
    """The SSE stream of one run: the agent works on a thread and reports through a queue, so the stream
    can send keepalives while a tool is busy and stop the model when the client goes away."""
    pending: queue.Queue[tuple[str, Any]] = queue.Queue()
    gone = threading.Event()
    agent = responses.Agent(platform, tenant, scope, turn,
                            emit_step=(lambda step: pending.put(("step", step))) if turn.include_steps else None,
                            on_delta=lambda text: pending.put(("delta", text)), should_stop=gone.is_set)

    def work() -> None:
        try:
            pending.put(("done", agent.run()))
        except Exception as exc:  # reported in-band: the 200 and the headers are already sent
            if not isinstance(exc, ServiceError):
                log.exception("response %s failed", run.response_id)
            pending.put(("failed", exc))

    seq = 0

    def event(kind: str, **fields: Any) -> str:
        nonlocal seq
        data = {"type": kind, "sequence_number": seq, **fields}
        seq += 1
        return f"event: {kind}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"

    items: list[dict[str, Any]] = []  # output items in output_index order
    message_index: int | None = None
    text = ""
    yield event("response.created", response=run.response("in_progress", []))
    yield event("response.in_progress", response=run.response("in_progress", []))
    threading.Thread(target=work, name="framedex-responses", daemon=True).start()
    try:
        while True:
            try:
                kind, value = pending.get(timeout=KEEPALIVE_SECONDS)
            except queue.Empty:
                yield event("keepalive")
                continue
            if kind == "step":
                index = len(items)
                item = step_item(value)
                items.append(item)
                yield event("response.output_item.added", output_index=index, item={**item, "status": "in_progress"})
                if item["type"] == "function_call":
                    yield event("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                                arguments=item["arguments"])
                yield event("response.output_item.done", output_index=index, item=item)
            elif kind == "delta":
                if message_index is None:
                    message_index = len(items)
                    items.append(run.message("", [], "in_progress"))
                    yield event("response.output_item.added", output_index=message_index, item=items[-1])
                    yield event("response.content_part.added", item_id=run.message_id, output_index=message_index,
                                content_index=0, part={"type": "output_text", "text": "", "annotations": []})
                text += value
                yield event("response.output_text.delta", item_id=run.message_id, output_index=message_index,
                            content_index=0, delta=value)
            elif kind == "done":
                outcome: responses.Outcome = value
                responses.save_turn(platform, tenant, scope, turn, outcome)
                status = outcome.status
                message = run.final_message(outcome)
                if message_index is None:
                    message_index = len(items)
                    items.append(run.message("", [], "in_progress"))
                    yield event("response.output_item.added", output_index=message_index, item=items[-1])
                    yield event("response.content_part.added", item_id=run.message_id, output_index=message_index,
                                content_index=0, part={"type": "output_text", "text": "", "annotations": []})
                items[message_index] = message
                part = message["content"][0]
                yield event("response.output_text.done", item_id=run.message_id, output_index=message_index,
                            content_index=0, text=outcome.text)
                yield event("response.content_part.done", item_id=run.message_id, output_index=message_index,
                            content_index=0, part=part)
                yield event("response.output_item.done", output_index=message_index, item=message)
                body = run.response(status, items, outcome, outcome.incomplete_reason)
                # The SDK's union knows no `response.incomplete`: an incomplete run also ends with
                # `response.completed`, whose response says `status: incomplete` and why.
                yield event("response.completed", response=body)
                break
            else:
                exc: BaseException = value
                yield event("response.failed", response=run.failed(items, exc))
                break
        yield "data: [DONE]\n\n"
    finally:
        gone.set()
