"""Every HTTP route of the official `twelvelabs` SDK 1.3.6 is routed by framedex: none answers 404
`endpoint_not_exists` or 405 (issue 14: "every SDK 1.3.6 method answers something other than
`endpoint_not_exists`").

Two views of the same promise, both against the live server on loopback:

* the (method, path) of every `httpx_client.request/stream` call in the installed SDK's source, requested
  with made-up ids (the answer may be 400, 404 `resource_not_exists`, 403 for data connectors, ...);
* every public method of every resource client of `TwelveLabs`, called with made-up arguments: each request
  the SDK sends is recorded, and none may be answered as a missing route.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer

twelvelabs = pytest.importorskip("twelvelabs")
SDK_ROOT = Path(twelvelabs.__file__).parent
FAKE_ID = "0123456789abcdef01234567"
SDK_VERSION = "1.3.6"


def sdk_routes() -> dict[tuple[str, str], str]:
    """(method, path template with `{}` for each parameter) -> the SDK file that sends it."""
    routes: dict[tuple[str, str], str] = {}
    for source in sorted(SDK_ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(source.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("request", "stream") and isinstance(node.func.value, ast.Attribute)
                    and node.func.value.attr == "httpx_client" and node.args):
                continue
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                template = first.value
            elif isinstance(first, ast.JoinedStr):
                template = "".join(str(p.value) if isinstance(p, ast.Constant) else "{}" for p in first.values)
            else:
                raise AssertionError(f"{source}: a path that is not a literal: {ast.dump(first)[:200]}")
            methods = [k.value.value for k in node.keywords
                       if k.arg == "method" and isinstance(k.value, ast.Constant)]
            assert methods, f"{source}: a request without a literal method"
            routes.setdefault((str(methods[0]).upper(), template), str(source.relative_to(SDK_ROOT)))
    return routes


def missing_route(response: httpx.Response) -> bool:
    if response.status_code == 405:
        return True
    if response.status_code != 404:
        return False
    try:
        return bool(response.json().get("code") == "endpoint_not_exists")
    except ValueError:
        return True  # a 404 that is not the API's envelope is no route of ours either


def test_the_installed_sdk_is_the_one_the_reference_describes() -> None:
    from importlib.metadata import version

    assert version("twelvelabs") == SDK_VERSION
    assert len(sdk_routes()) >= 95  # 101 methods; a few share a route (streamed and not, the wrappers)


def test_every_sdk_route_is_routed(live_server: LiveServer, api_key: str) -> None:
    missing = []
    with httpx.Client(headers={"x-api-key": api_key}, timeout=60) as client:
        for (method, template), source in sorted(sdk_routes().items()):
            # An absolute URL: joined to a base, `connections:authorize` would read as a URL scheme (reference A.12).
            url = f"{live_server.api}/{template.replace('{}', FAKE_ID)}"
            kwargs: dict[str, Any] = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
            response = client.request(method, url, **kwargs)
            assert response.request.url.path == f"/v1.3/{template.replace('{}', FAKE_ID)}"
            if missing_route(response):
                missing.append(f"{method} /{template} ({source}): {response.status_code} {response.text[:120]}")
    assert not missing, "routes the SDK calls that framedex does not serve:\n" + "\n".join(missing)


# --- every method of the SDK client ---------------------------------------------------------------------------


def resource_clients(client: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted attribute path, resource client) for the client and every resource below it."""
    yield prefix or "client", client
    for name in sorted(dir(client)):
        if name.startswith("_") or name == "with_raw_response":
            continue
        try:
            value = getattr(client, name)
        except Exception:
            continue
        module = type(value).__module__
        if module.startswith("twelvelabs.") and "Client" in type(value).__name__ and not callable(value):
            yield from resource_clients(value, f"{prefix}.{name}" if prefix else name)


def public_methods(resource: Any) -> Iterator[tuple[str, Any]]:
    for name in sorted(dir(resource)):
        if name.startswith("_") or name == "with_raw_response":
            continue
        value = getattr(resource, name, None)
        if inspect.ismethod(value) and getattr(value, "__module__", "").startswith("twelvelabs."):
            yield name, value


