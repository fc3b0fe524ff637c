"""Per-key rate limits: 429 with Retry-After and X-Ratelimit-* on the rate-limited routes, counted in the
metadata store so that every API process on one database shares them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from framedex.api import rate_limits
from framedex.config import Settings
from framedex.storage.metadata import SqlMetadataStore
from tests.conftest import LiveServer, start_server


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("rate-limited"), workers=0, rate_limit_search=3,
                        rate_limit_knowledge_search=2, rate_limit_window_seconds=3600)
    server, thread, url = start_server(settings)
    yield LiveServer(url, server.config.app.state.platform, settings)  # type: ignore[attr-defined]
    server.should_exit = True
    thread.join(30)


def test_defaults_are_on() -> None:
    fields = Settings.model_fields
    assert fields["rate_limit_search"].default == 50
    assert fields["rate_limit_window_seconds"].default == 60
    for name in ("rate_limit_analyze", "rate_limit_analyze_batches", "rate_limit_embed_v2",
                 "rate_limit_embed_v2_tasks", "rate_limit_knowledge_search"):
        assert fields[name].default > 0, name


def test_search_burst_gets_429_with_retry_after(limited: LiveServer) -> None:
    key = limited.new_key("burst")
    other = limited.new_key("other")
    with httpx.Client(base_url=limited.api, headers={"x-api-key": key}, timeout=30) as client:
        remaining = []
        for _ in range(3):
            r = client.post("/search", files={"index_id": (None, "0" * 24), "query_text": (None, "cat"),
                                              "search_options": (None, "visual")})
            assert r.status_code != 429, r.text
            assert r.headers["x-ratelimit-limit"] == "3"
            remaining.append(int(r.headers["x-ratelimit-remaining"]))
        assert remaining == [2, 1, 0]
        refused = client.post("/search", files={"index_id": (None, "0" * 24), "query_text": (None, "cat")})
        assert refused.status_code == 429
        assert refused.json()["code"] == "too_many_requests"
        assert 1 <= int(refused.headers["retry-after"]) <= 3600
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert int(refused.headers["x-ratelimit-reset"]) > 0
        # The /v1.3-less path is the same route and the same counter.
        assert httpx.post(f"{limited.url}/search", headers={"x-api-key": key}, data={"query_text": "x"}).status_code \
            == 429
        # Other routes are not limited and carry no rate-limit headers; the server stays healthy.
        listed = client.get("/indexes")
        assert listed.status_code == 200 and "x-ratelimit-limit" not in listed.headers
        # Knowledge-store search has its own counter.
        ks = client.post(f"/knowledge-stores/{'0' * 24}/search", json={"query": "x"})
        assert ks.status_code != 429 and ks.headers["x-ratelimit-limit"] == "2"
    # Limits are per key: another key of the same tenant still has its own.
    r = httpx.post(f"{limited.api}/search", headers={"x-api-key": other}, data={"query_text": "x"})
    assert r.status_code != 429 and r.headers["x-ratelimit-remaining"] == "2"


def test_sdk_sees_too_many_requests(limited: LiveServer) -> None:
    from twelvelabs import TwelveLabs
    from twelvelabs.errors import TooManyRequestsError

    key = limited.new_key("sdk")
    tl = TwelveLabs(api_key=key, base_url=limited.api)
    for _ in range(3):
        try:
            tl.search.query(index_id="0" * 24, query_text="cat", search_options=["visual"])
        except TooManyRequestsError:
            pytest.fail("refused within the limit")
        except Exception:  # the index does not exist; only the 429 matters here
            pass
    with pytest.raises(TooManyRequestsError):
        tl.search.query(index_id="0" * 24, query_text="cat", search_options=["visual"])


def test_counters_are_shared_by_processes_and_atomic(tmp_path: Path) -> None:
    """Two stores on one database (as two API processes): one counter; concurrent hits never oversell."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = SqlMetadataStore(url), SqlMetadataStore(url)
    first.create_schema()
    rate = rate_limits.RateLimit("rate_limit_search", 20, 60)
    now = 1_000_020.0
    verdicts: list[rate_limits.Verdict] = []
    lock = threading.Lock()

    def hit(store: SqlMetadataStore) -> None:
        for _ in range(10):
            verdict = rate_limits.check(store, "k", rate, now)
            with lock:
                verdicts.append(verdict)

    threads = [threading.Thread(target=hit, args=(store,)) for store in (first, second, first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(v.allowed for v in verdicts) == 20
    assert sorted(v.used for v in verdicts) == list(range(1, 41))
    assert {v.reset for v in verdicts} == {1_000_080}  # the window [1_000_020, 1_000_080)
    # A new window starts the count again; other keys never shared it.
    assert rate_limits.check(second, "k", rate, now + 60).used == 1
    assert rate_limits.check(first, "j", rate, now).used == 1
    first.dispose()
    second.dispose()


def test_no_key_in_storage() -> None:
    """The key's digest, never the key, names a bucket."""
    assert "secret-key" not in rate_limits.key_identity("secret-key", "t")
    assert rate_limits.key_identity("", "t") == "tenant-t"
