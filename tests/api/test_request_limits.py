"""Requests are bounded before they cost anything, and every bad input is a 4xx in the envelope.

The reproducers of the security review (findings 3, 7, 9, 10, 11, 13 and 17 in
`../shared/reviews/security.md`), scaled down to sizes that still prove each bound, against the live
test server. Where a connection can be kept, the next request on the same kept-alive connection must
still work.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from framedex.api.json_limits import check_response_format
from framedex.config import Settings
from framedex.domain_errors import InvalidParameter
from framedex.ingest.fetch import is_public_address, validate_url
from framedex.services import indexes
from tests.conftest import LiveServer, start_server

MODELS = [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]
MB = 1024 * 1024


def assert_envelope(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text[:300]
    body: dict[str, Any] = response.json()
    assert isinstance(body.get("code"), str) and isinstance(body.get("message"), str) and body["message"], body
    if code is not None:
        assert body["code"] == code, body
    return body


def local_port(response: httpx.Response) -> int:
    """The client-side port of the connection that carried `response`."""
    stream = response.extensions["network_stream"]
    return int(stream.get_extra_info("client_addr")[1])


def assert_kept_alive(client: httpx.Client, bad: httpx.Response) -> None:
    """The connection that carried the bad request still serves the next one."""
    assert bad.headers.get("connection", "").lower() != "close"
    ok = client.get("/indexes", params={"page_limit": 1})
    assert ok.status_code == 200, ok.text
    assert local_port(ok) == local_port(bad), "the server dropped the kept-alive connection"


@pytest.fixture(scope="module")
def client(live_server: LiveServer, api_key: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.api, headers={"x-api-key": api_key}, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def index_id(client: httpx.Client) -> str:
    resp = client.post("/indexes", json={"index_name": f"limits-{time.time()}", "models": MODELS})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["_id"])


def raw_request(url: str, head: str, body: bytes, *, timeout: float = 10) -> tuple[int, bytes]:
    """Send a request head and `body` (possibly only the start of what the head declares) over a plain
    socket, then wait for the answer without sending more. An answer to a request whose body was cut
    short proves that the server did not wait for (or read) the rest of it: otherwise it would still
    be waiting when `timeout` runs out, and the status here would be 0."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    response = b""
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head.encode() + body)
        while True:
            try:
                data = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not data:
                break
            response += data
            if b"\r\n\r\n" in response:
                head_end = response.index(b"\r\n\r\n") + 4
                length = next((int(line.split(b":")[1]) for line in response[:head_end].split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                if len(response) >= head_end + length:
                    break
    status = int(response.split(b" ", 2)[1]) if response else 0
    return status, response


def json_body(response: bytes) -> dict[str, Any]:
    return json.loads(response.split(b"\r\n\r\n", 1)[1])  # type: ignore[no-any-return]


PREFIX = b"a" * (256 * 1024)  # what is sent of a body that declares far more


# --- finding 3: the key is checked before the body is read; bodies are capped per route --------------


def test_keyless_large_json_body_is_refused_before_it_is_read(live_server: LiveServer) -> None:
    size = 50 * MB
    head = (f"POST /v1.3/indexes HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            f"content-length: {size}\r\n\r\n")
    started = time.monotonic()
    status, response = raw_request(live_server.url, head, b'{"index_name": "' + PREFIX)
    assert status == 401, "the server waited for the rest of a keyless body"
    assert json_body(response)["code"] == "api_key_invalid"
    assert time.monotonic() - started < 5
    assert b"connection: close" in response.lower()  # the rest of the body is not read either


def test_keyless_large_multipart_upload_is_refused_before_it_is_read(live_server: LiveServer) -> None:
    size = 50 * MB
    head = (f"POST /v1.3/tasks HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"content-type: multipart/form-data; boundary=b\r\ncontent-length: {size}\r\n\r\n")

    part = b'--b\r\nContent-Disposition: form-data; name="video_file"; filename="a.mp4"\r\n\r\n' + PREFIX
    status, response = raw_request(live_server.url, head, part)
    assert status == 401 and json_body(response)["code"] == "api_key_invalid"


def test_keyless_small_request_keeps_the_connection(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.api, timeout=30) as anon:
        bad = anon.post("/indexes", json={"index_name": "x", "models": MODELS})
        assert_envelope(bad, 401, "api_key_invalid")
        again = anon.get("/indexes")
        assert again.status_code == 401 and local_port(again) == local_port(bad)


def test_json_body_over_its_route_cap_is_413_by_length(client: httpx.Client, live_server: LiveServer,
                                                      api_key: str) -> None:
    size = 5 * MB  # the cap of a plain JSON route is 4 MiB
    head = (f"POST /v1.3/indexes HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: {api_key}\r\n"
            f"content-type: application/json\r\ncontent-length: {size}\r\n\r\n")
    status, response = raw_request(live_server.url, head, PREFIX)
    assert status == 413 and json_body(response)["code"] == "payload_too_large"
    assert b"connection: close" in response.lower()


def test_chunked_body_over_the_cap_is_413_not_400(client: httpx.Client, live_server: LiveServer,
                                                  api_key: str) -> None:
    head = (f"POST /v1.3/indexes HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: {api_key}\r\n"
            "content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n")

    block = b"a" * (64 * 1024)
    chunks = b"1\r\n{\r\n" + (f"{len(block):x}\r\n".encode() + block + b"\r\n") * (4 * 16 + 2)
    status, response = raw_request(live_server.url, head, chunks)  # just over the 4 MiB cap, unterminated
    assert status == 413, response[:300]
    assert json_body(response)["code"] == "payload_too_large"

    # A chunked multipart body over the /embed cap (two 32 MB files) is a 413 as well, counted as it streams.
    def form() -> Iterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="model_name"\r\n\r\nmarengo3.0\r\n'
        yield b'--b\r\nContent-Disposition: form-data; name="image_file"; filename="a.png"\r\n\r\n'
        for _ in range(70):
            yield b"\0" * MB
        yield b"\r\n--b--\r\n"

    with httpx.Client(base_url=live_server.api, headers={"x-api-key": api_key}, timeout=60) as c:
        resp = c.post("/embed", content=form(), headers={"content-type": "multipart/form-data; boundary=b"})
    assert_envelope(resp, 413)


# --- finding 11: inputs that used to be 500s are 4xx, and the connection survives ----------------------


@pytest.mark.parametrize("path", ["/indexes", "/assets", "/tasks", "/embed/tasks", "/entity-collections",
                                  "/assets/multipart-uploads", "/analyze/batches", "/embed-v2/tasks"])
def test_huge_page_number_is_400(client: httpx.Client, path: str) -> None:
    bad = client.get(path, params={"page": 10**20})
    assert_envelope(bad, 400, "parameter_invalid")
    assert_kept_alive(client, bad)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{bad", "parameter_invalid"),
        (b'{"index_id": "%s", "search_options": ["visual"], "query_text": "x", "page_limit": Infinity}', None),
        (b'{"index_id": "%s", "search_options": ["visual"], "query_text": "x", "page_limit": NaN}', None),
        (b'{"index_id": "%s", "search_options": ["visual"], "query_text": "x", "page_limit": 1e999}', None),
        (b'{"index_id": "%s", "search_options": ["visual"], "query_text": "x", "page_limit": {}}', None),
        (b'{"index_id": "%s", "search_options": ["visual"], "query_text": 5}', None),
        (b'{"index_id": "%s", "search_options": [{"a": 1}], "query_text": "x"}', None),
        (b'{"index_id": "%s", "search_options": ["visual"], "query_text": "ball",'
         b' "filter": {"duration": {"gte": "1"}}}', "search_filter_invalid"),
        (b'{"index_id": "%s", "search_options": ["visual"], "query_text": "ball",'
         b' "filter": {"rank": {"gte": [1]}}}', "search_filter_invalid"),
        (b'{"index_id": "%s", "search_options": ["visual"], "query_text": "x", "filter": '
         + b"[" * 5000 + b"]" * 5000 + b"}", "parameter_invalid"),
    ],
)
def test_malformed_search_json_is_400(client: httpx.Client, index_id: str, body: bytes, code: str | None) -> None:
    payload = body.replace(b"%s", index_id.encode()) if b"%s" in body else body
    bad = client.post("/search", content=payload, headers={"content-type": "application/json"})
    assert bad.status_code in (400, 404) and set(bad.json()) >= {"code", "message"}, bad.text[:300]
    if bad.status_code == 400 and code is not None:
        assert bad.json()["code"] == code
    assert_kept_alive(client, bad)


def test_deeply_nested_form_fields_are_400(client: httpx.Client, index_id: str) -> None:
    deep = "[" * 100_000
    bad = client.post("/search", data={"index_id": index_id, "search_options": "visual", "query_text": "x",
                                       "filter": deep})
    assert_envelope(bad, 400, "search_filter_invalid")
    assert_kept_alive(client, bad)
    bad = client.post("/assets", data={"method": "url", "url": "http://127.0.0.1:9/a.mp4", "user_metadata": deep})
    assert_envelope(bad, 400, "parameter_invalid")
    bad = client.post("/tasks", data={"index_id": index_id, "user_metadata": deep},
                      files={"video_file": ("a.mp4", b"1234")})
    assert_envelope(bad, 400, "parameter_invalid")
    nested = "{" * 1 + '"a":' + "[" * 2000 + "]" * 2000 + "}"
    bad = client.patch(f"/indexes/{index_id}/indexed-assets/0123456789abcdef01234567",
                       content=b'{"user_metadata": ' + nested.encode() + b"}",
                       headers={"content-type": "application/json"})
    assert_envelope(bad, 400, "parameter_invalid")
    assert_kept_alive(client, bad)


@pytest.mark.parametrize("url", ["http://localhost:99999/a.mp4", "http://127.0.0.1:notaport/a.mp4"])
def test_bad_url_port_is_400(client: httpx.Client, index_id: str, url: str) -> None:
    bad = client.post("/assets", data={"method": "url", "url": url})
    assert_envelope(bad, 400, "parameter_invalid")
    assert_kept_alive(client, bad)
    bad = client.post("/tasks", data={"index_id": index_id, "video_url": url}, files={"unused": ("x", b"")})
    assert_envelope(bad, 400, "parameter_invalid")


def test_non_finite_form_numbers_are_400(client: httpx.Client) -> None:
    bad = client.post("/embed", data={"model_name": "marengo3.0", "text": "x", "audio_start_offset_sec": "nan"})
    assert_envelope(bad, 400)
    assert_kept_alive(client, bad)
    bad = client.post("/embed/tasks", data={"model_name": "marengo3.0", "video_url": "http://127.0.0.1:9/a.mp4",
                                            "video_clip_length": "inf"})
    assert_envelope(bad, 400)


def test_non_finite_json_numbers_are_400(client: httpx.Client) -> None:
    for raw in (b'{"index_name": "x", "models": [], "n": NaN}', b'{"index_name": "x", "models": [], "n": -Infinity}',
                b'{"index_name": "x", "models": [], "n": 1e400}'):
        bad = client.post("/indexes", content=raw, headers={"content-type": "application/json"})
        assert_envelope(bad, 400, "parameter_invalid")
    assert_kept_alive(client, bad)


def test_refused_query_media_url_is_400(client: httpx.Client, index_id: str) -> None:
    bad = client.post("/search", data={"index_id": index_id, "search_options": "visual", "query_media_type": "image",
                                       "query_media_url": "http://127.0.0.1:9/x.jpg"})
    assert_envelope(bad, 400)
    assert_kept_alive(client, bad)
    refused = "http://127.0.0.1:9/x.jpg"  # port 9 refuses the connection
    bad2 = client.post("/embed-v2", json={"input_type": "image", "model_name": "marengo3.0",
                                          "image": {"media_source": {"url": refused}}})
    assert_envelope(bad2, 400)
    bad3 = client.post("/embed", data={"model_name": "marengo3.0", "image_url": refused})
    assert_envelope(bad3, 400)
    assert_kept_alive(client, bad3)
    for response in (bad, bad2, bad3):  # what failed, not the socket error's words (errno, address)
        message = response.json()["message"]
        assert message.endswith("could not be downloaded: the connection to its server failed."), message


def test_an_unexpected_error_is_a_500_envelope_that_keeps_the_connection(
        client: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(indexes, "retrieve", boom)
    bad = client.get("/indexes/0123456789abcdef01234567")
    assert_envelope(bad, 500, "internal_error")
    assert "simulated" not in bad.text  # no internals in the reply
    assert_kept_alive(client, bad)


# --- finding 7: response_format schemas are bounded before the service builds or runs anything ----------


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"type": "string", "minLength": 300_000_000}}, "required": ["a"]},
        {"type": "object", "properties": {"a": {"type": "array", "minItems": 8_000_000_000, "items": {}}},
         "required": ["a"]},
        # 1000 x 1000 x 100 characters: each count is small, their product is not
        {"type": "object", "required": ["a"], "properties": {"a": {"type": "array", "minItems": 1000, "items": {
            "type": "array", "minItems": 1000, "items": {"type": "string", "minLength": 100}}}}},
        {"type": "object", "properties": {"a": {"type": "string", "pattern": "^(a+)+$"}}},
        {"type": "object", "properties": {"a": {"type": "string", "pattern": "(["}}},
        json.loads('{"type": "object", "properties": {"a": ' * 200 + "{}" + "}}" * 200),
    ],
)
def test_response_format_bombs_are_400_before_the_model_runs(client: httpx.Client, schema: dict[str, Any]) -> None:
    started = time.monotonic()
    body = {"video_id": "0123456789abcdef01234567", "prompt": "Describe the video.", "max_tokens": 1,
            "response_format": {"type": "json_schema", "json_schema": schema}}
    for path in ("/analyze", "/analyze/tasks", "/summarize"):
        bad = client.post(path, json={**body, "type": "summary"} if path == "/summarize" else body)
        assert_envelope(bad, 400, "parameter_invalid")
    batch = client.post("/analyze/batches", json={"model_name": "pegasus1.2", "requests": [
        {"video_id": "0123456789abcdef01234567", "prompt": "x", "response_format": body["response_format"]}]})
    assert_envelope(batch, 400, "parameter_invalid")
    assert time.monotonic() - started < 5
    assert_kept_alive(client, bad)


