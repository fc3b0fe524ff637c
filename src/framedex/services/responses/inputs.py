"""The `/responses` request as the service takes it (`ResponseInput`), checked field by field with the API's
error codes and in its order; built by the router with `from_body`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from framedex.domain_errors import InvalidParameter, MissingParameter, ServiceError

MAX_INPUT_ITEMS = 32
MAX_INPUT_CHARS = 8000
MAX_INSTRUCTIONS_CHARS = 4000
MAX_SELECTIONS = 50


@dataclass(frozen=True)
class Message:
    role: str  # user | assistant
    content: str


@dataclass(frozen=True)
class Selection:
    kind: str  # item | collection
    id: str


@dataclass(frozen=True)
class ResponseInput:
    """A `/responses` request with its fields checked, built by the router with `from_body`.

    The API reports the first error in field order and looks each reference up when it reaches it: an unknown
    store (404) comes before a bad ``input`` (400), and a missing selected item before a malformed later
    selection or session id. `from_body` checks the fields without looking anything up, stops at the first
    error after ``knowledge_store_id`` and keeps it as ``late`` with the selections read before it; `prepare`
    raises it once it has found the store and those selections. The fields after it keep their defaults."""

    knowledge_store_id: str
    messages: tuple[Message, ...] = ()
    instructions: str | None = None
    include_steps: bool = False
    selections: tuple[Selection, ...] = ()
    session_id: str | None = None
    late: ServiceError | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ResponseInput:
        store_id = body.get("knowledge_store_id")
        if not isinstance(store_id, str) or not store_id:
            raise MissingParameter("knowledge_store_id")
        fields: dict[str, Any] = {}
        selections: list[Selection] = []
        try:
            fields["messages"] = _messages(body.get("input"))
            fields["instructions"] = _instructions(body.get("instructions"))
            fields["include_steps"] = _include_steps(body.get("include"))
            _check_text(body.get("text"))
            for sel in _selections(body.get("selections")):
                selections.append(sel)
            fields["session_id"] = _session_id(body.get("session_id"))
        except ServiceError as exc:
            fields["late"] = exc
        return cls(store_id, **fields, selections=tuple(selections))


def _messages(value: Any) -> tuple[Message, ...]:
    if isinstance(value, str):  # Open Responses also takes a bare string
        value = [{"type": "message", "role": "user", "content": value}]
    if not isinstance(value, list) or not value:
        raise MissingParameter("input")
    if len(value) > MAX_INPUT_ITEMS:
        raise InvalidParameter("input", f"At most {MAX_INPUT_ITEMS} items are accepted.")
    out: list[Message] = []
    total = 0
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise InvalidParameter(f"input[{i}]", "Each item must be an object {type, role, content}.")
        if item.get("type", "message") != "message":
            raise InvalidParameter(f"input[{i}].type", "Only message items are accepted.")
        role = item.get("role", "user")
        if role not in ("user", "assistant"):
            raise InvalidParameter(f"input[{i}].role", "Use user (or assistant for earlier replies).")
        content = item.get("content")
        if not isinstance(content, str) or not content.strip():
            raise InvalidParameter(f"input[{i}].content", "It must be a non-empty string.")
        total += len(content)
        out.append(Message(role, content))
    if total > MAX_INPUT_CHARS:
        raise InvalidParameter("input", f"The input is too long ({total} characters; at most {MAX_INPUT_CHARS}).")
    if out[-1].role != "user":
        raise InvalidParameter("input", "The last input item must be a user message.")
    return tuple(out)


def _instructions(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or len(value) > MAX_INSTRUCTIONS_CHARS):
        raise InvalidParameter("instructions", f"It must be a string of at most {MAX_INSTRUCTIONS_CHARS} characters.")
    return value


def _include_steps(value: Any) -> bool:
    include = value or []
    if not isinstance(include, list) or any(v != "intermediate_outputs" for v in include):
        raise InvalidParameter("include", "The only value is intermediate_outputs.")
    return bool(include)


def _check_text(value: Any) -> None:
    """Only plain text output is supported (a ``text`` that is not an object is ignored, as it always was)."""
    fmt = value.get("format") if isinstance(value, dict) else None
    if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type", "text") != "text"):
        raise InvalidParameter("text.format", "Only the text format is supported by this server.")


def _selections(value: Any) -> Iterator[Selection]:
    """The selections in order (a generator: `from_body` keeps those before a malformed one)."""
    if value is None:
        return
    if not isinstance(value, list) or len(value) > MAX_SELECTIONS:
        raise InvalidParameter("selections", f"It must be a list of at most {MAX_SELECTIONS} selections.")
    for i, sel in enumerate(value):
        if not isinstance(sel, dict) or sel.get("kind") not in ("item", "collection") \
                or not isinstance(sel.get("id"), str):
            raise InvalidParameter(f"selections[{i}]", "Each selection is {kind: item|collection, id}.")
        yield Selection(sel["kind"], sel["id"])


def _session_id(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise InvalidParameter("session_id", "It must be a string returned by an earlier response.")
    return value
