"""`JobQueue` with Redis carrying dispatch and leases, and the job *state* in the metadata store.

Why a minimal design and not Dramatiq, RQ, Celery, Huey or arq
----------------------------------------------------------------
The port is pull-based with per-job ownership: ``claim(owner)`` → ``heartbeat`` → ``complete``/``fail``,
where a worker that lost its lease must not be able to finish the job, and the state the API reports
(status, attempts, last error) lives in the metadata store, enqueued in the caller's transaction. Each
library owns the worker loop and message lifecycle instead, and none gives exactly-once completion:

* Huey (Redis storage) pops messages without acknowledgement: a worker killed by SIGKILL loses its job.
* RQ moves an abandoned job to its failed registry instead of running it again; it forks per job.
* Celery (``acks_late`` + visibility timeout) and Dramatiq (unacked messages of a dead consumer are
  requeued by heartbeat) redeliver, but to *any* consumer while the first may still be running, with no
  fencing: two workers can both finish the job. Both also want to own the process model.
* arq is asyncio-only; the workers here are threads.

So the queue is ~5 atomic Lua scripts over three Redis structures, and fencing is done where the state
lives, by compare-and-set on ``jobs.lease_owner`` in the metadata store:

* ``{ns}:ready:<kind>`` sorted set, job id → time it may run (ms, Redis clock); ``{ns}:kinds`` set.
* ``{ns}:leases`` sorted set, job id → lease expiry; ``{ns}:owner`` and ``{ns}:kindof`` hashes.
* ``claim`` (one script): move expired leases back to ready, pop the earliest ready job of the wanted
  kinds, lease it to the owner. Then one SQL UPDATE marks the row ``running`` for that owner (attempts+1);
  if the row is already ``done``/``failed`` (its old owner finished just in time), the lease is dropped.
* ``heartbeat`` extends the lease only while the owner still holds it (Redis and SQL).
* ``complete``/``fail`` are SQL compare-and-set on the owner first: a worker whose job was reclaimed
  changes nothing, so exactly one worker completes each job. Redis is told afterwards.
* Times come from Redis's ``TIME``: workers on many machines share one clock.

Redis needs no persistence: ``recover`` (run by ``claim`` every `sweep_seconds`) re-adds queued jobs and
expired running jobs from the metadata store that Redis does not know (a Redis restart, a process that
died between its commit and its push).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from framedex.ids import new_id, utcnow
from framedex.jobs.queue import Job, SqlJobQueue
from framedex.storage.metadata import SqlMetadataStore
from framedex.storage.tables import JobRow

_NOW = "local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"

_CLAIM = _NOW + """
local ns, lease, owner = ARGV[1], tonumber(ARGV[2]), ARGV[3]
for _, id in ipairs(redis.call('ZRANGEBYSCORE', ns .. ':leases', '-inf', now)) do
  local kind = redis.call('HGET', ns .. ':kindof', id)
  redis.call('ZREM', ns .. ':leases', id)
  redis.call('HDEL', ns .. ':owner', id)
  if kind then redis.call('ZADD', ns .. ':ready:' .. kind, now, id) end
end
local kinds = {}
if #ARGV > 3 then
  for i = 4, #ARGV do kinds[#kinds + 1] = ARGV[i] end
else
  kinds = redis.call('SMEMBERS', ns .. ':kinds')
end
local best, best_kind, best_at = nil, nil, nil
for _, kind in ipairs(kinds) do
  local r = redis.call('ZRANGEBYSCORE', ns .. ':ready:' .. kind, '-inf', now, 'WITHSCORES', 'LIMIT', 0, 1)
  if #r > 0 and (best_at == nil or tonumber(r[2]) < best_at) then
    best, best_kind, best_at = r[1], kind, tonumber(r[2])
  end