def test_ordinary_response_format_schemas_pass_the_bounds() -> None:
    check_response_format({"type": "json_schema", "json_schema": {
        "type": "object", "required": ["title", "tags", "when"],
        "properties": {"title": {"type": "string", "minLength": 3, "maxLength": 100},
                       "tags": {"type": "array", "minItems": 2, "items": {"type": "string", "pattern": "^[a-z-]+$"}},
                       "when": {"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2})?$"},
                       "items": {"type": "array", "items": {"$ref": "#/$defs/item"}}},
        "$defs": {"item": {"type": "object", "properties": {"children": {"type": "array",
                                                                           "items": {"$ref": "#/$defs/item"}}}}}}})


# --- finding 9: the number of query URLs is checked before anything is downloaded ----------------------


class _CountingHandler(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(200)
        self.send_header("content-length", "4")
        self.end_headers()
        self.wfile.write(b"\x89PNG")

    def log_message(self, *_args: Any) -> None:
        pass


def test_query_media_url_count_is_checked_before_any_download(client: httpx.Client, index_id: str) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _CountingHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/big.jpg"
        bad = client.post("/search", json={"index_id": index_id, "search_options": ["visual"],
                                           "query_media_type": "image", "query_media_url": [url] * 100})
        assert_envelope(bad, 400, "parameter_invalid")
        form = client.post("/search", data={"index_id": index_id, "search_options": "visual",
                                            "query_media_type": "image", "query_media_url": [url] * 11})
        assert_envelope(form, 400, "parameter_invalid")
        mixed = client.post("/search", data={"index_id": index_id, "search_options": "visual",
                                             "query_media_type": "image", "query_media_url": [url] * 6},
                            files=[("query_media_file", (f"{i}.png", b"\x89PNG")) for i in range(5)])
        assert_envelope(mixed, 400, "parameter_invalid")
        assert _CountingHandler.hits == 0, "URLs were fetched before the count was checked"
        assert_kept_alive(client, mixed)
    finally:
        server.shutdown()
        server.server_close()


# --- finding 10: user_metadata is bounded, on every route that takes it --------------------------------


def test_user_metadata_is_bounded_everywhere(client: httpx.Client, index_id: str) -> None:
    huge = {"blob": "x" * 100_000}
    fake = "0123456789abcdef01234567"
    for resp in (
        client.patch(f"/indexes/{index_id}/indexed-assets/{fake}", json={"user_metadata": huge}),
        client.put(f"/indexes/{index_id}/videos/{fake}", json={"user_metadata": huge}),
        client.post(f"/indexes/{index_id}/indexed-assets", json={"asset_id": fake, "user_metadata": huge}),
        client.put(f"/assets/{fake}/user-metadata", json={"user_metadata": huge}),
        client.patch(f"/assets/{fake}/user-metadata", json={"user_metadata": {f"k{i}": i for i in range(51)}}),
        client.post("/assets/multipart-uploads", json={"filename": "a.mp4", "type": "video", "total_size": 1000,
                                                      "user_metadata": {"tags": ["t"] * 1000}}),
        client.post("/assets", data={"method": "url", "url": "http://127.0.0.1:9/a.mp4",
                                     "user_metadata": json.dumps(huge)}),
        client.post("/tasks", data={"index_id": index_id, "user_metadata": json.dumps(huge)},
                    files={"video_file": ("a.mp4", b"1234")}),
    ):
        assert_envelope(resp, 400, "parameter_invalid")
    assert_kept_alive(client, resp)


def test_user_metadata_patches_cannot_grow_it_without_bound(client: httpx.Client) -> None:
    created = client.post("/assets", data={"method": "url", "url": "http://127.0.0.1:9/a.mp4"})
    assert created.status_code == 201, created.text
    asset_id = created.json()["_id"]
    first = {f"a{i}": "v" * 300 for i in range(40)}
    assert client.patch(f"/assets/{asset_id}/user-metadata", json={"user_metadata": first}).status_code == 204
    second = {f"b{i}": "v" * 300 for i in range(40)}  # each PATCH is within bounds; the merged value is not
    assert_envelope(client.patch(f"/assets/{asset_id}/user-metadata", json={"user_metadata": second}), 400,
                    "parameter_invalid")
    kept = client.get(f"/assets/{asset_id}").json()["user_metadata"]
    assert set(kept) == set(first)


# --- findings 13 and 17: --no-auth answers only loopback Host names; IPv6 transition addresses --------


@pytest.fixture(scope="module")
def no_auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir: Path = tmp_path_factory.mktemp("no-auth-data")
    settings = Settings(data_dir=data_dir, workers=0, auth_enabled=False)  # private URLs refused (default)
    server, thread, url = start_server(settings)
    yield url
    server.should_exit = True
    thread.join(30)


def test_no_auth_refuses_foreign_host_and_cross_site_requests(no_auth_server: str) -> None:
    port = no_auth_server.rsplit(":", 1)[1]
    with httpx.Client(base_url=f"{no_auth_server}/v1.3", timeout=30) as c:
        ok = c.get("/indexes")
        assert ok.status_code == 200
        rebound = c.get("/indexes", headers={"host": f"evil.example:{port}"})
        assert_envelope(rebound, 403)
        assert local_port(rebound) == local_port(ok)
        assert c.get("/indexes", headers={"host": f"localhost:{port}"}).status_code == 200
        assert c.get("/indexes", headers={"host": f"[::1]:{port}"}).status_code == 200
        csrf = c.post("/assets", data={"method": "url", "url": "http://127.0.0.1:9/a.mp4"},
                      headers={"origin": "http://evil.example"})
        assert_envelope(csrf, 403)
        same_site = c.get("/indexes", headers={"origin": f"http://127.0.0.1:{port}"})
        assert same_site.status_code == 200


@pytest.mark.parametrize("url", [
    "http://[64:ff9b::a9fe:a9fe]/latest/meta-data/",  # NAT64 of 169.254.169.254
    "http://[2002:7f00:1::]/a.mp4",  # 6to4 of 127.0.0.1
    "http://[::127.0.0.1]/a.mp4",  # IPv4-compatible
    "http://[::ffff:10.0.0.1]/a.mp4",  # IPv4-mapped
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/a.mp4",  # Teredo
    "http://" + "a" * 64 + ".example/a.mp4",  # a label longer than 63 characters (was a 500)
    "http://127.0.0.1:99999/a.mp4",
])
def test_transition_and_invalid_addresses_are_refused(no_auth_server: str, url: str) -> None:
    with httpx.Client(base_url=f"{no_auth_server}/v1.3", timeout=30) as c:
        bad = c.post("/assets", data={"method": "url", "url": url})
        assert_envelope(bad, 400, "parameter_invalid")
        assert_kept_alive(c, bad)


def test_address_check_covers_every_transition_prefix() -> None:
    for private in ("64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1", "2002:7f00:1::", "2002:c0a8:101::1", "::127.0.0.1",
                    "::ffff:127.0.0.1", "::ffff:192.168.1.1", "2001:0:4136:e378:8000:63bf:3fff:fdd2",
                    "64:ff9b:1::a00:1", "127.0.0.1", "10.1.2.3", "::1", "fe80::1"):
        assert not is_public_address(private), private
    for public in ("64:ff9b::808:808", "2002:808:808::1", "8.8.8.8", "2606:4700:4700::1111"):
        assert is_public_address(public), public
    with pytest.raises(InvalidParameter):
        validate_url("http://[64:ff9b::a9fe:a9fe]/", allow_private=False)
