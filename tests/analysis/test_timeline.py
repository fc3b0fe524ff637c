"""Timeline building, rendering within budgets, topic boundaries, and JSON-schema repair (no model)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from framedex.config import Settings
from framedex.domain_errors import InvalidParameter
from framedex.ids import new_id
from framedex.models.base import ChatMessage
from framedex.platform import Platform
from framedex.services import analysis
from framedex.services.analysis.timeline import (
    Event,
    Timeline,
    chapter_boundaries,
    confident_labels,
    load_timeline,
    scene_spans,
    topic_boundaries,
)
from framedex.services.auth import create_key
from framedex.storage.tables import ClipFeatureRow, IndexedAssetRow
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
    assert "SEEN: beaker, test tube" in text and "sounds: glass, clink" in text.lower()
    assert "speech" not in text.lower().split("sounds:")[1]  # generic sound tags say nothing
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


def _frame(t: float, *scores: tuple[str, float, str]) -> Event:
    return Event(t, t + 1.0, "visual", ", ".join(lab for lab, _, _ in scores), tuple(scores))


def _sound(a: float, b: float, *tags: tuple[str, float]) -> Event:
    return Event(a, b, "audio", ", ".join(t for t, _ in tags), tuple((t, s, "sound") for t, s in tags))


def test_only_confident_persistent_labels_are_rendered() -> None:
    frames = [_frame(float(t), ("website", 0.8, "imagenet"), ("nematode", 0.2, "imagenet"),
                     ("tv", 0.45, "object"), ("black and white", 1.0, "attribute")) for t in range(6)]
    frames[2] = _frame(2.0, ("website", 0.8, "imagenet"), ("space shuttle", 0.9, "imagenet"),
                       ("black and white", 1.0, "attribute"))  # confident once, in one frame of six
    frames += [_frame(float(t), ("lion", 0.97, "imagenet"), ("dog", 0.99, "object"), ("brown dog", 1.0, "attribute"),
                      ("cow", 0.8, "object"), ("person", 0.7, "object"), ("two person", 1.0, "attribute"))
               for t in range(6, 10)]
    sounds = [_sound(0, 6, ("Silence", 0.99), ("Duck", 0.38), ("Stream", 0.6)),
              _sound(6, 10, ("Roaring cats (lions, tigers)", 0.7), ("Animal", 0.7), ("Goose", 0.3))]
    tl = Timeline("v", 10.0, sorted(frames + sounds, key=lambda e: e.start), cuts=[6.0])
    assert confident_labels(frames[:6]) == ["website", "black and white"]
    later = confident_labels(frames[6:])
    assert later == ["lion", "person", "two person"]
    # COCO animals the confident ImageNet animal denies ('dog' on a lion), with their colour attributes
    assert "dog" not in later and "brown dog" not in later and "cow" not in later
    text = tl.render_level(0).lower()
    for word in ("nematode", "space shuttle", "tv", "duck", "goose", "silence", "animal"):
        assert word not in text.replace("roaring cats", ""), (word, text)
    assert "website" in text and "stream" in text and "roaring cats" in text
    assert len(text.splitlines()) == 2  # one line per scene


def test_a_screen_is_not_seen_on_itself() -> None:
    """On slides and screen recordings the classifier says 'website' and the detector 'tv' for the frame itself:
    the look says it once; a real thing on the slide stays."""
    slide = [_frame(float(t), ("website", 0.9, "imagenet"), ("tv", 0.95, "object"), ("white tv", 1.0, "attribute"),
                    ("slides or document", 1.0, "attribute"), ("lion", 0.9, "imagenet")) for t in range(4)]
    assert confident_labels(slide) == ["lion", "slides or document"]
    photo = [_frame(float(t), ("tv", 0.95, "object"), ("white tv", 1.0, "attribute"), ("indoors", 1.0, "attribute"))
             for t in range(4)]
    assert confident_labels(photo) == ["tv", "white tv", "indoors"]  # a television filmed in a room is seen


def test_stored_scores_decide_what_is_confident(platform: Platform, tenant: str) -> None:
    """What ingest stores (labels/objects/attributes with scores, sound tags, OCR lines with a score) is
    read with its scores: the timeline keeps the confident part and drops noise."""
    video = insert_video(platform, tenant, duration=8)
    rows = []
    for t in range(8):
        rows.append(("visual", t, t + 1, "website, nematode, tv, black and white", {
            "labels": [["website", 0.81], ["nematode", 0.12]], "objects": [["tv", 0.45, [0, 0, 1, 1]]],
            "attributes": ["black and white"]}))
    rows.append(("audio", 0, 8, "Silence, Duck", {"tags": [["Silence", 0.99], ["Duck", 0.31]]}))
    rows.append(("ocr", 1, 7, "Optical character recognition", {"score": 0.93}))
    rows.append(("ocr", 2, 3, "|| _-", {"score": 0.9}))
    rows.append(("ocr", 2, 3, "Blurred guess", {"score": 0.2}))
    with platform.store.session() as s:
        for kind, a, b, text, data in rows:
            s.add(ClipFeatureRow(tenant_id=tenant, index_id=video.index_id, video_id=video.id, kind=kind,
                                 clip_seq=0, start=a, end=b, text=text, data=data))
    tl = _timeline(platform, video)
    assert {e.kind for e in tl.events} == {"visual", "audio", "ocr"}
    assert tl.render_level(0) == ("[0s-8s] SEEN: website; LOOK: black and white; "
                                  "TEXT ON SCREEN: Optical character recognition")


def test_events_merge_into_one_line_per_scene() -> None:
    """Three scenes of three shots each: the shots of a scene look alike, so each scene is one line with
    its on-screen text once, and chapters start where the evidence changes, not at every cut."""
    events: list[Event] = []
    cuts: list[float] = []
    looks = [[("academic gown", 0.7, "imagenet"), ("person", 0.8, "object"), ("black and white", 1.0, "attribute")],
             [("website", 0.8, "imagenet"), ("tv", 0.75, "object")],
             [("rooster", 0.9, "imagenet"), ("bird", 0.95, "object")]]
    for k, look in enumerate(looks):
        base = 20.0 * k
        if k:
            cuts.append(base)
        cuts.extend([base + 7.0, base + 13.5])
        events += [_frame(base + i, *look) for i in range(20)]
        events.append(Event(base + 2, base + 18, "ocr", f"TITLE OF PART {k + 1}"))
        events.append(Event(base + 3, base + 9, "ocr", f"TITLE OF PART {k + 1}"))
    events.append(_sound(40, 60, ("Chicken, rooster", 0.7), ("Crowing, cock-a-doodle-doo", 0.6)))
    tl = Timeline("v", 60.0, sorted(events, key=lambda e: e.start), cuts=sorted(cuts))
    assert scene_spans(tl) == [(0.0, 20.0), (20.0, 40.0), (40.0, 60.0)]
    text = tl.render_level(0)
    lines = text.splitlines()
    assert len(lines) == 3 and all(text.count(f"TITLE OF PART {k}") == 1 for k in (1, 2, 3))
    assert lines[0].startswith("[0s-20s] SEEN: person, academic gown; LOOK: black and white")
    assert "SOUNDS: chicken / rooster" in lines[2]
    assert chapter_boundaries(tl) == [20.0, 40.0]
    one_scene = Timeline("v", 60.0, [_frame(float(t), *looks[1]) for t in range(60)], cuts=sorted(cuts))
    assert chapter_boundaries(one_scene) == []  # cuts inside one scene are not chapters


def test_chapter_boundaries_follow_changes_of_labels_text_and_speech() -> None:
    duration, speech, features, cuts, truth = composite_rows(40.0)
    events = [Event(a, b, "speech", t) for a, b, t in speech] + [Event(a, b, k, t) for k, a, b, t in features]  # type: ignore[arg-type]
    tl = Timeline("v", duration, sorted(events, key=lambda e: e.start), cuts)
    assert chapter_boundaries(tl) == truth
    # clip art, one object every 4 s with its sound: every change of object is a chapter of a short video
    events = []
    objects = [("cow", "ox", "Moo"), ("bird", "rooster", "Crowing"), ("kite", "violin", "Violin, fiddle"),
               ("dog", "lion", "Roar"), ("airplane", "airliner", "Aircraft")]
    for k, (obj, label, sound) in enumerate(objects):
        events += [_frame(4.0 * k + i, (label, 0.9, "imagenet"), (obj, 0.9, "object")) for i in range(4)]
        events.append(_sound(4.0 * k, 4.0 * k + 4, (sound, 0.6)))
    tl = Timeline("v", 20.0, sorted(events, key=lambda e: e.start), cuts=[4.0, 8.0, 12.0, 16.0])
    assert chapter_boundaries(tl) == [4.0, 8.0, 12.0, 16.0]


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


def test_analyze_input_is_checked_from_the_wire_body() -> None:
    """The router builds the typed request; its checks are the API's, in its order, and /generate ignores
    response_format (never checks it)."""
    platform: Any = type("P", (), {"settings": Settings(llm_models={})})()
    with pytest.raises(InvalidParameter) as exc:  # image is checked before model_name
        analysis.AnalyzeInput.from_body(platform, {"image": "x", "model_name": "nope", "prompt": "a"})
    assert exc.value.message.startswith("The image parameter is invalid.")
    bad_schema = {"prompt": "a", "video_id": "v", "response_format": {"type": "text"}, "start_time": 2}
    with pytest.raises(InvalidParameter):
        analysis.AnalyzeInput.from_body(platform, bad_schema)
    request = analysis.AnalyzeInput.from_generate_body(platform, bad_schema)
    assert (request.prompt, request.json_schema, request.start_time, request.video_id) == ("a", None, 2, "v")
    assert (request.model_name, request.temperature, request.max_tokens) == (
        analysis.DEFAULT_MODEL, analysis.DEFAULT_TEMPERATURE, analysis.DEFAULT_MAX_TOKENS)


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