end
if not best then return false end
redis.call('ZREM', ns .. ':ready:' .. best_kind, best)
redis.call('ZADD', ns .. ':leases', now + lease, best)
redis.call('HSET', ns .. ':owner', best, owner)
return best
"""

_HEARTBEAT = _NOW + """
local ns, id, owner, lease = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
if redis.call('HGET', ns .. ':owner', id) ~= owner then return 0 end
redis.call('ZADD', ns .. ':leases', now + lease, id)
return 1
"""

# Drop the owner's lease; with a delay >= 0 the job is ready again after it, else it is forgotten.
_RELEASE = _NOW + """
local ns, id, owner, delay = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
if owner ~= '' and redis.call('HGET', ns .. ':owner', id) ~= owner then return 0 end
redis.call('ZREM', ns .. ':leases', id)
redis.call('HDEL', ns .. ':owner', id)
if delay >= 0 then
  local kind = redis.call('HGET', ns .. ':kindof', id)
  if kind then redis.call('ZADD', ns .. ':ready:' .. kind, now + delay, id) end
else
  redis.call('HDEL', ns .. ':kindof', id)
end
return 1
"""

# Make a job known and ready (NX: never moves a job that is already scheduled). ARGV: ns, delay, then
# id/kind pairs.
_PUSH = _NOW + """
local ns, delay = ARGV[1], tonumber(ARGV[2])
for i = 3, #ARGV, 2 do
  local id, kind = ARGV[i], ARGV[i + 1]
  if redis.call('ZSCORE', ns .. ':leases', id) == false then
    redis.call('SADD', ns .. ':kinds', kind)
    redis.call('HSET', ns .. ':kindof', id, kind)
    redis.call('ZADD', ns .. ':ready:' .. kind, 'NX', now + delay, id)
  end
