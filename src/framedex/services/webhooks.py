"""Webhook delivery: POST a JSON event to each endpoint with a bounded timeout and a few retries.

Every URL is checked with :func:`framedex.ingest.fetch.validate_url` before each attempt, so a webhook
never reaches a loopback or private address unless the operator allows them
(``FRAMEDEX_ALLOW_PRIVATE_URLS``). Redirects are not followed. The outcome per endpoint is reported in
the wire shape of ``AnalyzeTaskWebhookInfo`` (``url``, ``delivered``, ``attempts``, ``last_error``).

Delivery runs on the worker that finished the task, so a receiver must not be able to hold it: each attempt
connects through :mod:`framedex.ingest.safe_http` (the connected address is the checked one, so DNS
rebinding cannot aim it at a private address), reads at most ``MAX_REPLY_BYTES`` of the reply (only the
status matters), and ends within ``webhook_timeout_seconds`` of wall clock whatever the receiver's pace.
One URL therefore costs at most ``attempts`` times that plus the backoff.

Every delivery is signed as the Twelve Labs platform signs its webhooks: a ``TL-Signature`` header
``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` keyed with the tenant's webhook secret
(:func:`tenant_secret`; ``framedex keys webhook-secret`` prints it). A receiver recomputes the HMAC over the
bytes it received and rejects old timestamps (:func:`verify` does both), so a forged or replayed event is
refused. Each retry signs afresh with its own timestamp; the event ``id`` stays the same.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import httpx

from framedex.config import Settings
from framedex.domain_errors import ServiceError
from framedex.ids import rfc3339, utcnow
from framedex.ingest.fetch import REFUSED
from framedex.ingest.safe_http import BlockedAddress, Deadline, guarded_client, read_at_most

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
MAX_REPLY_BYTES = 4096
BUDGET_URLS = 5


def event_id(subject_id: str, event_type: str) -> str:
    """Stable per logical event, so retries of the same event carry the same id."""
    return "evt_" + hashlib.sha1(f"{subject_id}:{event_type}".encode()).hexdigest()[:24]


def event(subject_id: str, event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": event_id(subject_id, event_type), "created_at": rfc3339(utcnow()), "type": event_type,
            "data": data}


SIGNATURE_HEADER = "TL-Signature"
# How old a signed timestamp a receiver should still accept (verify's default): long enough for clock skew,
# short enough that a captured delivery cannot be replayed later.
TOLERANCE_SECONDS = 300


def tenant_secret(signing_key: bytes, tenant_id: str) -> str:
    """The tenant's webhook secret. Derived from the data dir's signing key, so it needs no storage, differs
    per tenant (one tenant cannot forge events for another's receiver) and never leaves the server except
    through the operator's CLI."""
    return "whsec_" + hmac.new(signing_key, f"webhook-secret:{tenant_id}".encode(), hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``TL-Signature`` header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, body: bytes, header: str, *, tolerance: float = TOLERANCE_SECONDS,
           now: float | None = None) -> bool:
    """What a receiver does: the signature matches the raw body (in constant time) and is recent."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def deliver(settings: Settings, urls: list[str], payload: dict[str, Any], *,
            attempts: int = MAX_ATTEMPTS, backoff: float = 0.5, secret: str | None = None) -> list[dict[str, Any]]:
    """Send ``payload`` to every URL; returns one delivery-info dict per URL.

    The whole call is bounded too, not only each attempt: nothing caps how many URLs a task names, so
    one event gets the time of ``BUDGET_URLS`` URLs' worth of attempts, and URLs it does not reach are
    reported as not sent."""
    from framedex.ingest.fetch import validate_url

    # One URL's worst case is every attempt timing out plus every backoff sleep.
    per_url = attempts * settings.webhook_timeout_seconds + backoff * (2 ** (attempts - 1) - 1)
    budget = Deadline(BUDGET_URLS * per_url)
    infos: list[dict[str, Any]] = []
    for url in dict.fromkeys(urls):
        info: dict[str, Any] = {"url": url, "delivered": False, "attempts": 0}
        for attempt in range(attempts):
            if budget.remaining() < 0.1:
                info["last_error"] = (info.get("last_error", "not sent") +
                                      f"; this event's delivery time ({budget.seconds:g} s) was spent")
                break
            try:
                validate_url(url, allow_private=settings.allow_private_urls, deadline=budget)
            except ServiceError as exc:
                info["last_error"] = f"refused: {exc.message}"
                break
            info["attempts"] += 1
            try:
                status = _post(settings, url, payload, min(settings.webhook_timeout_seconds, budget.remaining()),
                               secret)
            except BlockedAddress as exc:  # the name moved to a private address after the check above
                # Where the name leads stays in the log: in the task it would map this network's DNS.
                log.info("webhook %s to %s refused: %s", payload.get("id"), url, exc)
                info["last_error"] = REFUSED
                break
            except _AttemptTimedOut as exc:
                info["last_error"] = str(exc)
            except httpx.HTTPError as exc:
                # httpx's text names addresses, ports and protocol internals (review #18): the log keeps it.
                log.info("webhook %s to %s: %r", payload.get("id"), url, exc)
                info["last_error"] = _describe(exc)
            else:
                if 200 <= status < 300:
                    info["delivered"] = True
                    info.pop("last_error", None)
                    log.info("webhook %s to %s delivered (attempt %d)", payload.get("id"), url, info["attempts"])
                    break
                info["last_error"] = f"HTTP {status}"
            # Each failed attempt is logged, so an operator sees retries as they happen, not only the outcome.
            log.info("webhook %s to %s: attempt %d failed: %s", payload.get("id"), url, info["attempts"],
                     info.get("last_error"))
            if attempt + 1 < attempts:
                time.sleep(min(backoff * (2**attempt), max(0.0, budget.remaining())))
        if not info["delivered"]:
            log.warning("webhook %s to %s not delivered: %s", payload.get("id"), url, info.get("last_error"))
        infos.append(info)
    return infos


class _AttemptTimedOut(Exception):
    pass


def _describe(exc: httpx.HTTPError) -> str:
    """What a task's delivery info says about a failed attempt."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return "the receiver could not be connected to"
    if isinstance(exc, httpx.TimeoutException):
        return "the receiver did not answer in time"
    return "the connection to the receiver failed"


def _post(settings: Settings, url: str, payload: dict[str, Any], limit: float, secret: str | None = None) -> int:
    """One attempt: the reply's status code, within ``limit`` seconds of wall clock."""
    clock = Deadline(limit)
    # Serialised here, so that the signed bytes are exactly the bytes sent.
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = {"User-Agent": "framedex-webhooks/1", "X-Framedex-Event": str(payload.get("type", "")),
               "Content-Type": "application/json"}
    if secret is not None:
        headers[SIGNATURE_HEADER] = sign(secret, body, int(time.time()))
    try:
        with (guarded_client(allow_private=settings.allow_private_urls, deadline=clock, timeout=limit) as client,
              client.stream("POST", url, content=body, headers=headers) as response):
            # A little of the body, so a receiver that writes a short reply is not cut off mid-write; the
            # rest is never read. Only the status matters, and it has arrived: a body that stalls until the
            # deadline does not undo the delivery.
            with contextlib.suppress(httpx.TimeoutException):
                read_at_most(response, MAX_REPLY_BYTES)
            return response.status_code
    except httpx.TimeoutException as exc:
        if clock.expired:
            raise _AttemptTimedOut(f"no reply within {limit:g} s") from exc
        raise
