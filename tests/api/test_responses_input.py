"""`ResponseInput.from_body` (the typed `/responses` request): its checks, and the errors it keeps for after the
lookups that the API makes before reaching them (the order is checked end to end in test_responses.py)."""

from __future__ import annotations

from typing import Any

import pytest

from framedex.api.schemas.responses import ResponseWire
from framedex.domain_errors import InvalidParameter, MissingParameter, NotFound
from framedex.services.responses import (
    Citation,
    Message,
    Outcome,
    ResponseInput,
    Scope,
    Selection,
    ToolCall,
    ToolResult,
    Turn,
)

ASK = [{"type": "message", "role": "user", "content": "Where is the volcano?"}]


def test_a_full_request_is_typed() -> None:
    request = ResponseInput.from_body({
        "knowledge_store_id": "ks", "input": [{"content": "first"}, {"role": "assistant", "content": "answer"},
                                              {"content": "and {{sel:0}}?"}],
        "instructions": "Be brief.", "include": ["intermediate_outputs"], "text": {"format": {"type": "text"}},
        "selections": [{"kind": "item", "id": "i1"}, {"kind": "collection", "id": "c1"}], "session_id": "sess_1"})
    assert request == ResponseInput(
        "ks", (Message("user", "first"), Message("assistant", "answer"), Message("user", "and {{sel:0}}?")),
        "Be brief.", True, (Selection("item", "i1"), Selection("collection", "c1")), "sess_1")
    assert ResponseInput.from_body({"knowledge_store_id": "ks", "input": "hi"}).messages == (Message("user", "hi"),)


@pytest.mark.parametrize("store_id", [None, "", 5])
def test_a_missing_store_is_reported_at_once(store_id: Any) -> None:
    with pytest.raises(MissingParameter):
        ResponseInput.from_body({"knowledge_store_id": store_id, "input": 3})


@pytest.mark.parametrize("body, name, selections", [
    ({"input": 3}, "input", ()),
    ({"input": ASK, "include": "x", "instructions": 5}, "instructions", ()),
    ({"input": ASK, "text": {"format": "x"}, "selections": "x"}, "text.format", ()),
    ({"input": ASK, "selections": [{"kind": "item", "id": "a"}, {"kind": "x"}], "session_id": 5}, "selections[1]",
     (Selection("item", "a"),)),
    ({"input": ASK, "selections": [{"kind": "item", "id": "a"}], "session_id": 5}, "session_id",
     (Selection("item", "a"),)),
])
def test_the_first_later_error_is_kept_with_the_selections_before_it(body: dict[str, Any], name: str,
                                                                     selections: tuple[Selection, ...]) -> None:
    request = ResponseInput.from_body({"knowledge_store_id": "ks", **body})
    assert isinstance(request.late, MissingParameter | InvalidParameter)
    assert request.late.message.startswith(f"The {name} parameter")
    assert request.selections == selections


def test_the_api_shapes_the_outcome_into_the_response_object() -> None:
    """The service answers domain values (issue 11); `api/schemas/responses.py` makes the wire objects."""
    turn = Turn("q", None, True, [], [{"question": "a", "answer": "b"}], "sess_1", False)
    wire = ResponseWire.of(Scope("ks", "ix", None), turn)
    outcome = Outcome("Lava [1]", [ToolCall("call_1", "search", {"query": "lava"}), ToolResult("call_1", "[]")],
                      5, 2, "max_wall_time", [Citation("it1", "v1", 1.0, 2.5, "lava.mp4", 5, 7)])
    body = wire.body(outcome)
    assert body["status"] == "incomplete" and body["incomplete_details"] == {"reason": "max_wall_time"}
    assert body["usage"] == {"input_tokens": 5, "output_tokens": 2} and body["session_id"] == "sess_1"
    call, result, message = body["output"]
    assert call == {"type": "function_call", "id": "fc_call_1", "status": "completed", "name": "search",
                    "call_id": "call_1", "arguments": '{"query": "lava"}'}
    assert result["type"] == "function_call_output" and result["output"] == "[]"
    assert message["id"] == "msg_sess_1_1" and message["status"] == "incomplete"
    assert message["content"][0]["annotations"] == [{"type": "video_citation", "start_index": 5, "end_index": 7,
                                                      "item_id": "it1", "start_sec": 1.0, "end_sec": 2.5,
                                                      "title": "lava.mp4"}]
    failed = wire.failed([], NotFound("session", "s"))
    assert failed["status"] == "failed" and failed["error"]["code"] == "resource_not_exists"
    assert wire.failed([], RuntimeError("/secret/path"))["error"] == {
        "code": "internal_error", "message": "The response failed because of an internal error."}
