"""Timeline building, rendering within budgets, topic boundaries, and JSON-schema repair (no model)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from framedex.config import Settings
from framedex.ids import new_id
from framedex.models.base import ChatMessage
from framedex.services import analysis
from framedex.services.auth import create_key
from framedex.services.errors import InvalidParameter
from framedex.services.platform import Platform
from framedex.services.timeline import load_timeline, topic_boundaries
from framedex.storage.tables import IndexedAssetRow
from tests.analysis.conftest import FakeLLM, composite_rows, insert_video


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Platform:
    return Platform(Settings(data_dir=tmp_path_factory.mktemp("timeline"), workers=0))


@pytest.fixture(scope="module")
def tenant(platform: Platform) -> str:
    return create_key(platform, "t")[1].tenant_id


def _timeline(platform: Platform, video: IndexedAssetRow):  # type: ignore[no-untyped-def]
    return load_timeline(platform, video)


def test_timeline_has_every_source_in_time_order(platform: Platform, tenant: str) -> None:
    video = insert_video(platform, tenant, duration=30, speech=[(1, 4, "Hello and welcome to the lab.")],
                         features=[("ocr", 2, 2, "CHEMISTRY 101"), ("ocr", 3, 3, "CHEMISTRY 101"),
                                   ("visual", 0, 0, "beaker, test tube, person"),
                                   ("visual", 2, 2, "beaker, test tube, lab coat"),
                                   ("audio", 0, 10, "Speech, Glass, Clink"), ("face", 5, 5, "")],
                         cuts=[12.0])
    tl = _timeline(platform, video)
    assert tl.duration == 30 and tl.cuts == [12.0]
    text = tl.render_level(0)
    assert "SAID: Hello and welcome to the lab." in text
    assert text.count("CHEMISTRY 101") == 1  # repeated on-screen line merged
    assert "SEEN: beaker, test tube" in text and "SOUNDS: Glass, Clink" in text
    assert "(scene change)" in text
    times = [int(line[1:].split("s")[0]) for line in text.splitlines()]
    assert times == sorted(times)
    assert tl.boundary_candidates() == [1.0, 12.0]
    assert tl.snap(10.5) == 12.0 and tl.snap(40, max_distance=5) == 40


def test_render_steps_down_to_fit_the_budget(platform: Platform, tenant: str) -> None:
    speech = [(i * 3.0, i * 3.0 + 3, f"Sentence number {i} about the history of the Roman empire.")
              for i in range(200)]
    features = [("visual", float(i), float(i), "column, temple, statue, tourist") for i in range(600)]
    video = insert_video(platform, tenant, duration=600, speech=speech, features=features,
                         cuts=[float(c) for c in range(10, 600, 10)])
    tl = _timeline(platform, video)
    full, level = tl.render(100_000)
    assert level == 0
    small, level = tl.render(2500)
    assert level > 0 and len(small) < len(full)
    assert "Sentence number 199" in small  # speech is never dropped, only merged
    window = tl.window(300, 360)
    assert window.offset == 300 and all(300 <= e.start < 360 for e in window.events)


def test_topic_boundaries_find_the_topic_changes(platform: Platform, tenant: str) -> None:
    duration, speech, features, cuts, truth = composite_rows(40.0)
    video = insert_video(platform, tenant, duration=duration, speech=speech, features=features, cuts=cuts)
    tl = _timeline(platform, video)
    found = topic_boundaries(tl, None)  # word-overlap fallback
    assert len(found) == len(truth)
    for t, f in zip(truth, found, strict=True):
        assert abs(t - f) <= 10


def test_prompt_and_schema_checks() -> None:
    with pytest.raises(InvalidParameter):
        analysis.check_prompt("word " * 3000)
    with pytest.raises(InvalidParameter):
        analysis.check_response_format({"type": "json_schema", "json_schema": {"type": "objekt"}})
    with pytest.raises(InvalidParameter):
        analysis.check_response_format({"type": "text"})
    schema = analysis.check_response_format({"type": "json_schema", "json_schema": {
        "name": "x", "schema": {"type": "object", "properties": {"a": {"type": "integer"}}}}})
    assert schema == {"type": "object", "properties": {"a": {"type": "integer"}}}
    assert analysis.check_window(None, None, 10) == (0, 10)
    with pytest.raises(InvalidParameter):
        analysis.check_window(5, 5.5, 10)
    with pytest.raises(InvalidParameter):
        analysis.check_window(0, 30, 10)


SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"title": {"type": "string", "minLength": 3},
                                      "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
                                      "score": {"type": "integer", "minimum": 1, "maximum": 5},
                                      "kind": {"enum": ["a", "b"]}, "ok": {"type": "boolean"}},
     "required": ["title", "tags", "score", "kind", "ok"], "additionalProperties": False},
    {"type": "array", "items": {"$ref": "#/$defs/item"}, "minItems": 1,
     "$defs": {"item": {"type": "object", "properties": {"n": {"type": "number", "exclusiveMinimum": 0}},
                        "required": ["n"]}}},
    {"anyOf": [{"type": "null"}, {"type": "string"}]},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_invalid_replies_are_repaired_to_valid_json(schema: dict[str, Any]) -> None:
    llm = FakeLLM(json_reply="this is not json {")
    value, gen, repaired = analysis.generate_json(llm, [ChatMessage("user", "hi")], schema, max_tokens=50,
                                                  temperature=0)
    assert repaired and analysis.schema_errors(value, schema) == []
    assert len(llm.calls) == 3 and gen.output_tokens > 0


def test_a_valid_reply_is_kept() -> None:
    llm = FakeLLM(json_reply='```json\n{"title": "Lava", "tags": ["a", "b"], "score": 3, "kind": "b", "ok": true}\n```')
    value, _gen, repaired = analysis.generate_json(llm, [ChatMessage("user", "hi")], SCHEMAS[0], max_tokens=80,
                                                   temperature=0)
    assert not repaired and value["title"] == "Lava" and len(llm.calls) == 1
    assert json.loads(json.dumps(value)) == value
    assert new_id()
