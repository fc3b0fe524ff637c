"""Wire objects of `POST /responses` (reference B.20): the response object, its message and tool-step items,
built from the agent's domain values (`services.responses.Outcome`, `Citation`, `ToolCall`/`ToolResult`).
The router (`api/routers/responses.py`) sends them as JSON or inside Server-Sent Events."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from framedex.domain_errors import ServiceError
from framedex.ids import rfc3339, utcnow
from framedex.services import responses


@dataclass
class ResponseWire:
    """The ids of one `/responses` request and the wire objects around its outcome."""

    knowledge_store_id: str
    session_id: str
    message_id: str
    include_steps: bool
    response_id: str = field(default_factory=lambda: f"resp_{uuid.uuid4()}")
    created_at: str = field(default_factory=lambda: rfc3339(utcnow()) or "")

    @classmethod
    def of(cls, scope: responses.Scope, turn: responses.Turn) -> ResponseWire:
        return cls(scope.knowledge_store_id, turn.session_id, f"msg_{turn.session_id}_{len(turn.history)}",
                   turn.include_steps)

    def response(self, status: str, output: list[dict[str, Any]], outcome: responses.Outcome | None = None,
                 incomplete_reason: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.response_id, "type": "response", "object": "response", "status": status,
                                "incomplete_details": {"reason": incomplete_reason} if incomplete_reason else None,
                                "output": output, "session_id": self.session_id,
                                "knowledge_store_id": self.knowledge_store_id, "created_at": self.created_at}
        if outcome is not None:
            body["usage"] = {"input_tokens": outcome.input_tokens, "output_tokens": outcome.output_tokens}
        return body

    def message(self, text: str, annotations: list[dict[str, Any]], status: str) -> dict[str, Any]:
        return {"type": "message", "id": self.message_id, "status": status, "role": "assistant",
                "phase": "final_answer",
                "content": [{"type": "output_text", "text": text, "annotations": annotations}]}

    def final_message(self, outcome: responses.Outcome) -> dict[str, Any]:
        return self.message(outcome.text, [annotation(c) for c in outcome.citations], outcome.status)

    def output(self, outcome: responses.Outcome) -> list[dict[str, Any]]:
        """The output items: the tool steps when the request asked for them, then the message."""
        items = [step_item(s) for s in outcome.steps] if self.include_steps else []
        items.append(self.final_message(outcome))
        return items

    def body(self, outcome: responses.Outcome) -> dict[str, Any]:
        """The `ResponseObject` of a finished run (``stream: false``)."""
        return self.response(outcome.status, self.output(outcome), outcome, outcome.incomplete_reason)

    def failed(self, output: list[dict[str, Any]], exc: BaseException) -> dict[str, Any]:
        body = self.response("failed", output)
        body["error"] = {"code": getattr(exc, "code", "internal_error"), "message": failure_message(exc)}
        return body


def annotation(citation: responses.Citation) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "video_citation", "start_index": citation.text_start,
                           "end_index": citation.text_end, "item_id": citation.item_id,
                           "start_sec": citation.start_sec, "end_sec": citation.end_sec}
    if citation.title:
        out["title"] = citation.title
    return out


def step_item(step: responses.Step) -> dict[str, Any]:
    """A ``function_call`` or ``function_call_output`` item."""
    if isinstance(step, responses.ToolCall):
        return {"type": "function_call", "id": f"fc_{step.call_id}", "status": "completed", "name": step.name,
                "call_id": step.call_id, "arguments": json.dumps(step.arguments, ensure_ascii=False)}
    return {"type": "function_call_output", "id": f"fco_{step.call_id}", "status": "completed",
            "call_id": step.call_id, "output": step.output}


def failure_message(exc: BaseException) -> str:
    """What a client is told about a failed response: a service error's own message; for anything else
    (whose text can name paths, SQL or internal hosts) a fixed one, the details being in the log."""
    if isinstance(exc, ServiceError):
        return exc.message
    return "The response failed because of an internal error."