# Required arguments whose type alone does not give a value the SDK will send.
NAMED: dict[str, Any] = {"method": "direct", "model_name": "marengo3.0", "input_type": "text",
                         "index_name": "x", "models": [{"model_name": "marengo3.0", "model_options": ["visual"]}]}
# SDK methods that send nothing, and why.
UNREACHABLE = {
    # `urljoin(base, "connections:authorize")` reads `connections:` as a URL scheme; httpx refuses the URL
    # (reference A.12). framedex serves the route (403 data_connectors_not_supported) for other clients.
    "data_connectors.authorize_connection",
}


MAX_REQUESTS_PER_METHOD = 3


class StopPolling(BaseException):
    pass


def dummy(name: str, annotation: Any) -> Any:
    text = str(annotation)
    if name in NAMED:
        return NAMED[name]
    if name.endswith("_id") or name in ("id", "page_token", "state"):
        return FAKE_ID
    if name.endswith("_ids"):
        return [FAKE_ID]
    if "File" in text:
        return ("x.bin", b"x", "application/octet-stream")
    for kind, value in (("bool", False), ("int", 1), ("float", 1.0), ("Sequence", []), ("List", []),
                        ("Dict", {}), ("str", "x")):
        if re.search(rf"\b{kind}\b", text):
            return value
    return {}


def test_every_sdk_method_reaches_a_route(live_server: LiveServer, tmp_path: Path) -> None:
    from twelvelabs import TwelveLabs

    api_key = live_server.new_key("sdk-routes")  # an account of its own: the calls may leave failed assets
    tiny = tmp_path / "tiny.mp4"
    tiny.write_bytes(b"not really a video")
    # The SDK's own helpers that loop over their arguments send nothing for empty ones.
    per_method: dict[str, dict[str, Any]] = {
        "tasks.create_bulk": {"video_urls": ["not-a-url"]},
        "embed.tasks.create_bulk": {"videos": [{"video_url": "not-a-url"}]},
        "multipart_upload.upload_file": {"file_path": str(tiny)},
    }

    sent: list[tuple[str, str, httpx.Response]] = []
    current = [""]

    def record(response: httpx.Response) -> None:
        if response.status_code in (404, 405):
            response.read()
        sent.append((current[0], f"{response.request.method} {response.request.url.path}", response))
        if sum(label == current[0] for label, _, _ in sent) >= MAX_REQUESTS_PER_METHOD:
            # The SDK's pollers retry a refused request forever (`wait_for_upload_completion` ignores its
            # `max_wait_time` then): stop them; `except Exception` in the SDK does not catch this.
            raise StopPolling

    http_client = httpx.Client(timeout=60, event_hooks={"response": [record]})
    tl = TwelveLabs(api_key=api_key, base_url=live_server.api, httpx_client=http_client)
    called, silent = [], []
    for path, resource in resource_clients(tl):
        for name, method in public_methods(resource):
            label = f"{path}.{name}"
            current[0] = label
            before = len(sent)
            kwargs = {p.name: dummy(p.name, p.annotation) for p in inspect.signature(method).parameters.values()
                      if p.default is inspect.Parameter.empty
                      and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
            kwargs.update(per_method.get(label, {}))
            # The SDK's waiting helpers poll until done; with a made-up id, one round is enough.
            for knob, value in (("sleep_interval", 0.01), ("max_wait_time", 0.5)):
                if knob in inspect.signature(method).parameters:
                    kwargs[knob] = value
            try:
                result = method(**kwargs)
                if hasattr(result, "__iter__") and not isinstance(result, str | bytes | dict):
                    next(iter(result), None)  # pagers and streams send on the first item
            except (Exception, StopPolling):  # a made-up request is refused; what matters is which route answered
                pass
            (called if len(sent) > before else silent).append(label)
    http_client.close()
    missing = sorted({f"{label}: {request} -> {response.status_code} {response.text[:100]}"
                      for label, request, response in sent if missing_route(response)})
    assert not missing, "SDK methods answered as a missing route:\n" + "\n".join(missing)
    # Every method but the unreachable one sent a request: a method the made-up arguments cannot call would
    # otherwise pass here unchecked.
    assert set(silent) == UNREACHABLE, f"SDK methods that sent nothing: {sorted(set(silent) - UNREACHABLE)}"
    assert len(called) >= 100, f"only {len(called)} SDK methods were called: {called}"
