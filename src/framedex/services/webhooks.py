"""Webhook delivery: POST a JSON event to each endpoint with a bounded timeout and a few retries.

Every URL is checked with :func:`framedex.ingest.fetch.validate_url` before each attempt, so a webhook
never reaches a loopback or private address unless the operator allows them
(``FRAMEDEX_ALLOW_PRIVATE_URLS``). Redirects are not followed. The outcome per endpoint is reported in
the wire shape of ``AnalyzeTaskWebhookInfo`` (``url``, ``delivered``, ``attempts``, ``last_error``).
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

import httpx

from framedex.config import Settings
from framedex.domain_errors import ServiceError
from framedex.ids import rfc3339, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3


def event_id(subject_id: str, event_type: str) -> str:
    """Stable per logical event, so retries of the same event carry the same id."""
    return "evt_" + hashlib.sha1(f"{subject_id}:{event_type}".encode()).hexdigest()[:24]


def event(subject_id: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": event_id(subject_id, event_type), "created_at": rfc3339(utcnow()), "type": event_type,
            "data": data}


def deliver(settings: Settings, urls: list[str], payload: dict[str, Any], *,
            attempts: int = MAX_ATTEMPTS, backoff: float = 0.5) -> list[dict[str, Any]]:
    """Send ``payload`` to every URL; returns one delivery-info dict per URL."""
    from framedex.ingest.fetch import validate_url

    infos: list[dict[str, Any]] = []
    for url in dict.fromkeys(urls):
        info: dict[str, Any] = {"url": url, "delivered": False, "attempts": 0}
        for attempt in range(attempts):
            try:
                validate_url(url, allow_private=settings.allow_private_urls)
            except ServiceError as exc:
                info["last_error"] = f"refused: {exc.message}"
                break
            info["attempts"] += 1
            try:
                with httpx.Client(timeout=settings.webhook_timeout_seconds, follow_redirects=False) as client:
                    response = client.post(url, json=payload, headers={"User-Agent": "framedex-webhooks/1",
                                                                        "X-Framedex-Event": payload.get("type", "")})
                if 200 <= response.status_code < 300:
                    info["delivered"] = True
                    info.pop("last_error", None)
                    break
                info["last_error"] = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                info["last_error"] = f"{type(exc).__name__}: {exc}"[:300]
            if attempt + 1 < attempts:
                time.sleep(backoff * (2**attempt))
        if not info["delivered"]:
            log.info("webhook to %s not delivered: %s", url, info.get("last_error"))
        infos.append(info)
    return infos
