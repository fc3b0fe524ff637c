"""`Idempotency-Key` on `POST /analyze/tasks`, the one route where the reference says the API reads it."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import httpx

from framedex.api import idempotency
from framedex.ids import utcnow
from framedex.services import auth
from framedex.storage.tables_limits import IdempotencyRow
from tests.analysis.conftest import FakeServer, insert_video


def _total(client: httpx.Client) -> int:
    return int(client.get("/analyze/tasks", params={"page_limit": 1}).json()["page_info"]["total_results"])


def test_same_key_and_body_replays_the_first_answer(fake_server: FakeServer, fhttp: httpx.Client) -> None:
    video = insert_video(fake_server.platform, fake_server.tenant, duration=20.0, speech=[(0.0, 5.0, "glaciers")])
    before = _total(fhttp)
    body = {"video_id": video.id, "prompt": "Summarize", "temperature": 0.2}
    first = fhttp.post("/analyze/tasks", json=body, headers={"Idempotency-Key": "order-42"})
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    # the same JSON, keys in another order and other spacing: the same request
    again = fhttp.post("/analyze/tasks", content=json.dumps(dict(reversed(body.items())), indent=2),
                       headers={"Idempotency-Key": "order-42", "content-type": "application/json"})
    assert again.status_code == 201 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert _total(fhttp) == before + 1  # the work was done once

    other = fhttp.post("/analyze/tasks", json={**body, "prompt": "Something else"},
                       headers={"Idempotency-Key": "order-42"})
    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_mismatch"
    without = fhttp.post("/analyze/tasks", json=body)
    assert without.status_code == 201 and without.json()["task_id"] != first.json()["task_id"]
    assert _total(fhttp) == before + 2

    bad = fhttp.post("/analyze/tasks", json=body, headers={"Idempotency-Key": "has spaces"})
    assert bad.status_code == 400 and bad.json()["code"] == "parameter_invalid"


def test_a_failed_first_request_frees_the_key(fake_server: FakeServer, fhttp: httpx.Client) -> None:
    video = insert_video(fake_server.platform, fake_server.tenant, duration=20.0, speech=[(0.0, 5.0, "lava")])
    refused = fhttp.post("/analyze/tasks", json={"video_id": video.id}, headers={"Idempotency-Key": "fix-me"})
    assert refused.status_code == 400, refused.text
    fixed = fhttp.post("/analyze/tasks", json={"video_id": video.id, "prompt": "Summarize"},
                       headers={"Idempotency-Key": "fix-me"})
    assert fixed.status_code == 201 and "idempotent-replayed" not in fixed.headers


def test_keys_are_per_tenant_and_expire(fake_server: FakeServer, fhttp: httpx.Client) -> None:
    platform = fake_server.platform
    key2, info2 = auth.create_key(platform, "idempotency-other-tenant")
    assert info2.tenant_id != fake_server.tenant
    mine = insert_video(platform, fake_server.tenant, duration=20.0, speech=[(0.0, 5.0, "whales")])
    theirs = insert_video(platform, info2.tenant_id, duration=20.0, speech=[(0.0, 5.0, "whales")])
    first = fhttp.post("/analyze/tasks", json={"video_id": mine.id, "prompt": "Summarize"},
                       headers={"Idempotency-Key": "shared-name"})
    assert first.status_code == 201
    with httpx.Client(base_url=fake_server.api, headers={"x-api-key": key2}, timeout=60) as other:
        theirs_created = other.post("/analyze/tasks", json={"video_id": theirs.id, "prompt": "Summarize"},
                                    headers={"Idempotency-Key": "shared-name"})
    assert theirs_created.status_code == 201, theirs_created.text  # not a mismatch: another account's key
    assert theirs_created.json()["task_id"] != first.json()["task_id"]

    # Past idempotency_ttl_seconds the key is forgotten: the same request runs again.
    with platform.store.session() as s:
        row = s.get(IdempotencyRow, idempotency.record_id(fake_server.tenant, "shared-name"))
        assert row is not None and row.status == 201
        row.created_at = utcnow() - timedelta(seconds=platform.settings.idempotency_ttl_seconds + 5)
    later = fhttp.post("/analyze/tasks", json={"video_id": mine.id, "prompt": "Summarize"},
                       headers={"Idempotency-Key": "shared-name"})
    assert later.status_code == 201 and "idempotent-replayed" not in later.headers
    assert later.json()["task_id"] != first.json()["task_id"]


def test_concurrent_repeats_create_one_task(fake_server: FakeServer, fhttp: httpx.Client) -> None:
    video = insert_video(fake_server.platform, fake_server.tenant, duration=20.0, speech=[(0.0, 5.0, "ash")])
    before = _total(fhttp)
    body = {"video_id": video.id, "prompt": "Summarize"}
    answers: list[httpx.Response] = []
    gate = threading.Barrier(6)

    def send() -> None:
        with httpx.Client(base_url=fake_server.api, headers={"x-api-key": fake_server.key}, timeout=60) as c:
            gate.wait()
            answers.append(c.post("/analyze/tasks", json=body, headers={"Idempotency-Key": "burst-1"}))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(answers) == 6
    created: set[Any] = {a.json()["task_id"] for a in answers if a.status_code == 201}
    assert len(created) == 1, [(a.status_code, a.text) for a in answers]
    for a in answers:
        assert a.status_code in (201, 409), a.text
        if a.status_code == 409:
            assert a.json()["code"] == "idempotency_key_in_use" and a.headers["retry-after"] == "1"
    assert _total(fhttp) == before + 1


def test_the_official_sdk_sends_the_key_and_gets_one_task(fake_server: FakeServer, fhttp: httpx.Client) -> None:
    from twelvelabs import TwelveLabs

    tl = TwelveLabs(api_key=fake_server.key, base_url=fake_server.api)
    video = insert_video(fake_server.platform, fake_server.tenant, duration=20.0, speech=[(0.0, 5.0, "ice")])
    before = _total(fhttp)
    options: Any = {"additional_headers": {"Idempotency-Key": "sdk-retry-1"}}
    first = tl.analyze_async.tasks.create(video={"type": "asset_id", "asset_id": video.asset_id},
                                          prompt="Summarize", request_options=options)
    second = tl.analyze_async.tasks.create(video={"type": "asset_id", "asset_id": video.asset_id},
                                           prompt="Summarize", request_options=options)
    assert first.task_id == second.task_id
    assert _total(fhttp) == before + 1
