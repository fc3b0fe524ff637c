"""Compatibility with the real API and older clients: search options checked against the index, older names,
the fields and filters older clients read."""

from __future__ import annotations

import time

import httpx


def _index(http: httpx.Client, options: list[str]) -> str:
    resp = http.post("/indexes", json={"index_name": f"compat-{time.time()}",
                                       "models": [{"model_name": "marengo3.0", "model_options": options}]})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["_id"])


def test_search_options_must_be_enabled_on_the_index(http: httpx.Client) -> None:
    visual_only = _index(http, ["visual"])
    for option in ("audio", "transcription", "conversation"):
        resp = http.post("/search", data={"index_id": visual_only, "query_text": "x", "search_options": option})
        assert resp.status_code == 400, (option, resp.text)
        assert resp.json()["code"] == "search_option_not_supported"
        assert "visual" in resp.json()["message"]
    # mixed: one missing option is enough to refuse
    resp = http.post("/search", data={"index_id": visual_only, "query_text": "x",
                                      "search_options": ["visual", "audio"]})
    assert resp.status_code == 400
    assert http.post("/search", data={"index_id": visual_only, "query_text": "x",
                                      "search_options": "visual"}).status_code == 200
    audio_only = _index(http, ["audio"])
    assert http.post("/search", data={"index_id": audio_only, "query_text": "x",
                                      "search_options": "visual"}).status_code == 400
    for option in ("audio", "transcription"):
        resp = http.post("/search", data={"index_id": audio_only, "query_text": "x", "search_options": option})
        assert resp.status_code == 200, (option, resp.text)
