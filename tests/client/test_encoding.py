"""Request encoding and response handling, checked on the exact requests the client sends
(``httpx.MockTransport``). The live-server tests cover what the server already implements; these cover
the wire format of every endpoint, including those the server does not have yet (analysis, embeddings,
entities)."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import httpx
import pytest

from framedex import AsyncTwelveLabs, TwelveLabs
from framedex.client import types
from framedex.errors import (
    ApiError,
    BadRequestError,
    ConflictError,
    ContentTooLargeError,
    GatewayTimeoutError,
    InternalServerError,
    NotFoundError,
    ServiceUnavailableError,
    TooManyRequestsError,
    UnauthorizedError,
    UploadError,
    WaitTimeoutError,
)

from .conftest import Recorder, parse_multipart

# ------------------------------------------------------------------------------------- base URL, auth


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://h:1", "http://h:1/v1.3"),
        ("http://h:1/", "http://h:1/v1.3"),
        ("http://h:1/v1.3", "http://h:1/v1.3"),
        ("http://h:1/v1.3/", "http://h:1/v1.3"),
        ("h:1", "http://h:1/v1.3"),
    ],
)
def test_base_url_normalised(given: str, expected: str) -> None:
    with TwelveLabs(api_key="k", base_url=given) as c:
        assert c.base_url == expected


def test_base_url_and_key_from_environment(monkeypatch: pytest.MonkeyPatch, recorder: Recorder) -> None:
    monkeypatch.setenv("FRAMEDEX_BASE_URL", "http://env.host:9")
    monkeypatch.setenv("FRAMEDEX_API_KEY", "envkey")
    with TwelveLabs(transport=httpx.MockTransport(recorder.reply(httpx.Response(200, json={})))) as c:
        assert c.base_url == "http://env.host:9/v1.3"
        c.indexes.retrieve("i1")
    assert str(recorder.last.url) == "http://env.host:9/v1.3/indexes/i1"
    assert recorder.last.headers["x-api-key"] == "envkey"


def test_headers_and_no_key(recorder: Recorder) -> None:
    with TwelveLabs(base_url="http://tl.local", transport=httpx.MockTransport(recorder), headers={"X-Extra": "1"}) as c:
        c.indexes.retrieve("i1")
    assert "x-api-key" not in recorder.last.headers
    assert recorder.last.headers["x-extra"] == "1"
    assert recorder.last.headers["user-agent"].startswith("framedex-python/")


def test_in_process_and_url_are_exclusive(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        TwelveLabs(base_url="http://x", data_dir=tmp_path)


# ------------------------------------------------------------------------------------------ indexes


def test_indexes_json_bodies(mock: TwelveLabs, recorder: Recorder) -> None:
    recorder.reply(httpx.Response(201, json={"_id": "idx1"}))
    created = mock.indexes.create(index_name="my", models=[{"model_name": "marengo3.0", "model_options": ["visual"]}],
                                  addons=["thumbnail"])
    assert created.id == "idx1"
    req = recorder.last
    assert (req.method, str(req.url)) == ("POST", "http://tl.local/v1.3/indexes")
    assert req.headers["content-type"] == "application/json"
    assert req.headers["x-api-key"] == "tlk_test"
    assert recorder.json() == {"index_name": "my", "models": [{"model_name": "marengo3.0",
                                                                "model_options": ["visual"]}], "addons": ["thumbnail"]}
    mock.indexes.update("idx1", index_name="new")
    assert (recorder.last.method, recorder.last.url.path, recorder.json()) == (
        "PUT", "/v1.3/indexes/idx1", {"index_name": "new"})
    recorder.reply(httpx.Response(204))
    assert mock.indexes.delete("idx1") is None
    assert (recorder.last.method, recorder.last.url.path) == ("DELETE", "/v1.3/indexes/idx1")


def test_page_number_pager_requests_until_empty(mock: TwelveLabs, recorder: Recorder) -> None:
    recorder.reply(
        httpx.Response(200, json={"data": [{"_id": "a"}, {"_id": "b"}], "page_info": {"page": 1, "total_page": 2}}),
        httpx.Response(200, json={"data": [{"_id": "c"}], "page_info": {"page": 2, "total_page": 2}}),
        httpx.Response(200, json={"data": [], "page_info": {"page": 3}}),
    )
    pager = mock.indexes.list(page_limit=2, sort_option="asc", model_family="marengo")
    assert len(recorder.requests) == 1  # the first page is fetched eagerly
    assert [i.id for i in pager.items] == ["a", "b"] and pager.page_info and pager.page_info.total_page == 2
    assert [i.id for i in pager] == ["a", "b", "c"]
    assert [r.url.params["page"] for r in recorder.requests] == ["1", "2", "3"]
    assert recorder.query(0) == [("page", "1"), ("page_limit", "2"), ("sort_option", "asc"),
                                 ("model_family", "marengo")]


def test_pager_error_on_later_page_is_typed(mock: TwelveLabs, recorder: Recorder) -> None:
    recorder.reply(
        httpx.Response(200, json={"data": [{"_id": "a"}]}),
        httpx.Response(400, json={"code": "parameter_invalid", "message": "page out of range"}),
    )
    pager = mock.indexes.list()
    with pytest.raises(BadRequestError) as err:
        list(pager)
    assert err.value.code == "parameter_invalid"


def test_deep_object_and_repeated_query(mock: TwelveLabs, recorder: Recorder) -> None:
    recorder.default = {"data": []}
    list(mock.indexes.indexed_assets.list("idx1", status=["ready", "indexing"], duration={"gte": 1, "lte": 20},
                                          width=1920, user_metadata={"k": "v", "flag": True}))
    assert recorder.query() == [
        ("page", "1"), ("status", "ready"), ("status", "indexing"), ("duration[gte]", "1"), ("duration[lte]", "20"),
        ("width", "1920"), ("user_metadata[k]", "v"), ("user_metadata[flag]", "true"),
    ]
    list(mock.indexes.videos.list("idx1", page_limit=5, fps={"gte": 24.5}, user_metadata={"category": "news"}))
    assert recorder.last.url.path == "/v1.3/indexes/idx1/videos"
    assert recorder.query() == [("page", "1"), ("page_limit", "5"), ("fps[gte]", "24.5"),
                                ("user_metadata[category]", "news")]
    mock.indexes.videos.retrieve("idx1", "v1", embedding_option=["visual", "audio"], transcription=True)
    assert recorder.query() == [("embedding_option", "visual"), ("embedding_option", "audio"),
                                ("transcription", "true")]
    mock.assets.delete("as1", force=True)
    assert (recorder.last.method, recorder.query()) == ("DELETE", [("force", "true")])
    list(mock.assets.list(asset_ids=["a1", "a2"], asset_types=["video", "audio"], filename="x"))
    assert recorder.query() == [("page", "1"), ("asset_ids", "a1"), ("asset_ids", "a2"), ("asset_types", "video"),
                                ("asset_types", "audio"), ("filename", "x")]


def test_metadata_updates(mock: TwelveLabs, recorder: Recorder) -> None:
    mock.indexes.videos.update("i", "v", user_metadata={"a": 1, "b": None})
    assert (recorder.last.method, recorder.json()) == ("PATCH", {"user_metadata": {"a": 1, "b": None}})
    mock.indexes.indexed_assets.update("i", "v", user_metadata={"a": 2})
    assert recorder.last.url.path == "/v1.3/indexes/i/indexed-assets/v"
    mock.assets.replace_user_metadata("as1", user_metadata={"x": "y"})
    assert (recorder.last.method, recorder.last.url.path) == ("PUT", "/v1.3/assets/as1/user-metadata")
    mock.assets.update_user_metadata("as1", user_metadata={"x": None})
    assert (recorder.last.method, recorder.json()) == ("PATCH", {"user_metadata": {"x": None}})
    mock.assets.delete_user_metadata("as1")
    assert recorder.last.method == "DELETE" and recorder.last.content == b""
    recorder.reply(httpx.Response(202, json={"_id": "ia1", "asset_id": "as1"}))
    created = mock.indexes.indexed_assets.create("i", asset_id="as1", enable_video_stream=True,
                                                 user_metadata={"k": "v"})
    assert created.id == "ia1"
    assert recorder.json() == {"asset_id": "as1", "enable_video_stream": True, "user_metadata": {"k": "v"}}


def test_ids_are_escaped_in_paths(mock: TwelveLabs, recorder: Recorder) -> None:
    mock.indexes.retrieve("a/b c")
    assert recorder.last.url.raw_path == b"/v1.3/indexes/a%2Fb%20c"
    with pytest.raises(ValueError):
        mock.indexes.retrieve("")


# ---------------------------------------------------------------------------------------- multipart


def test_task_create_multipart_from_url(mock: TwelveLabs, recorder: Recorder) -> None:
    recorder.reply(httpx.Response(201, json={"_id": "t1", "video_id": "v1"}))
    task = mock.tasks.create(index_id="idx1", video_url="https://x/v.mp4", enable_video_stream=True,
                             user_metadata={"a": 1})
    assert (task.id, task.video_id, task.index_id) == ("t1", "v1", "idx1")
    parts = parse_multipart(recorder.last)
    assert [(p.name, p.filename, p.text) for p in parts] == [
        ("index_id", None, "idx1"), ("video_url", None, "https://x/v.mp4"), ("enable_video_stream", None, "true"),
        ("user_metadata", None, '{"a": 1}'),
    ]


@pytest.mark.parametrize("kind", ["path", "str", "fileobj", "bytes", "tuple"])
def test_task_create_file_inputs(mock: TwelveLabs, recorder: Recorder, tmp_path: Path, kind: str) -> None:
    content = b"\x00\x01fakevideo" * 1000
    path = tmp_path / "v.mp4"
    path.write_bytes(content)
    recorder.default = {"_id": "t1", "video_id": "v1"}
    if kind == "path":
        mock.tasks.create(index_id="idx1", video_file=path)
    elif kind == "str":
        mock.tasks.create(index_id="idx1", video_file=str(path))
    elif kind == "fileobj":
        with path.open("rb") as fh:
            mock.tasks.create(index_id="idx1", video_file=fh)
    elif kind == "bytes":
        mock.tasks.create(index_id="idx1", video_file=content)
    else:
        mock.tasks.create(index_id="idx1", video_file=("clip.mov", io.BytesIO(content), "video/quicktime"))
    index_part, file_part = parse_multipart(recorder.last)
    assert (index_part.name, index_part.text) == ("index_id", "idx1")
    assert file_part.name == "video_file" and file_part.data == content
    expected = {
        "path": ("v.mp4", "video/mp4"), "str": ("v.mp4", "video/mp4"), "fileobj": ("v.mp4", "video/mp4"),
        "bytes": ("upload", "application/octet-stream"), "tuple": ("clip.mov", "video/quicktime"),
    }[kind]
    assert (file_part.filename, file_part.content_type) == expected


def test_task_create_needs_a_source(mock: TwelveLabs) -> None:
    with pytest.raises(ValueError):
        mock.tasks.create(index_id="idx1")
    with pytest.raises(FileNotFoundError):
        mock.tasks.create(index_id="idx1", video_file="/no/such/file.mp4")


def test_asset_create_multipart(mock: TwelveLabs, recorder: Recorder) -> None:
    recorder.default = {"_id": "as1", "status": "processing", "created_at": "2025-01-01T00:00:00Z"}
    asset = mock.assets.create(url="https://x/v.mp4", filename="v.mp4", enable_hls=True, enable_thumbnail=False,
                               user_metadata={"a": 1})
    assert asset.id == "as1" and asset.created_at is not None and asset.created_at.year == 2025
    assert [(p.name, p.text) for p in parse_multipart(recorder.last)] == [
        ("method", "url"), ("url", "https://x/v.mp4"), ("filename", "v.mp4"), ("enable_hls", "true"),
        ("enable_thumbnail", "false"), ("user_metadata", '{"a": 1}'),
    ]
    mock.assets.create(file=("v.mp4", b"data"))
    method, file = parse_multipart(recorder.last)
    assert (method.name, method.text) == ("method", "direct")
    assert (file.name, file.filename, file.content_type, file.data) == ("file", "v.mp4", "video/mp4", b"data")


def test_search_create_multipart(mock: TwelveLabs, recorder: Recorder) -> None:
    recorder.default = {"data": [{"start": 1.0, "end": 5.0, "video_id": "v1", "rank": 1}],
                        "page_info": {"limit_per_page": 1, "total_results": 2, "next_page_token": "tok2"},
                        "search_pool": {"total_count": 3, "index_id": "idx1"}}
    page = mock.search.create(index_id="idx1", query_text="a dog",
                              search_options=["visual", "audio", "transcription"],
                              transcription_options=["lexical", "semantic"], group_by="clip", operator="or",
                              page_limit=10, filter={"duration": {"gte": 5}}, include_user_metadata=True)
    assert page.data and page.data[0].video_id == "v1" and page.search_pool and page.search_pool.total_count == 3
    assert recorder.last.url.path == "/v1.3/search"
    assert [(p.name, p.text) for p in parse_multipart(recorder.last)] == [
        ("query_text", "a dog"), ("index_id", "idx1"), ("search_options", "visual"), ("search_options", "audio"),
        ("search_options", "transcription"), ("transcription_options", "lexical"),
        ("transcription_options", "semantic"), ("group_by", "clip"), ("operator", "or"), ("page_limit", "10"),
        ("filter", '{"duration": {"gte": 5}}'), ("include_user_metadata", "true"),
    ]
    # a string filter is sent as given; media queries default query_media_type to image
    mock.search.create(index_id="idx1", search_options=["visual"], filter='{"id": ["v1"]}',
                       query_media_urls=["https://a/1.jpg", "https://a/2.jpg"],
                       query_media_files=[b"jpg1", ("q.png", b"png")])
    parts = parse_multipart(recorder.last)
    assert [(p.name, p.filename, p.data) for p in parts] == [
        ("query_media_type", None, b"image"), ("query_media_url", None, b"https://a/1.jpg"),
        ("query_media_url", None, b"https://a/2.jpg"), ("index_id", None, b"idx1"),
        ("search_options", None, b"visual"), ("filter", None, b'{"id": ["v1"]}'),
        ("query_media_file", "upload", b"jpg1"), ("query_media_file", "q.png", b"png"),
    ]


def test_search_query_follows_page_tokens(mock: TwelveLabs, recorder: Recorder) -> None:
    def page(items: list[str], nxt: str | None) -> httpx.Response:
        return httpx.Response(200, json={"data": [{"video_id": v, "start": 0, "end": 1} for v in items],
                                         "page_info": {"next_page_token": nxt}})

    recorder.reply(page(["a", "b"], "tok2"), page(["c"], "tok3"), page(["d"], None))
    pager = mock.search.query(index_id="idx1", query_text="dog", search_options=["visual"], page_limit=2,
                              include_user_metadata=True)
    assert [h.video_id for h in pager.items] == ["a", "b"]
    assert [h.video_id for h in pager] == ["a", "b", "c", "d"]
    assert [(r.method, r.url.path) for r in recorder.requests] == [
        ("POST", "/v1.3/search"), ("GET", "/v1.3/search/tok2"), ("GET", "/v1.3/search/tok3")]
    assert recorder.query(1) == [("include_user_metadata", "true")]
    # errors on a follow-up page are raised (the official SDK silently stops)
    recorder.reply(page(["a"], "gone"), httpx.Response(410, json={"code": "token_expired", "message": "expired"}))
    with pytest.raises(ApiError) as err:
        list(mock.search.query(index_id="idx1", query_text="dog", search_options=["visual"]))
    assert err.value.status_code == 410 and err.value.code == "token_expired"


def test_search_retrieve(mock: TwelveLabs, recorder: Recorder) -> None:
    recorder.default = {"data": [], "page_info": {"prev_page_token": "tok1"}}
    res = mock.search.retrieve("tok2", include_user_metadata=True)
    assert res.page_info and res.page_info.prev_page_token == "tok1"
    assert str(recorder.last.url) == "http://tl.local/v1.3/search/tok2?include_user_metadata=true"


def test_embed_v1_multipart(mock: TwelveLabs, recorder: Recorder) -> None:
    recorder.default = {"model_name": "marengo3.0", "text_embedding": {"segments": [{"float": [0.1, 0.2]}]}}
    res = mock.embed.create(model_name="marengo3.0", text="hello")
    assert res.text_embedding and res.text_embedding.segments
    assert res.text_embedding.segments[0].float_ == [0.1, 0.2]
    assert [(p.name, p.text) for p in parse_multipart(recorder.last)] == [("model_name", "marengo3.0"),
                                                                          ("text", "hello")]
    mock.embed.create(model_name="marengo3.0", image_file=("a.jpg", b"jpg"), audio_url="https://x/a.wav",
                      audio_start_offset_sec=1.5)
    assert [(p.name, p.filename, p.content_type, p.data) for p in parse_multipart(recorder.last)] == [
        ("model_name", None, None, b"marengo3.0"), ("audio_url", None, None, b"https://x/a.wav"),
        ("audio_start_offset_sec", None, None, b"1.5"), ("image_file", "a.jpg", "image/jpeg", b"jpg"),
    ]


def test_embed_v1_tasks(mock: TwelveLabs, recorder: Recorder) -> None:
    recorder.reply(httpx.Response(200, json={"_id": "e1"}))
    created = mock.embed.tasks.create(model_name="marengo3.0", video_url="https://x/v.mp4", video_start_offset_sec=0,
                                      video_end_offset_sec=10, video_clip_length=6,
                                      video_embedding_scope=["clip", "video"])
    assert created.id == "e1"
    assert [(p.name, p.text) for p in parse_multipart(recorder.last)] == [
        ("model_name", "marengo3.0"), ("video_url", "https://x/v.mp4"), ("video_start_offset_sec", "0"),
        ("video_end_offset_sec", "10"), ("video_clip_length", "6"), ("video_embedding_scope", "clip"),
        ("video_embedding_scope", "video"),
    ]
    recorder.default = {"_id": "e1", "status": "ready", "video_embedding": {"segments": [
        {"float": [1.0], "start_offset_sec": 0, "end_offset_sec": 6, "embedding_scope": "clip"}]}}
    task = mock.embed.tasks.retrieve("e1", embedding_option=["visual", "audio"])
    assert task.video_embedding and task.video_embedding.segments and task.video_embedding.segments[0].float_ == [1.0]
    assert str(recorder.last.url) == (
        "http://tl.local/v1.3/embed/tasks/e1?embedding_option=visual&embedding_option=audio")
    recorder.reply(httpx.Response(200, json={"_id": "e1", "status": "processing"}),
                   httpx.Response(200, json={"_id": "e1", "status": "ready"}))
    seen: list[str | None] = []
    done = mock.embed.tasks.wait_for_done("e1", sleep_interval=0.01, callback=lambda t: seen.append(t.status))
    assert done.status == "ready" and seen == ["processing", "ready"]
    assert recorder.requests[-1].url.path == "/v1.3/embed/tasks/e1/status"
    recorder.default = {"data": []}
    list(mock.embed.tasks.list(started_at="2024-01-01T00:00:00Z", status="ready"))
    assert recorder.query() == [("page", "1"), ("started_at", "2024-01-01T00:00:00Z"), ("status", "ready")]


def test_embed_v2_json(mock: TwelveLabs, recorder: Recorder) -> None:
    recorder.default = {"data": [{"embedding": [0.5, 0.25], "embedding_option": "text"}],
                        "usage": {"input_tokens": {"text": 2}, "truncated": False}}
    res = mock.embed.v_2.create(input_type="text", model_name="marengo3.0", text="a dog")
    assert res.data and res.data[0].embedding == [0.5, 0.25]
    assert recorder.last.url.path == "/v1.3/embed-v2"
    assert recorder.json() == {"input_type": "text", "model_name": "marengo3.0", "text": {"input_text": "a dog"}}
    recorder.reply(httpx.Response(413, json={"error": {"code": "payload_too_large", "message": "too big"}}))
    with pytest.raises(ContentTooLargeError) as err:
        mock.embed.v_2.create(input_type="video", model_name="marengo3.0",
                              video={"media_source": {"url": "https://x/v.mp4"}})
    assert (err.value.code, err.value.message) == ("payload_too_large", "too big")
    recorder.reply(httpx.Response(200, json={"_id": "t2", "status": "processing"}))
    task = mock.embed.v_2.tasks.create(input_type="video", model_name="marengo3.0",
                                       video={"media_source": {"asset_id": "as1"}})
    assert task.id == "t2" and recorder.last.url.path == "/v1.3/embed-v2/tasks"
    assert recorder.json() == {"input_type": "video", "model_name": "marengo3.0",
                               "video": {"media_source": {"asset_id": "as1"}}}
    mock.embed.v_2.tasks.retrieve("t2")
    assert recorder.last.url.path == "/v1.3/embed-v2/tasks/t2"
    recorder.default = {"data": []}
    list(mock.embed.v_2.tasks.list(status="ready", page_limit=5))
    assert recorder.query() == [("page", "1"), ("status", "ready"), ("page_limit", "5")]


# ------------------------------------------------------------------------------------------- analyze


def test_analyze_json(mock: TwelveLabs, recorder: Recorder) -> None:
    recorder.default = {"id": "g1", "data": "Hello world", "finish_reason": "stop", "usage": {"output_tokens": 2}}
    res = mock.analyze(video={"type": "asset_id", "asset_id": "as1"}, prompt="Summarize", temperature=0.2,
                       response_format={"type": "json_schema", "json_schema": {"type": "object"}}, max_tokens=512)
    assert (res.id, res.data, res.usage and res.usage.output_tokens) == ("g1", "Hello world", 2)
    assert recorder.json() == {"video": {"type": "asset_id", "asset_id": "as1"}, "prompt": "Summarize",
                               "temperature": 0.2,
                               "response_format": {"type": "json_schema", "json_schema": {"type": "object"}},
                               "max_tokens": 512, "stream": False}
    mock.analyze(video_id="v1", prompt="p")
    assert recorder.json() == {"video_id": "v1", "prompt": "p", "stream": False}
    with pytest.raises(ValueError):
        mock.analyze(video_id="v1", video={"type": "url", "url": "u"}, prompt="p")


def test_analyze_stream_ndjson(mock: TwelveLabs, recorder: Recorder) -> None:
    lines = [
        {"event_type": "stream_start", "metadata": {"generation_id": "g1"}},
        {"event_type": "text_generation", "text": "Hello "},
        "data: {\"event_type\": \"text_generation\", \"text\": \"dropped\"}",
        {"event_type": "unknown_event"},
        {"event_type": "text_generation", "text": "world"},
        {"event_type": "stream_end", "finish_reason": "stop",
         "metadata": {"generation_id": "g1", "usage": {"output_tokens": 2}}},
    ]
    body = "\r\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    recorder.reply(httpx.Response(200, content=body.encode(), headers={"content-type": "application/x-ndjson"}))
    with mock.analyze_stream(video={"type": "url", "url": "https://x/v.mp4"}, prompt="Summarize",
                             model_name="pegasus1.5") as stream:
        events = list(stream)
    assert recorder.json()["stream"] is True and recorder.json()["model_name"] == "pegasus1.5"
    assert [type(e).__name__ for e in events] == ["StreamStart", "TextGeneration", "TextGeneration", "StreamEnd"]
    text = "".join(e.text or "" for e in events if isinstance(e, types.TextGeneration))
    assert text == "Hello world"
    end = events[-1]
    assert isinstance(end, types.StreamEnd) and end.metadata and end.metadata.usage
    assert end.metadata.usage.output_tokens == 2
    recorder.reply(httpx.Response(400, json={"code": "parameter_invalid", "message": "bad prompt"}))
    with pytest.raises(BadRequestError):
        mock.analyze_stream(video_id="v1", prompt="")


def test_legacy_generation_endpoints(mock: TwelveLabs, recorder: Recorder) -> None:
    recorder.reply(httpx.Response(200, json={"summarize_type": "chapter", "id": "s1", "chapters": [
        {"chapter_number": 0, "start_sec": 0.0, "end_sec": 4.5, "chapter_title": "Intro"}]}))
    res = mock.summarize(video_id="v1", type="chapter", prompt="short")
    assert res.chapters and res.chapters[0].chapter_title == "Intro" and res.chapters[0].end_sec == 4.5
    assert (recorder.last.url.path, recorder.json()) == (
        "/v1.3/summarize", {"video_id": "v1", "prompt": "short", "type": "chapter"})
    recorder.reply(httpx.Response(200, json={"id": "g", "title": "T", "topics": ["a"], "hashtags": ["#a"]}))
    gist = mock.gist(video_id="v1", types=["title", "topic", "hashtag"])
    assert gist.title == "T" and gist.hashtags == ["#a"]
    assert recorder.json() == {"video_id": "v1", "types": ["title", "topic", "hashtag"]}
    recorder.reply(httpx.Response(200, json={"id": "g2", "data": "text"}))
    assert mock.generate(video_id="v1", prompt="p", temperature=0.1).data == "text"
    assert (recorder.last.url.path, recorder.json()) == (
        "/v1.3/generate", {"video_id": "v1", "prompt": "p", "temperature": 0.1, "stream": False})


def test_analyze_async_tasks_and_batches(mock: TwelveLabs, recorder: Recorder) -> None:
    recorder.reply(httpx.Response(201, json={"task_id": "at1", "status": "queued"}))
    created = mock.analyze_async.tasks.create(video={"type": "asset_id", "asset_id": "as1"}, prompt="x",
                                              model_name="pegasus1.5", custom_id="c-1", max_tokens=1024)
    assert (created.task_id, created.status) == ("at1", "queued")
    assert recorder.json() == {"video": {"type": "asset_id", "asset_id": "as1"}, "prompt": "x",
                               "model_name": "pegasus1.5", "custom_id": "c-1", "max_tokens": 1024}
    recorder.reply(httpx.Response(200, json={"data": [{"task_id": "at1", "status": "ready"}], "page_info": {}}))
    listed = mock.analyze_async.tasks.list(page=1, status="ready")
    assert listed.data and listed.data[0].task_id == "at1"
    assert recorder.query() == [("page", "1"), ("status", "ready")]
    recorder.reply(httpx.Response(200, json={"task_id": "at1", "status": "canceled"}))
    assert mock.analyze_async.tasks.cancel("at1").status == "canceled"
    assert (recorder.last.method, recorder.last.url.path) == ("POST", "/v1.3/analyze/tasks/at1/cancel")
    recorder.reply(httpx.Response(409, json={"code": "task_not_cancelable", "message": "done"}))
    with pytest.raises(ConflictError):
        mock.analyze_async.tasks.delete("at1")

    recorder.reply(httpx.Response(201, json={"batch_id": "b1", "status": "pending", "total_items": 1,
                                             "items": [{"task_id": "at2", "custom_id": "x"}]}))
    batch = mock.analyze_async.batches.create(
        requests=[{"video": {"type": "asset_id", "asset_id": "as1"}, "custom_id": "x"}],
        defaults={"prompt": {"input_text": "Describe"}})
    assert batch.items and batch.items[0].task_id == "at2"
    assert recorder.json() == {"model_name": "pegasus1.5", "analysis_mode": "general",
                               "defaults": {"prompt": {"input_text": "Describe"}},
                               "requests": [{"video": {"type": "asset_id", "asset_id": "as1"}, "custom_id": "x"}]}
    results = "\n".join([json.dumps({"task_id": "at2", "status": "ready", "data": {"generation_id": "g",
                                                                                   "data": "hi"}}),
                         "not json", json.dumps({"task_id": "at3", "status": "failed",
                                                 "error": {"message": "boom"}})])
    recorder.reply(httpx.Response(200, content=results.encode(), headers={"content-type": "application/jsonl"}))
    items = list(mock.analyze_async.batches.results("b1"))
    assert [(i.task_id, i.status) for i in items] == [("at2", "ready"), ("at3", "failed")]
    assert items[0].data and items[0].data.data == "hi"
    recorder.reply(httpx.Response(503, json={"error": {"code": "service_unavailable", "message": "busy"}}))
    with pytest.raises(ServiceUnavailableError) as err:
        mock.analyze_async.batches.create(requests=[])
    assert err.value.code == "service_unavailable"
    recorder.default = {"data": []}
    list(mock.analyze_async.batches.list(status=["pending", "completed"]))
    assert recorder.query() == [("page", "1"), ("status", "pending"), ("status", "completed")]


# ------------------------------------------------------------------------------------------ entities


def test_entity_collections_and_entities(mock: TwelveLabs, recorder: Recorder) -> None:
    recorder.reply(httpx.Response(201, json={"_id": "ec1", "name": "people"}))
    ec = mock.entity_collections.create(name="people", description="d")
    assert ec.id == "ec1" and recorder.json() == {"name": "people", "description": "d"}
    recorder.reply(httpx.Response(200, json={"_id": "ec1", "name": "renamed"}))
    assert mock.entity_collections.update("ec1", name="renamed").name == "renamed"
    assert (recorder.last.method, recorder.json()) == ("PATCH", {"name": "renamed"})
    recorder.reply(httpx.Response(201, json={"_id": "e1", "asset_ids": ["a1"], "status": "processing"}))
    entity = mock.entity_collections.entities.create("ec1", name="Ann", asset_ids=["a1"], metadata={"role": "host"})
    assert entity.id == "e1" and entity.asset_ids == ["a1"]
    assert recorder.last.url.path == "/v1.3/entity-collections/ec1/entities"
    assert recorder.json() == {"name": "Ann", "metadata": {"role": "host"}, "asset_ids": ["a1"]}
    recorder.reply(httpx.Response(200, json={"_id": "e1", "asset_ids": []}))
    updated = mock.entity_collections.entities.delete_assets("ec1", "e1", asset_ids=["a1"])
    assert updated.asset_ids == []
    assert (recorder.last.method, recorder.last.url.path, recorder.json()) == (
        "DELETE", "/v1.3/entity-collections/ec1/entities/e1/assets", {"asset_ids": ["a1"]})
    mock.entity_collections.entities.create_assets("ec1", "e1", asset_ids=["a2"])
    assert (recorder.last.method, recorder.json()) == ("POST", {"asset_ids": ["a2"]})
    recorder.reply(httpx.Response(200, json={"success_count": 1, "failed_count": 0,
                                             "entities": [{"_id": "e2", "name": "Bo"}]}))
    bulk = mock.entity_collections.entities.create_bulk("ec1", entities=[{"name": "Bo", "asset_ids": ["a3"]}])
    assert bulk.entities and bulk.entities[0].id == "e2"
    assert recorder.last.url.path == "/v1.3/entity-collections/ec1/entities/bulk"
    recorder.default = {"data": []}
    list(mock.entity_collections.entities.list("ec1", status="ready", sort_by="name"))
    assert recorder.query() == [("page", "1"), ("status", "ready"), ("sort_by", "name")]
    list(mock.entity_collections.entities.list_by_asset("a1"))
    assert recorder.last.url.path == "/v1.3/assets/a1/entities"
    list(mock.entity_collections.list(name="people"))
    assert recorder.last.url.path == "/v1.3/entity-collections"


# ------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "cls"),
    [(400, BadRequestError), (401, UnauthorizedError), (404, NotFoundError), (409, ConflictError),
     (413, ContentTooLargeError), (429, TooManyRequestsError), (500, InternalServerError),
     (503, ServiceUnavailableError), (504, GatewayTimeoutError), (418, ApiError), (502, ApiError)],
)
def test_error_mapping(mock: TwelveLabs, recorder: Recorder, status: int, cls: type[ApiError]) -> None:
    recorder.reply(httpx.Response(status, json={"code": "some_code", "message": "some message"}))
    with pytest.raises(cls) as err:
        mock.indexes.retrieve("i1")
    assert type(err.value) is cls
    assert (err.value.status_code, err.value.code, err.value.message) == (status, "some_code", "some message")
    assert err.value.body == {"code": "some_code", "message": "some message"}
    assert "some_code" in str(err.value)


def test_error_bodies_of_every_shape(mock: TwelveLabs, recorder: Recorder) -> None:
    recorder.reply(
        httpx.Response(504, json={"error": {"code": "timeout", "message": "slow", "details": {"a": 1}}}),
        httpx.Response(422, json={"detail": [{"msg": "field required", "loc": ["body", "x"]}]}),
        httpx.Response(502, text="<html>Bad gateway</html>"),
        httpx.Response(200, text="not json"),
    )
    with pytest.raises(GatewayTimeoutError) as e1:
        mock.indexes.retrieve("i1")
    assert (e1.value.code, e1.value.message) == ("timeout", "slow")
    with pytest.raises(ApiError) as e2:
        mock.indexes.retrieve("i1")
    assert e2.value.status_code == 422 and e2.value.message == "field required"
    with pytest.raises(ApiError) as e3:
        mock.indexes.retrieve("i1")
    assert e3.value.body == "<html>Bad gateway</html>" and e3.value.code is None
    with pytest.raises(ApiError) as e4:
        mock.indexes.retrieve("i1")
    assert e4.value.status_code == 200 and e4.value.body == "not json"


def test_no_retries_by_default(mock: TwelveLabs, recorder: Recorder) -> None:
    recorder.reply(httpx.Response(503, json={"code": "busy", "message": "later"}))
    with pytest.raises(ServiceUnavailableError):
        mock.indexes.retrieve("i1")
    assert len(recorder.requests) == 1


def test_retries_with_backoff(recorder: Recorder, tmp_path: Path) -> None:
    recorder.reply(
        httpx.Response(429, json={"code": "too_many_requests"}, headers={"retry-after": "0"}),
        httpx.Response(500, json={"code": "internal_error"}, headers={"retry-after-ms": "1"}),
        httpx.Response(201, json={"_id": "t1", "video_id": "v1"}),
    )
    video = tmp_path / "v.mp4"
    video.write_bytes(b"x" * 5000)
    with TwelveLabs(api_key="k", base_url="http://tl.local", transport=httpx.MockTransport(recorder),
                    max_retries=2) as c, video.open("rb") as fh:
        task = c.tasks.create(index_id="i", video_file=fh)
    assert task.id == "t1" and len(recorder.requests) == 3
    # every attempt sent the whole file again
    assert all(parse_multipart(r)[1].data == b"x" * 5000 for r in recorder.requests)
    recorder.reply(*(httpx.Response(503, json={}, headers={"retry-after": "0"}) for _ in range(3)))
    with TwelveLabs(api_key="k", base_url="http://tl.local", transport=httpx.MockTransport(recorder),
                    max_retries=1) as c, pytest.raises(ServiceUnavailableError):
        c.indexes.retrieve("i1")
    assert len(recorder.requests) == 5


# ------------------------------------------------------------------------------------------ polling


def test_task_wait_for_done(mock: TwelveLabs, recorder: Recorder) -> None:
    recorder.reply(
        httpx.Response(201, json={"_id": "t1", "video_id": "v1"}),
        httpx.Response(200, json={"_id": "t1", "status": "indexing", "index_id": "i"}),
        httpx.Response(503, json={"code": "busy"}),  # transient errors are polled through
        httpx.Response(200, json={"_id": "t1", "status": "ready", "index_id": "i", "video_id": "v1"}),
    )
    task = mock.tasks.create(index_id="i", video_url="https://x/v.mp4")
    seen: list[str | None] = []
    final = task.wait_for_done(sleep_interval=0.01, callback=lambda t: seen.append(t.status))
    assert final is task and task.status == "ready" and task.done and seen == ["indexing", "ready"]
    assert [r.url.path for r in recorder.requests[1:]] == ["/v1.3/tasks/t1"] * 3
    recorder.reply(httpx.Response(404, json={"code": "resource_not_exists", "message": "gone"}))
    with pytest.raises(NotFoundError):
        mock.tasks.wait_for_done("t1", sleep_interval=0.01)
    recorder.default = {"_id": "t1", "status": "indexing"}
    with pytest.raises(WaitTimeoutError) as err:
        mock.tasks.wait_for_done("t1", sleep_interval=0.01, timeout=0.05)
    assert isinstance(err.value, TimeoutError) and err.value.last is not None


def test_unbound_task_cannot_wait() -> None:
    with pytest.raises(RuntimeError):
        types.Task.model_validate({"_id": "t1"}).wait_for_done()


def test_models_keep_extra_fields_and_wire_names() -> None:
    task = types.Task.model_validate({"_id": "t1", "status": "ready", "brand_new": 1})
    assert task.id == "t1" and task.model_extra == {"brand_new": 1}
    assert task.model_dump(by_alias=True, exclude_none=True) == {"_id": "t1", "status": "ready", "brand_new": 1}


# ---------------------------------------------------------------------------------- multipart upload


def test_upload_file_chunks(recorder: Recorder, tmp_path: Path) -> None:
    source = tmp_path / "big.mp4"
    content = bytes(range(256)) * 40  # 10240 bytes -> 3 chunks of 4096
    source.write_bytes(content)
    chunks: dict[int, bytes] = {}
    reports: list[list[dict[str, object]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "POST" and path == "/v1.3/assets/multipart-uploads":
            return httpx.Response(201, json={
                "upload_id": "up1", "asset_id": "as1", "chunk_size": 4096, "total_chunks": 3,
                # only the first URL is given: the client must ask for the others
                "upload_urls": [{"chunk_index": 1, "url": "http://tl.local/put/1"}],
            })
        if path == "/v1.3/assets/multipart-uploads/up1/presigned-urls":
            body = json.loads(request.content)
            return httpx.Response(200, json={"upload_urls": [
                {"chunk_index": i, "url": f"https://storage.example/put/{i}"}
                for i in range(body["start"], body["start"] + body["count"])]})
        if request.method == "PUT":
            assert "x-api-key" not in request.headers  # chunk URLs never get the API key
            assert request.headers["content-type"] == "application/octet-stream"
            index = int(path.rsplit("/", 1)[1])
            chunks[index] = request.content
            return httpx.Response(200, headers={"ETag": f'"etag-{index}"'})
        if path == "/v1.3/assets/multipart-uploads/up1":
            reports.append(json.loads(request.content)["completed_chunks"])
            done = sum(len(r) for r in reports) == 3
            return httpx.Response(200, json={"url": "http://tl.local/v1.3/assets/as1" if done else "",
                                             "asset_id": "as1"})
        raise AssertionError(f"unexpected {request.method} {request.url}")

    recorder.handler = handler
    progress: list[float] = []
    with TwelveLabs(api_key="k", base_url="http://tl.local", transport=httpx.MockTransport(recorder)) as c:
        # the chunks for another origin go through a separate client: route it to the mock as well
        c._http._external = httpx.Client(transport=httpx.MockTransport(recorder))
        result = c.multipart_upload.upload_file(source, batch_size=2, max_workers=2,
                                                progress_callback=lambda p: progress.append(p.percentage))
    assert result.asset_id == "as1" and result.asset_url == "http://tl.local/v1.3/assets/as1"
    assert b"".join(chunks[i] for i in (1, 2, 3)) == content
    assert [[c["chunk_index"] for c in r] for r in reports] == [[1, 2], [3]]
    assert reports[0][0] == {"chunk_index": 1, "proof": "etag-1", "proof_type": "etag", "chunk_size": 4096}
    assert progress == pytest.approx([200 / 3, 100.0])
    create = json.loads(recorder.requests[0].content)
    assert create == {"filename": "big.mp4", "type": "video", "total_size": 10240}


def test_upload_file_needs_etag(recorder: Recorder, tmp_path: Path) -> None:
    source = tmp_path / "v.mp4"
    source.write_bytes(b"abc")

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            return httpx.Response(200)
        return httpx.Response(201, json={"upload_id": "up1", "chunk_size": 10, "upload_urls": [
            {"chunk_index": 1, "url": "http://tl.local/put/1"}]})

    recorder.handler = handler
    with TwelveLabs(api_key="k", base_url="http://tl.local", transport=httpx.MockTransport(recorder)) as c, \
            pytest.raises(UploadError):
        c.multipart_upload.upload_file(source)


# ----------------------------------------------------------------------------------------------- async


def test_async_client_encodes_the_same(recorder: Recorder) -> None:
    recorder.reply(
        httpx.Response(200, json={"data": [{"_id": "a"}]}),
        httpx.Response(200, json={"data": []}),
        httpx.Response(201, json={"_id": "t1", "video_id": "v1"}),
        httpx.Response(200, json={"_id": "t1", "status": "ready"}),
    )

    async def main() -> None:
        async with AsyncTwelveLabs(api_key="k", base_url="http://tl.local",
                                   transport=httpx.MockTransport(recorder)) as c:
            pager = await c.indexes.list(page_limit=1)
            assert [i.id async for i in pager] == ["a"]
            task = await c.tasks.create(index_id="i", video_file=b"bytes", user_metadata={"a": 1})
            seen: list[str | None] = []

            async def callback(t: types.AsyncTask) -> None:
                seen.append(t.status)

            await task.wait_for_done(sleep_interval=0.01, callback=callback)
            assert task.status == "ready" and seen == ["ready"]

    asyncio.run(main())
    assert [r.url.params.get("page") for r in recorder.requests[:2]] == ["1", "2"]
    parts = parse_multipart(recorder.requests[2])
    assert [(p.name, p.filename) for p in parts] == [("index_id", None), ("user_metadata", None),
                                                     ("video_file", "upload")]
