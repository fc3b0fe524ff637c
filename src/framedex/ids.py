"""Identifiers and timestamps in the wire format of the real API."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime


def new_id() -> str:
    """A 24-hex id shaped like a MongoDB ObjectId (time-ordered by the second), as the real API uses.

    The tail is fully random: an ObjectId-style process-wide counter would let a tenant measure every other
    tenant's activity from the difference between two of its own ids (security review #18)."""
    return f"{int(time.time()):08x}{secrets.token_hex(8)}"


def is_id(value: str) -> bool:
    return len(value) == 24 and all(c in "0123456789abcdef" for c in value)


def utcnow() -> datetime:
    return datetime.now(UTC)


def rfc3339(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # SQLite drops tzinfo; everything we store is UTC.
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def parse_rfc3339(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
