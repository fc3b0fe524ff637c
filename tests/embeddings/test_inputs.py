"""The typed requests of the v2 embeddings services (`services/embed/inputs.py`), without a server: what the
body alone decides is checked in the API's order, and what the API reports only after a source's stored
state is checked is kept in the input (deferred) for the service to raise in its turn."""

from __future__ import annotations

from typing import Any

import pytest

from framedex.domain_errors import InvalidParameter, MissingParameter, ServiceError
from framedex.services.documents import DocumentTaskOptions
from framedex.services.embed.extract import MediaPlan
from framedex.services.embed.inputs import (
    EmbedInput,
    EmbedTaskInput,
    ImageInput,
    MediaInput,
    MultiInput,
    TextInput,
    settle,
)
from framedex.services.media import MediaSource


def _error(body: dict[str, Any], kind: type[EmbedInput] | type[EmbedTaskInput] = EmbedInput) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        kind.from_body(body)
    return caught.value


def test_header_checks_come_in_the_api_order() -> None:
    assert _error({}).message == "The model_name parameter is required but was not provided."
    assert _error({"model_name": "marengo9"}).code == "model_not_supported"
    assert "input_type" in _error({"model_name": "marengo3.0"}).message
    # the dimension is checked before the missing input object
    error = _error({"model_name": "marengo3.5", "input_type": "multi_input", "embedding_dimension": 7})
    assert error.message == "The embedding_dimension parameter is invalid. Use 256 or 512."
    assert isinstance(_error({"model_name": "marengo3.5", "input_type": "multi_input"}), MissingParameter)


def test_text_input_counts_tokens_and_refuses_a_long_text() -> None:
    request = EmbedInput.from_body({"model_name": "marengo3.0", "input_type": "text",
                                    "text": {"input_text": "a dog, running"}})
    assert request.spec == TextInput("a dog, running", tokens=4)
    error = _error({"model_name": "marengo3.0", "input_type": "text", "text": {"input_text": "w " * 501}})
    assert error.code == "text_too_long"


def test_text_image_defers_its_text_until_the_source_is_checked() -> None:
    request = EmbedInput.from_body({"model_name": "marengo3.0", "input_type": "text_image",
                                    "text_image": {"media_source": {"url": "http://example.com/a.jpg"}}})
    assert isinstance(request.spec, ImageInput)
    assert request.spec.source == MediaSource(url="http://example.com/a.jpg")
    assert request.spec.text is not None
    with pytest.raises(MissingParameter, match=r"text_image\.input_text"):
        settle(request.spec.text)


def test_media_input_checks_its_plan_before_its_source() -> None:
    error = _error({"model_name": "marengo3.0", "input_type": "audio", "audio": {"embedding_option": ["x"]}})
    assert "audio.embedding_option" in error.message
    request = EmbedInput.from_body({"model_name": "marengo3.0", "input_type": "video", "video": {
        "media_source": {"asset_id": "a" * 24}, "embedding_scope": ["local", "clip"], "start_sec": 1}})
    assert isinstance(request.spec, MediaInput)
    assert request.spec.plan == MediaPlan(["visual", "audio", "transcription"], ["clip"], ["separate_embedding"],
                                          start=1.0, strategy="dynamic", seconds=4.0)


def test_multi_input_keeps_each_source_error_for_its_turn() -> None:
    request = EmbedInput.from_body({"model_name": "marengo3.5", "input_type": "multi_input", "multi_input": {
        "input_text": "<@a> on grass", "media_sources": [
            {"name": "a", "media_type": "image", "base64_string": "AAAA"}, "x", {"media_type": "video"}]}})
    spec = request.spec
    assert isinstance(spec, MultiInput)
    assert (spec.plain, spec.tokens) == ("on grass", 6)
    assert settle(spec.sources[0]).image == MediaSource(base64_string="AAAA")
    assert isinstance(spec.sources[1], InvalidParameter) and "must be an object" in spec.sources[1].message
    assert isinstance(spec.sources[2], InvalidParameter) and spec.sources[2].code == "parameter_not_supported"
    error = _error({"model_name": "marengo3.5", "input_type": "multi_input",
                    "multi_input": {"input_text": "<@cat>", "media_sources": ["x"]}})
    assert error.message == "The multi_input.input_text parameter is invalid. No media source is named 'cat'."


def test_task_input_defers_its_options_after_the_source() -> None:
    task = EmbedTaskInput.from_body({"model_name": "marengo3.0", "input_type": "video", "video": {
        "media_source": {"url": "http://example.com/v.mp4"}, "embedding_option": ["text"]}})
    with pytest.raises(InvalidParameter, match=r"video\.embedding_option"):
        settle(task.options)
    document = EmbedTaskInput.from_body({"model_name": "marengo3.5", "input_type": "document",
                                         "document": {"media_source": {"asset_id": "b" * 24}}})
    assert settle(document.options) == DocumentTaskOptions(["local", "asset"])
    error = _error({"model_name": "marengo3.0", "input_type": "audio", "audio": {}}, EmbedTaskInput)
    assert error.message == "The audio.media_source parameter is required but was not provided."


def test_a_task_row_keeps_its_source_in_the_stored_form() -> None:
    from framedex.services.embed.tasks import _source_json, _stored_source

    source = MediaSource(url="http://example.com/v.mp4")
    assert _source_json(source) == {"url": "http://example.com/v.mp4"}
    assert _source_json(MediaSource(base64_string="AAAA")) == {}  # the bytes are the task's blob
    assert _stored_source(_source_json(source)) == source
    # rows stored before the typed sources kept the request's dict as sent, less its base64 string
    assert _stored_source({"url": None, "asset_id": "c" * 24, "media_type": "video"}) == MediaSource(asset_id="c" * 24)
    assert _stored_source({"filename": "v.mp4"}) == MediaSource()
