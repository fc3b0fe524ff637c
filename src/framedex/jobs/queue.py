"""Job queue port and its adapter on the metadata store.

A job is claimed with a lease that its worker keeps extending (heartbeat). When a worker
dies, its lease runs out and any other worker reclaims the job, so nothing stays
`running` forever. Claiming is an optimistic compare-and-set UPDATE, which is correct on
SQLite (one writer at a time) and on PostgreSQL (row-level write conflicts), with no
dialect-specific SQL.

Every write a worker makes to its job (heartbeat, complete, fail, release) is a compare-and-set on
`lease_owner` and `status = 'running'`: a worker whose lease was taken over can no longer change
the job, so its late report cannot overwrite the new owner's outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.orm import Session

from framedex.ids import new_id, utcnow
from framedex.storage.metadata import SqlMetadataStore
from framedex.storage.tables import JobRow


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int

    @property
    def exhausted(self) -> bool:
        """True when earlier attempts died without reporting (e.g. the worker was killed each time)."""
        return self.attempts > self.max_attempts


class JobQueue(Protocol):
    def enqueue(self, kind: str, payload: dict[str, Any], *, session: Session | None = None,
                max_attempts: int | None = None) -> str: ...

    def claim(self, owner: str, kinds: list[str] | None = None) -> Job | None: ...

    def heartbeat(self, job_id: str, owner: str) -> bool: ...

    def complete(self, job_id: str, owner: str) -> bool: ...

    def fail(self, job_id: str, owner: str, error: str, *, retry: bool) -> bool: ...

    def release(self, job_id: str, owner: str) -> bool: ...

    def purge_finished(self, older_than: timedelta) -> int: ...

    def pending_count(self) -> int: ...

    @property
    def lease_seconds(self) -> float: ...

    def close(self) -> None: ...


class SqlJobQueue:
    def __init__(self, store: SqlMetadataStore, *, lease_seconds: float = 60.0, max_attempts: int = 3,
                 retry_backoff_seconds: float = 2.0) -> None:
        self.store = store
        self.lease = timedelta(seconds=lease_seconds)
        self.max_attempts = max_attempts
        self.retry_backoff = retry_backoff_seconds

    @property
    def lease_seconds(self) -> float:
        return self.lease.total_seconds()

    @staticmethod
    def _owned(job_id: str, owner: str) -> Any:
        return and_(JobRow.id == job_id, JobRow.lease_owner == owner, JobRow.status == "running")

    def enqueue(self, kind: str, payload: dict[str, Any], *, session: Session | None = None,
                max_attempts: int | None = None) -> str:
        """Enqueue; pass the caller's session to make the job part of its transaction (outbox)."""
        row = JobRow(id=new_id(), kind=kind, payload=payload, status="queued",
                     max_attempts=max_attempts or self.max_attempts, available_at=utcnow())
        if session is not None:
            session.add(row)
        else:
            with self.store.session() as own:
                own.add(row)
        return row.id

    def _claimable(self, now: Any) -> Any:
        return or_(
            and_(JobRow.status == "queued", JobRow.available_at <= now),
            and_(JobRow.status == "running", JobRow.lease_expires_at < now),
        )

    def claim(self, owner: str, kinds: list[str] | None = None) -> Job | None:
        for _ in range(5):  # lose a race, try the next candidate
            now = utcnow()
            with self.store.session() as session:
                query = select(JobRow.id).where(self._claimable(now))
                if kinds:
                    query = query.where(JobRow.kind.in_(kinds))
                job_id = session.execute(query.order_by(JobRow.available_at).limit(1)).scalar()
                if job_id is None:
                    return None
                result = session.execute(
                    update(JobRow)
                    .where(JobRow.id == job_id, self._claimable(now))
                    .values(status="running", lease_owner=owner, lease_expires_at=now + self.lease,
                            attempts=JobRow.attempts + 1, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount != 1:  # type: ignore[attr-defined]
                    continue
                row = session.get(JobRow, job_id)
                assert row is not None
                session.refresh(row)
                return Job(row.id, row.kind, dict(row.payload), row.attempts, row.max_attempts)
        return None

    def heartbeat(self, job_id: str, owner: str) -> bool:
        """Extend the lease; False when `owner` no longer holds it (the worker must stop)."""
        now = utcnow()
        with self.store.session() as session:
            result = session.execute(
                update(JobRow).where(self._owned(job_id, owner))
                .values(lease_expires_at=now + self.lease)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def complete(self, job_id: str, owner: str) -> bool:
        """Mark the job done; False (and no change) when `owner` lost the lease meanwhile."""
        with self.store.session() as session:
            result = session.execute(
                update(JobRow).where(self._owned(job_id, owner))
                .values(status="done", lease_expires_at=None, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def fail(self, job_id: str, owner: str, error: str, *, retry: bool) -> bool:
        """Queue the job again after a back-off (when `retry` and attempts remain) or mark it failed."""
        now = utcnow()
        with self.store.session() as session:
            attempts = session.execute(
                select(JobRow.attempts, JobRow.max_attempts).where(self._owned(job_id, owner))
            ).first()
            if attempts is None:
                return False
            again = retry and attempts[0] < attempts[1]
            values: dict[str, Any] = {"last_error": error[:4000], "lease_expires_at": None, "updated_at": now}
            if again:
                values.update(status="queued", available_at=now + timedelta(seconds=self.retry_backoff * attempts[0]))
            else:
                values.update(status="failed")
            # The read above is only for the back-off; the owner check that counts is this UPDATE's.
            result = session.execute(
                update(JobRow).where(self._owned(job_id, owner)).values(**values)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def release(self, job_id: str, owner: str) -> bool:
        """Give the job back unfinished, for a graceful shutdown: it is claimable at once and the
        interrupted attempt is not counted, so deploys and restarts never exhaust a job's attempts."""
        now = utcnow()
        with self.store.session() as session:
            result = session.execute(
                update(JobRow).where(self._owned(job_id, owner))
                .values(status="queued", lease_owner=None, lease_expires_at=None, available_at=now,
                        attempts=case((JobRow.attempts > 0, JobRow.attempts - 1), else_=0), updated_at=now)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def purge_finished(self, older_than: timedelta) -> int:
        """Delete jobs that ended (done or failed) longer than `older_than` ago; the table stays small."""
        cutoff = utcnow() - older_than
        with self.store.session() as session:
            result = session.execute(
                delete(JobRow).where(JobRow.status.in_(["done", "failed"]), JobRow.updated_at < cutoff)
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    def pending_count(self) -> int:
        with self.store.session() as session:
            return int(session.execute(
                select(func.count()).select_from(JobRow).where(JobRow.status.in_(["queued", "running"]))
            ).scalar_one())

    def close(self) -> None:
        """Nothing of its own to release: the metadata store's pool belongs to the store."""
