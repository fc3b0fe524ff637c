"""Compatibility with the real API and older clients: search options checked against the index, older names,
the fields and filters older clients read."""

from __future__ import annotations

import time

import httpx
import pytest


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


def test_create_index_returns_the_index(http: httpx.Client, tl) -> None:  # type: ignore[no-untyped-def]
    resp = http.post("/indexes", json={"index_name": f"compat-created-{time.time()}",
                                       "models": [{"model_name": "marengo3.0", "model_options": ["visual"]}]})
    body = resp.json()
    assert resp.status_code == 201 and len(body["_id"]) == 24
    assert body["index_name"].startswith("compat-created-")
    assert body["models"] == [{"model_name": "marengo3.0", "model_options": ["visual"]}]
    assert body["created_at"] and body["updated_at"] and body["video_count"] == 0
    # the official SDK keeps the extra fields, so `index.index_name` works right after create
    created = tl.indexes.create(index_name="compat-sdk", models=[{"model_name": "marengo3.0",
                                                                  "model_options": ["visual"]}])
    assert created.id and created.index_name == "compat-sdk"  # type: ignore[attr-defined]


def test_tasks_filter_by_uploading(http: httpx.Client) -> None:
    resp = http.get("/tasks", params={"status": "uploading"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["data"] == []
    both = http.get("/tasks", params=[("status", "uploading"), ("status", "ready")])
    assert both.status_code == 200 and all(t["status"] == "ready" for t in both.json()["data"])
    assert http.get("/tasks", params={"status": "sleeping"}).status_code == 400


def test_client_pagers_iter_pages_and_next_page(live_server, api_key: str) -> None:  # type: ignore[no-untyped-def]
    from framedex import TwelveLabs

    with TwelveLabs(api_key=api_key, base_url=live_server.url, timeout=60) as client:
        prefix = f"pager-{time.time()}"
        for n in range(3):
            client.indexes.create(index_name=f"{prefix}-{n}",
                                  models=[{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}])
        pager = client.indexes.list(page_limit=2)
        total = pager.page_info.total_results if pager.page_info else None
        assert total is not None and total >= 3
        pages = [[i.index_name for i in p.items] for p in pager.iter_pages()]
        assert sum(len(p) for p in pages) == total and all(len(p) == 2 for p in pages[:-1])
        assert {f"{prefix}-{n}" for n in range(3)} <= {name for p in pages for name in p}
        second = pager.next_page()
        assert second is not None and second.page == 2 and second.items
        last = pager
        while (following := last.next_page()) is not None:
            last = following
        assert last.page == len(pages)

        index_id = next(i.id for i in client.indexes.list() if i.index_name == f"{prefix}-0")
        # `options`: the older name of `search_options`
        hits = client.search.query(index_id=index_id, query_text="anything", options=["visual"])
        assert next(iter(hits.iter_pages())) is hits and hits.next_page() is None
        with pytest.raises(TypeError):
            client.search.query(index_id=index_id, query_text="x")
