"""The stored form of prepared outputs (services/analysis/outputs.py): a blob written by an earlier version reads
back into the same answer, and writes back byte for byte; the API shapes the same body from it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from framedex.api.schemas.analyze import GistResponse, SummarizeResponse, ndjson_events
from framedex.domain_errors import InvalidParameter
from framedex.services.analysis import Gist, Result, Summary
from framedex.services.analysis import prepared as analysis_prepared

# As preparation stored them before the outputs were domain objects (numbers exactly as made: an int end_sec).
STORED = {
    "summary": {"id": "s1", "summarize_type": "summary", "summary": "Volcanoes, then pasta.",
                "usage": {"output_tokens": 8, "input_tokens": 810}},
    "chapter": {"id": "c1", "summarize_type": "chapter", "chapters": [
        {"chapter_number": 1, "start": 0, "end": 40, "start_sec": 0.0, "end_sec": 40.0, "chapter_title": "Lava",
         "chapter_summary": "A volcano erupts."},
        {"chapter_number": 2, "start": 40, "end": 120, "start_sec": 40.0, "end_sec": 120, "chapter_title": "Pasta",
         "chapter_summary": "Sauce simmers."}], "usage": {"output_tokens": 17, "input_tokens": 904}},
    "highlight": {"id": "h1", "summarize_type": "highlight", "highlights": [
        {"start": 8, "end": 17, "start_sec": 8.0, "end_sec": 17.1, "highlight": "Eruption",
         "highlight_summary": "Lava flows."}], "usage": {"output_tokens": 19, "input_tokens": 929}},
    "gist": {"id": "g1", "usage": {"output_tokens": 19, "input_tokens": 891}, "title": "Volcano Day",
             "topics": ["volcano", "lava"], "hashtags": ["#lavaflow", "#Volcano"]},
}


def test_stored_summaries_read_and_write_back_unchanged() -> None:
    for kind in ("summary", "chapter", "highlight"):
        summary = Summary.from_record(STORED[kind])
        assert summary.kind == kind
        assert json.dumps(summary.to_record()) == json.dumps(STORED[kind])
        # the wire body is the stored form (the stored form is the wire body of when it was written)
        assert json.dumps(SummarizeResponse.body(summary)) == json.dumps(STORED[kind])


def test_stored_gist_reads_back_and_serves_only_the_wanted_types() -> None:
    gist = Gist.from_record(STORED["gist"])
    assert json.dumps(gist.to_record()) == json.dumps(STORED["gist"])
    assert gist.has(("title", "topic", "hashtag"))
    only = gist.only(("hashtag", "title"))
    assert (only.title, only.topics, only.hashtags) == ("Volcano Day", None, ("#lavaflow", "#Volcano"))
    body = GistResponse.of(only).model_dump(exclude_none=True)
    assert body == {"id": "g1", "title": "Volcano Day", "hashtags": ["#lavaflow", "#Volcano"],
                    "usage": {"output_tokens": 19, "input_tokens": 891}}
    assert not Gist.from_record({**STORED["gist"], "topics": None}).has(("topic",))


def test_a_stored_output_of_another_form_is_answered_on_the_slow_path() -> None:
    outputs = {"summary": {"id": "s1", "summary": "no type, no usage"}, "gist": "not an object"}
    assert analysis_prepared._stored(outputs, "summary", Summary.from_record) is None
    assert analysis_prepared._stored(outputs, "gist", Gist.from_record) is None
    assert analysis_prepared._stored(None, "chapter", Summary.from_record) is None
    assert analysis_prepared._stored(STORED, "chapter", Summary.from_record) == Summary.from_record(STORED["chapter"])


class _Run:
    """An `Analysis` whose `stream()` replays fixed items."""

    generation_id = "g1"

    def __init__(self, *items: Any) -> None:
        self.items = items

    def stream(self) -> Iterator[Any]:
        yield from self.items


def test_the_api_shapes_the_generation_stream_into_ndjson() -> None:
    """`Analysis.stream` yields text pieces and the `Result` (or the error); the API writes the NDJSON events."""
    result = Result("g1", "Lava.", "length", 10, 3, time_to_first_token=0.12345)
    lines = [json.loads(line) for line in ndjson_events(_Run("La", "", "va.", result))]  # type: ignore[arg-type]
    assert [e["event_type"] for e in lines] == ["stream_start", "text_generation", "text_generation", "stream_end"]
    assert lines[0] == {"event_type": "stream_start", "metadata": {"generation_id": "g1"}}
    end = lines[-1]
    assert end["metadata"]["usage"] == {"output_tokens": 3, "input_tokens": 10} and end["finish_reason"] == "length"
    assert end["error"]["code"] == "max_tokens_reached" and end["time_to_first_token"] == 0.123
    for exc, code in ((InvalidParameter("prompt", "bad"), "parameter_invalid"), (RuntimeError("x"), "internal_error")):
        *_, end = [json.loads(line) for line in ndjson_events(_Run("a", exc))]  # type: ignore[arg-type]
        assert end["error"]["code"] == code and end["metadata"]["usage"] == {"output_tokens": 0, "input_tokens": 0}