end
return 1
"""


class RedisJobQueue(SqlJobQueue):
    """`JobQueue` on Redis (dispatch, leases) + the metadata store (state, fencing). `url`: ``redis://...``.

    The SQL half (the rows, the owner compare-and-sets, purging, counting) is `SqlJobQueue`'s; this class adds
    the Redis half: who may claim what next, and the leases that hand a dead worker's job to another."""

    def __init__(self, store: SqlMetadataStore, url: str, *, lease_seconds: float = 60.0, max_attempts: int = 3,
                 retry_backoff_seconds: float = 2.0, namespace: str = "framedex:jobs",
                 sweep_seconds: float = 30.0) -> None:
        import redis

        super().__init__(store, lease_seconds=lease_seconds, max_attempts=max_attempts,
                         retry_backoff_seconds=retry_backoff_seconds)
        self.redis = redis.Redis.from_url(url)
        self.lease_ms = max(1, int(lease_seconds * 1000))
        # A hash tag keeps every key of the queue in one slot (Redis Cluster runs multi-key scripts only so).
        self.ns = "{" + namespace + "}"
        self.sweep_seconds = sweep_seconds
        self._next_sweep = 0.0
        self._sweep_lock = threading.Lock()
        self._claim = self.redis.register_script(_CLAIM)
        self._heartbeat = self.redis.register_script(_HEARTBEAT)
        self._release = self.redis.register_script(_RELEASE)
        self._push = self.redis.register_script(_PUSH)

    # --- enqueue -----------------------------------------------------------------------------------

    def enqueue(self, kind: str, payload: dict[str, Any], *, session: Session | None = None,
                max_attempts: int | None = None) -> str:
        """The row is written in the caller's session when given (outbox): Redis hears of the job only after
        that session commits, so a rolled-back request never runs a job, and no worker can pop a job whose
        row is not visible yet."""
        row = JobRow(id=new_id(), kind=kind, payload=payload, status="queued",
                     max_attempts=max_attempts or self.max_attempts, available_at=utcnow())
        if session is None:
            with self.store.session() as own:
                own.add(row)
            self._push(args=[self.ns, 0, row.id, kind])
            return row.id
        session.add(row)
        pending: list[str] | None = session.info.get("framedex_redis_jobs")
        if pending is None:
            pending = session.info["framedex_redis_jobs"] = []
            event.listen(session, "after_commit", self._after_commit)
            event.listen(session, "after_soft_rollback", self._after_rollback)
        pending.extend((row.id, kind))
        return row.id

    def _after_commit(self, session: Session) -> None:
        pending = session.info.get("framedex_redis_jobs")
        if pending:
            # If this fails (Redis down), `recover` finds the committed rows later.
            self._push(args=[self.ns, 0, *pending])
            pending.clear()

    def _after_rollback(self, session: Session, _previous: Any) -> None:
        pending = session.info.get("framedex_redis_jobs")
        if pending:
            pending.clear()

    # --- worker side -------------------------------------------------------------------------------

    def claim(self, owner: str, kinds: list[str] | None = None) -> Job | None:
        if time.monotonic() >= self._next_sweep:
            self.recover()
        while True:
            raw = self._claim(args=[self.ns, self.lease_ms, owner, *(kinds or [])])
            if not raw:
                return None
            job_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            now = utcnow()
            with self.store.session() as session:
                result = session.execute(
                    update(JobRow)
                    .where(JobRow.id == job_id, JobRow.status.in_(["queued", "running"]))
                    .values(status="running", lease_owner=owner, lease_expires_at=now + self.lease,
                            attempts=JobRow.attempts + 1, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount == 1:  # type: ignore[attr-defined]
                    row = session.get(JobRow, job_id)
                    assert row is not None
                    session.refresh(row)
                    return Job(row.id, row.kind, dict(row.payload), row.attempts, row.max_attempts)
            # Finished meanwhile by its previous owner, or its row is gone: forget it, try the next one.
            self._release(args=[self.ns, job_id, owner, -1])

    def heartbeat(self, job_id: str, owner: str) -> bool:
        if not self._heartbeat(args=[self.ns, job_id, owner, self.lease_ms]):
            return False
        return super().heartbeat(job_id, owner)  # mirrored for the API and for `recover`

    def complete(self, job_id: str, owner: str) -> bool:
        won = super().complete(job_id, owner)
        if won:
            self._release(args=[self.ns, job_id, owner, -1])
        return won

    def fail(self, job_id: str, owner: str, error: str, *, retry: bool) -> bool:
        if not super().fail(job_id, owner, error, retry=retry):
            return False
        with self.store.session() as session:
            row = session.get(JobRow, job_id)
            queued_at = row.available_at if row is not None and row.status == "queued" else None
        delay = -1 if queued_at is None else max(0, int((queued_at - utcnow()).total_seconds() * 1000))
        self._release(args=[self.ns, job_id, owner, delay])
        return True

    def release(self, job_id: str, owner: str) -> bool:
        won = super().release(job_id, owner)
        if won:
            self._release(args=[self.ns, job_id, owner, 0])
        return won

    def recover(self) -> int:
        """Re-announce to Redis what the metadata store says should be runnable: queued jobs, and running jobs
        whose lease ran out, that Redis does not hold. Returns how many were re-added."""
        with self._sweep_lock:
            self._next_sweep = time.monotonic() + self.sweep_seconds
            now = utcnow()
            with self.store.session() as session:
                rows = session.execute(
                    select(JobRow.id, JobRow.kind).where(
                        (JobRow.status == "queued")
                        | ((JobRow.status == "running") & (JobRow.lease_expires_at < now)))
                ).all()
            if not rows:
                return 0
            pipe = self.redis.pipeline(transaction=False)
            for job_id, kind in rows:
                pipe.zscore(f"{self.ns}:ready:{kind}", job_id)
                pipe.zscore(f"{self.ns}:leases", job_id)
            known = pipe.execute()
            lost = [(job_id, kind) for n, (job_id, kind) in enumerate(rows)
                    if known[2 * n] is None and known[2 * n + 1] is None]
            if lost:
                self._push(args=[self.ns, 0, *[x for pair in lost for x in pair]])
            return len(lost)

    def close(self) -> None:
        self.redis.close()
        super().close()
