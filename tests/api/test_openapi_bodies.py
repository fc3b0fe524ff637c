"""Every route that takes input documents its request body in the OpenAPI document.

Routes that read their multipart form by hand (`/search`, `/assets`, `/embed/tasks`) used to publish no
body at all, so a client generator or a fuzzer saw them as taking nothing. The documented fields must also
be the ones the wire accepts: the live checks at the end send a body built only from the documented
names, with the list fields repeated as OpenAPI's multipart encoding (and the SDK) does.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from framedex.api.app import create_app
from framedex.config import Settings

WRITE_METHODS = ("post", "put", "patch")
# Operations that act on the path alone: they must keep documenting no body (so this list cannot rot).
NO_INPUT = {
    ("post", "/v1.3/analyze/tasks/{task_id}/cancel"),
    ("post", "/v1.3/analyze/batches/{batch_id}/cancel"),
    ("post", "/v1.3/connections/{connection_id}/picker-token"),  # refused (data connectors); the SDK sends none
}
# The hand-read routes: the fields each media type must document, and which are required.
HAND_READ: dict[tuple[str, str], dict[str, tuple[set[str], set[str]]]] = {
    ("post", "/v1.3/search"): {
        "multipart/form-data": (
            {"index_id", "search_options", "query_text", "query_media_type", "query_media_url", "query_media_file",
             "transcription_options", "group_by", "operator", "page_limit", "filter", "include_user_metadata"},
            {"index_id", "search_options"},
        ),
        "application/json": (
            {"index_id", "search_options", "query_text", "query_media_type", "query_media_url",
             "transcription_options", "group_by", "operator", "page_limit", "filter", "include_user_metadata"},
            {"index_id", "search_options"},
        ),
    },
    ("post", "/v1.3/assets"): {
        "multipart/form-data": (
            {"method", "file", "url", "filename", "enable_hls", "enable_thumbnail", "user_metadata"}, {"method"},
        ),
    },
    ("post", "/v1.3/embed/tasks"): {
        "multipart/form-data": (
            {"model_name", "video_file", "video_url", "video_start_offset_sec", "video_end_offset_sec",
             "video_clip_length", "video_embedding_scope"},
            {"model_name"},
        ),
    },
}
FILE_PARTS = {"/v1.3/search": {"query_media_file"}, "/v1.3/assets": {"file"}, "/v1.3/embed/tasks": {"video_file"}}
REPEATED = {"/v1.3/search": {"search_options", "transcription_options", "query_media_url", "query_media_file"},
            "/v1.3/embed/tasks": {"video_embedding_scope"}}


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    app: FastAPI = create_app(Settings(data_dir=tmp_path_factory.mktemp("openapi")), start_workers=False)
    return app.openapi()


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        return dict(target)
    return schema


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in doc["paths"].items() for method, op in ops.items()
            if method in WRITE_METHODS]


def test_every_write_route_documents_a_body(openapi: dict[str, Any]) -> None:
    operations = _operations(openapi)
    assert len(operations) > 25  # the walk really covers the API, not an empty document
    missing = []
    for method, path, op in operations:
        body = op.get("requestBody")
        if (method, path) in NO_INPUT:
            assert body is None, f"{method.upper()} {path} is listed as taking no input but documents a body"
            continue
        if not body or not body.get("content"):
            missing.append(f"{method.upper()} {path}")
            continue
        for media_type, entry in body["content"].items():
            schema = _resolve(openapi, entry["schema"])
            assert schema.get("properties"), f"{method.upper()} {path} {media_type} documents no fields"
    assert missing == []
    assert NO_INPUT.issubset({(m, p) for m, p, _ in operations})


@pytest.mark.parametrize(("method", "path"), sorted(HAND_READ))
def test_hand_read_routes_document_their_fields(openapi: dict[str, Any], method: str, path: str) -> None:
    body = openapi["paths"][path][method]["requestBody"]
    assert body["required"] is True
    assert set(body["content"]) == set(HAND_READ[(method, path)])
    for media_type, (fields, required) in HAND_READ[(method, path)].items():
        schema = _resolve(openapi, body["content"][media_type]["schema"])
        assert set(schema["properties"]) == fields, media_type
        assert set(schema.get("required", [])) == required, media_type
        for name in REPEATED.get(path, set()) & fields:
            assert schema["properties"][name]["type"] == "array", f"{name} is sent once per value"
        if media_type == "multipart/form-data":
            for name in FILE_PARTS[path]:
                prop = schema["properties"][name]
                part = prop["items"] if prop.get("type") == "array" else prop
                assert part["format"] == "binary", f"{name} is a file part"


def test_documented_bodies_are_the_ones_the_wire_takes(http: httpx.Client, media: Any, tmp_path: Path) -> None:
    """Bodies made only of documented names, encoded as OpenAPI multipart does, work end to end."""
    # audio too: the search below asks for transcription, which an index without audio refuses
    index = http.post("/indexes", json={"index_name": f"openapi-bodies-{time.time()}",
                                        "models": [{"model_name": "marengo3.0", "model_options": ["visual",
                                                                                                   "audio"]}]})
    assert index.status_code == 201, index.text
    index_id = index.json()["_id"]
    image = tmp_path / "q.png"
    from PIL import Image

    Image.new("RGB", (64, 64), (200, 30, 30)).save(image)
    with image.open("rb") as first, image.open("rb") as second:
        resp = http.post("/search", data={"index_id": index_id, "search_options": ["visual", "transcription"],
                                          "transcription_options": ["lexical"], "query_media_type": "image",
                                          "page_limit": "5", "group_by": "video"},
                         files=[("query_media_file", ("a.png", first, "image/png")),
                                ("query_media_file", ("b.png", second, "image/png"))])
    assert resp.status_code == 200, resp.text
    assert resp.json()["search_pool"]["index_id"] == index_id
    resp = http.post("/search", json={"index_id": index_id, "search_options": ["visual"], "query_text": "red",
                                      "filter": {"duration": {"gte": 1}}, "operator": "and"})
    assert resp.status_code == 200, resp.text

    with media.speech_wav.open("rb") as f:
        resp = http.post("/assets", data={"method": "direct", "filename": "talk.wav", "enable_hls": "false",
                                          "user_metadata": '{"topic": "volcanoes"}'},
                         files={"file": ("speech.wav", f, "audio/wav")})
    assert resp.status_code == 201, resp.text
    assert resp.json()["filename"] == "talk.wav"

    with media.silent_video.open("rb") as f:
        resp = http.post("/embed/tasks", data={"model_name": "marengo3.0", "video_clip_length": "3",
                                               "video_embedding_scope": ["clip", "video"]},
                         files={"video_file": ("silent.mp4", f, "video/mp4")})
    assert resp.status_code == 201, resp.text
    status = http.get(f"/embed/tasks/{resp.json()['_id']}/status").json()
    assert sorted(status["video_embedding"]["metadata"]["video_embedding_scope"]) == ["clip", "video"]
