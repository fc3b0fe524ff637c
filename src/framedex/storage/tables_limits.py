"""ORM tables of the API's limits: per-key rate-limit windows and `Idempotency-Key` records.

Imported by `storage.metadata.create_schema` so that `Base.metadata.create_all` creates them. They live in
the metadata store (not in a process's memory) so that every API process on one database counts the same
requests and replays the same idempotent answers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from framedex.storage.tables import Base
from framedex.storage.types import UTCDateTime


class RateWindowRow(Base):
    """One fixed window of one (API key, rate-limited route): `count` requests since `window_start` (Unix
    seconds, a multiple of the window's length). One row per bucket, rewritten in place by an atomic upsert,
    so the table stays as small as the number of keys times routes."""

    __tablename__ = "rate_windows"
    bucket: Mapped[str] = mapped_column(String(120), primary_key=True)  # "<key digest>:<route name>"
    window_start: Mapped[int] = mapped_column(BigInteger)
    count: Mapped[int] = mapped_column(Integer)


class IdempotencyRow(Base):
    """The first answer to a POST sent with an `Idempotency-Key`: a repeat with the same key and body gets it
    again; `status` is 0 while the first request is still being answered."""

    __tablename__ = "idempotency_keys"
    id: Mapped[str] = mapped_column(String(120), primary_key=True)  # "<tenant>:<sha256 of the key>"
    route: Mapped[str] = mapped_column(String(200))
    body_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer, default=0)
    content_type: Mapped[str] = mapped_column(String(200), default="application/json")
    body: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
