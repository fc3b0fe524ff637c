"""`VectorIndex` on PostgreSQL + pgvector: the scale-out adapter (same semantics as the embedded one).

Schema (created on open, idempotently, in the metadata database or any other)::

    fdx_vector_collections(id, tenant_id, index_id, space, dim, ann)   one row per collection
    fdx_vectors(collection_id, video_id, vno, clip_seq, start_s, end_s, payload jsonb, embedding vector)

One table holds every collection, whatever its dimension: the ``embedding`` column is an untyped
``vector``. A collection that outgrows `ann_threshold` vectors gets its own *partial* HNSW index
(cosine) on ``(embedding::vector(dim)) WHERE collection_id = <id>``. Per-collection indexes matter
twice: pgvector's HNSW needs a fixed dimension, and a filter applied after an HNSW scan over *all*
tenants' vectors would leave too few of this collection's (pgvector < 0.8 has no iterative scans).

Search, as the embedded adapter:

* **Exact** while the collection is small (<= `ann_threshold`) or the ``video_ids`` filter keeps few
  vectors: ``ORDER BY embedding <=> q`` on the untyped column, which no HNSW index can serve, so
  PostgreSQL scans the collection (btree on collection/video) and ranks every vector exactly.
  Grouping by clip/video uses ``DISTINCT ON``, the best vector of each group, before the cut to `k`.
* **HNSW** above: over-fetch ``fetch`` candidates (``hnsw.ef_search`` raised to match, pgvector caps it
  at 1000), filter and group them; a group's hit is re-scored exactly as its best vector (HNSW may
  reach a group through a weaker vector). When filtering or grouping leaves fewer than `k` while the
  collection holds more, the query is answered exactly instead: the filter is exact, never lossy.
  The two statements of the HNSW path run in one REPEATABLE READ transaction, so they see one version.

Atomicity: `replace_video` deletes and inserts a video's rows in one transaction; PostgreSQL's MVCC
gives readers the old or the new rows, never a mix. Scores: ``1 - cosine distance``, computed in
float32 by pgvector (exact to ~1e-6); a zero vector scores 0 (pgvector yields NaN there).
Tenant isolation: a collection row carries its tenant and every query names the collection id.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Collection, Iterator, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, create_engine, event, text

from framedex.storage.vectors import (
    Group,
    VectorHit,
    VectorRecord,
    check_group,
    check_name,
    normalise_rows,
)

log = logging.getLogger(__name__)

_SCHEMA_LOCK = 7316002
_EF_SEARCH_MAX = 1000  # pgvector's upper bound for hnsw.ef_search


def _register_vector(dbapi_connection: Any, _record: Any) -> None:
    from pgvector.psycopg import register_vector

    register_vector(dbapi_connection)


class PgVectorIndex:
    """`VectorIndex` on PostgreSQL with pgvector. `url` is a SQLAlchemy URL (``postgresql+psycopg://...``);
    pass `engine` instead to share the metadata store's pool."""

    def __init__(self, url: str | None = None, *, engine: Engine | None = None, ann_threshold: int = 20_000,
                 over_fetch: int = 8, hnsw_m: int = 16, hnsw_ef_construction: int = 64) -> None:
        if engine is None:
            if url is None:
                raise ValueError("give a database url or an engine")
            if url.startswith(("postgresql://", "postgres://")):
                url = "postgresql+psycopg://" + url.split("://", 1)[1]
            engine = create_engine(url, pool_pre_ping=True)
            self._own_engine = True
        else:
            self._own_engine = False
        if engine.dialect.name != "postgresql":
            raise ValueError("the pgvector adapter needs PostgreSQL")
        self.engine = engine
        self.ann_threshold = ann_threshold
        self.over_fetch = over_fetch
        self.hnsw_m = hnsw_m
        self.hnsw_ef_construction = hnsw_ef_construction
        self._closed = False
        self._create_schema()
        # Registered after the extension exists (register_vector looks the `vector` type up); kept for the
        # engine's life, as a shared engine's other users may hold the same adapter again.
        if not event.contains(self.engine, "connect", _register_vector):
            event.listen(self.engine, "connect", _register_vector)
            self.engine.dispose()  # pooled connections opened before the listener would not know the type

    # --- schema ------------------------------------------------------------------------------------

    def _create_schema(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK})
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
            conn.execute(text(
                "CREATE TABLE IF NOT EXISTS fdx_vector_collections ("
                " id BIGSERIAL PRIMARY KEY, tenant_id VARCHAR(128) NOT NULL, index_id VARCHAR(128) NOT NULL,"
                " space VARCHAR(128) NOT NULL, dim INTEGER NOT NULL, ann BOOLEAN NOT NULL DEFAULT FALSE,"
                " UNIQUE (tenant_id, index_id, space))"))
            conn.execute(text(
                "CREATE TABLE IF NOT EXISTS fdx_vectors ("
                " collection_id BIGINT NOT NULL REFERENCES fdx_vector_collections(id) ON DELETE CASCADE,"
                " video_id VARCHAR(128) NOT NULL, vno INTEGER NOT NULL, clip_seq INTEGER NOT NULL,"
                " start_s DOUBLE PRECISION NOT NULL, end_s DOUBLE PRECISION NOT NULL, payload JSONB,"
                " embedding vector NOT NULL, PRIMARY KEY (collection_id, video_id, vno))"))
            # Vectors and videos per collection, kept by the writers (under the collection's row lock), so that
            # neither a write nor a filtered search has to count a collection of a million rows. Added to
            # collections made before the counts existed, and filled once from the rows.
            conn.execute(text("ALTER TABLE fdx_vector_collections ADD COLUMN IF NOT EXISTS n_vectors BIGINT"))
            conn.execute(text("ALTER TABLE fdx_vector_collections ADD COLUMN IF NOT EXISTS n_videos BIGINT"))
            conn.execute(text(
                "UPDATE fdx_vector_collections c SET n_vectors = s.n, n_videos = s.v FROM (SELECT c2.id, "
                "(SELECT count(*) FROM fdx_vectors WHERE collection_id = c2.id) AS n, "
                "(SELECT count(DISTINCT video_id) FROM fdx_vectors WHERE collection_id = c2.id) AS v "
                "FROM fdx_vector_collections c2 WHERE c2.n_vectors IS NULL) s WHERE c.id = s.id"))

    @contextlib.contextmanager
    def _conn(self, *, repeatable: bool = False) -> Iterator[Connection]:
        if self._closed:
            raise RuntimeError("vector index is closed")
        with self.engine.connect() as conn:
            if repeatable:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def _collection(self, conn: Connection, tenant_id: str, index_id: str, space: str
                    ) -> tuple[int, int, bool] | None:
        row = conn.execute(text("SELECT id, dim, ann FROM fdx_vector_collections "
                                "WHERE tenant_id = :t AND index_id = :i AND space = :s"),
                           {"t": tenant_id, "i": index_id, "s": space}).first()
        return None if row is None else (int(row[0]), int(row[1]), bool(row[2]))

    # --- writes ------------------------------------------------------------------------------------

    def replace_video(self, *, tenant_id: str, index_id: str, space: str, video_id: str,
                      records: Sequence[VectorRecord]) -> None:
        for kind, value in (("tenant id", tenant_id), ("index id", index_id), ("space", space),
                            ("video id", video_id)):
            check_name(kind, value)
        if any(r.video_id != video_id for r in records):
            raise ValueError("every record must carry the video id being replaced")
        vectors = normalise_rows(np.stack([np.asarray(r.vector, dtype=np.float32).ravel() for r in records])
                                 ) if records else np.zeros((0, 0), np.float32)
        payloads = [None if r.payload is None else json.dumps(r.payload) for r in records]
        build: tuple[int, int] | None = None
        with self._conn() as conn:
            coll = self._collection(conn, tenant_id, index_id, space)
            if coll is None:
                if not records:
                    return
                conn.execute(text("INSERT INTO fdx_vector_collections (tenant_id, index_id, space, dim, "
                                  "n_vectors, n_videos) VALUES (:t, :i, :s, :d, 0, 0) ON CONFLICT DO NOTHING"),
                             {"t": tenant_id, "i": index_id, "s": space, "d": vectors.shape[1]})
                coll = self._collection(conn, tenant_id, index_id, space)
                assert coll is not None
            cid, dim, ann = coll
            if records and vectors.shape[1] != dim:
                raise ValueError(f"space {space!r} holds {dim}-d vectors, not {vectors.shape[1]}-d")
            # Serialises writers of one collection (readers are never blocked): the count below and the
            # decision to build the HNSW index see every earlier write.
            conn.execute(text("SELECT 1 FROM fdx_vector_collections WHERE id = :c FOR UPDATE"), {"c": cid})
            removed = conn.execute(text("DELETE FROM fdx_vectors WHERE collection_id = :c AND video_id = :v"),
                                   {"c": cid, "v": video_id}).rowcount
            if records:
                conn.execute(
                    text("INSERT INTO fdx_vectors (collection_id, video_id, vno, clip_seq, start_s, end_s, payload,"
                         " embedding) VALUES (:c, :v, :n, :q, :s, :e, CAST(:p AS JSONB), :x)"),
                    [{"c": cid, "v": video_id, "n": n, "q": int(r.clip_seq), "s": float(r.start), "e": float(r.end),
                      "p": payloads[n], "x": vectors[n]} for n, r in enumerate(records)])
            count = conn.execute(text(
                "UPDATE fdx_vector_collections SET n_vectors = n_vectors - :gone + :added, "
                "n_videos = n_videos - :was + :is WHERE id = :c RETURNING n_vectors"),
                {"c": cid, "gone": removed, "added": len(records), "was": int(removed > 0),
                 "is": int(bool(records))}).scalar_one()
            if not ann and count > self.ann_threshold:
                build = (cid, dim)
        if build is not None:
            self._build_ann(*build)

    def _build_ann(self, cid: int, dim: int) -> None:
        """A partial HNSW index for one collection, built CONCURRENTLY so that writes and searches go on."""
        name = f"fdx_vectors_hnsw_{cid}"
        with self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            try:
                conn.execute(text(
                    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON fdx_vectors USING hnsw "
                    f"((embedding::vector({int(dim)})) vector_cosine_ops) "
                    f"WITH (m = {int(self.hnsw_m)}, ef_construction = {int(self.hnsw_ef_construction)}) "
                    f"WHERE collection_id = {int(cid)}"))
            except Exception:  # another writer is building it; its build completes the switch
                log.warning("HNSW index %s not built here", name, exc_info=True)
                return
            conn.execute(text("UPDATE fdx_vector_collections SET ann = TRUE WHERE id = :c"), {"c": cid})

    def delete_video(self, *, tenant_id: str, index_id: str, video_id: str) -> None:
        check_name("tenant id", tenant_id), check_name("index id", index_id), check_name("video id", video_id)
        with self._conn() as conn:
            collections = conn.execute(text(
                "SELECT id FROM fdx_vector_collections WHERE tenant_id = :t AND index_id = :i ORDER BY id FOR UPDATE"),
                {"t": tenant_id, "i": index_id}).scalars().all()
            for cid in collections:
                removed = conn.execute(text("DELETE FROM fdx_vectors WHERE collection_id = :c AND video_id = :v"),
                                       {"c": cid, "v": video_id}).rowcount
                if removed:
                    conn.execute(text("UPDATE fdx_vector_collections SET n_vectors = n_vectors - :n, "
                                      "n_videos = n_videos - 1 WHERE id = :c"), {"c": cid, "n": removed})

    def delete_index(self, *, tenant_id: str, index_id: str) -> None:
        check_name("tenant id", tenant_id), check_name("index id", index_id)
        with self._conn() as conn:
            ids = conn.execute(text("DELETE FROM fdx_vector_collections WHERE tenant_id = :t AND index_id = :i "
                                    "RETURNING id"), {"t": tenant_id, "i": index_id}).scalars().all()
            for cid in ids:  # their rows went with ON DELETE CASCADE; their partial indexes are empty now
                conn.execute(text(f"DROP INDEX IF EXISTS fdx_vectors_hnsw_{int(cid)}"))

    # --- reads -------------------------------------------------------------------------------------

    def spaces(self, *, tenant_id: str, index_id: str) -> list[str]:
        check_name("tenant id", tenant_id), check_name("index id", index_id)
        with self._conn() as conn:
            return sorted(conn.execute(text(
                "SELECT c.space FROM fdx_vector_collections c WHERE c.tenant_id = :t AND c.index_id = :i "
                "AND EXISTS (SELECT 1 FROM fdx_vectors v WHERE v.collection_id = c.id)"),
                {"t": tenant_id, "i": index_id}).scalars().all())

    def count(self, *, tenant_id: str, index_id: str, space: str | None = None,
              video_id: str | None = None) -> int:
        check_name("tenant id", tenant_id), check_name("index id", index_id)
        sql = ("SELECT count(*) FROM fdx_vectors v JOIN fdx_vector_collections c ON v.collection_id = c.id "
               "WHERE c.tenant_id = :t AND c.index_id = :i")
        params: dict[str, Any] = {"t": tenant_id, "i": index_id}
        if space is not None:
            sql += " AND c.space = :s"
            params["s"] = check_name("space", space)
        if video_id is not None:
            sql += " AND v.video_id = :v"
            params["v"] = check_name("video id", video_id)
        with self._conn() as conn:
            return int(conn.execute(text(sql), params).scalar_one())

    def segments_for_video(self, *, tenant_id: str, index_id: str, space: str,
                           video_id: str) -> list[VectorRecord]:
        check_name("tenant id", tenant_id), check_name("index id", index_id), check_name("space", space)
        check_name("video id", video_id)
        with self._conn() as conn:
            coll = self._collection(conn, tenant_id, index_id, space)
            if coll is None:
                return []
            rows = conn.execute(text("SELECT clip_seq, start_s, end_s, payload, embedding FROM fdx_vectors "
                                     "WHERE collection_id = :c AND video_id = :v ORDER BY vno"),
                                {"c": coll[0], "v": video_id}).all()
        return [VectorRecord(video_id, int(r[0]), float(r[1]), float(r[2]), _array(r[4]), r[3])
                for r in rows]

    def search(self, *, tenant_id: str, index_id: str, space: str, query: np.ndarray, k: int,
               video_ids: Collection[str] | None = None, group: Group = "clip",
               min_score: float | None = None) -> list[VectorHit]:
        return self.search_many(tenant_id=tenant_id, index_id=index_id, space=space, queries=[query], k=k,
                                video_ids=video_ids, group=group, min_score=min_score)[0]

    def search_many(self, *, tenant_id: str, index_id: str, space: str, queries: Sequence[np.ndarray], k: int,
                    video_ids: Collection[str] | None = None, group: Group = "clip",
                    min_score: float | None = None) -> list[list[VectorHit]]:
        check_name("tenant id", tenant_id), check_name("index id", index_id), check_name("space", space)
        check_group(group)
        allowed = None if video_ids is None else sorted({check_name("video id", v) for v in video_ids})
        with self._conn(repeatable=True) as conn:
            coll = self._collection(conn, tenant_id, index_id, space)
            if coll is None:
                for q in queries:
                    np.asarray(q, dtype=np.float32).ravel()  # still refuse malformed input below
                return [[] for _ in queries]
            cid, dim, ann = coll
            qs = [normalise_rows(np.asarray(q, dtype=np.float32).ravel())[0] for q in queries]
            for q in qs:
                if q.shape[0] != dim:
                    raise ValueError(f"space {space!r} holds {dim}-d vectors; the query is {q.shape[0]}-d")
            if k <= 0 or allowed == []:
                return [[] for _ in qs]
            use_ann = ann
            if use_ann and allowed is not None:
                # The filter's share of the collection, estimated from the maintained counts (videos carry
                # similar numbers of vectors): counting the allowed rows cost ~0.4 s at a million vectors.
                n_vectors, n_videos = conn.execute(text(
                    "SELECT n_vectors, n_videos FROM fdx_vector_collections WHERE id = :c"), {"c": cid}).one()
                use_ann = int(n_vectors or 0) * len(allowed) / max(1, int(n_videos or 0)) > self.ann_threshold
            out = []
            for q in qs:
                hits = self._search_ann(conn, cid, dim, q, k, allowed, group, min_score) if use_ann else None
                if hits is None:
                    hits = self._search_exact(conn, cid, q, k, allowed, group, min_score)
                out.append(hits)
            return out

    @staticmethod
    def _filters(allowed: list[str] | None, min_score: float | None, params: dict[str, Any],
                 dist: str) -> str:
        sql = ""
        if allowed is not None:
            sql += " AND video_id = ANY(:vs)"
            params["vs"] = allowed
        if min_score is not None:
            sql += f" AND {dist} <= :maxd"
            params["maxd"] = 1.0 - float(min_score)
        return sql

    def _search_exact(self, conn: Connection, cid: int, q: np.ndarray, k: int, allowed: list[str] | None,
                      group: Group, min_score: float | None) -> list[VectorHit]:
        params: dict[str, Any] = {"c": cid, "q": q, "k": k}
        dist = "(embedding <=> :q)"  # the untyped column: no HNSW index applies, the ranking is exact
        where = f"collection_id = :c{self._filters(allowed, min_score, params, dist)}"
        cols = f"video_id, clip_seq, start_s, end_s, payload, {dist} AS d, vno"
        if group == "vector":
            sql = f"SELECT {cols} FROM fdx_vectors WHERE {where} ORDER BY d, video_id, vno LIMIT :k"
        else:
            key = "video_id, clip_seq" if group == "clip" else "video_id"
            sql = (f"SELECT * FROM (SELECT DISTINCT ON ({key}) {cols} FROM fdx_vectors WHERE {where} "
                   f"ORDER BY {key}, d, vno) g ORDER BY d, video_id, vno LIMIT :k")
        return [_hit(r) for r in conn.execute(text(sql), params).all()]

    def _search_ann(self, conn: Connection, cid: int, dim: int, q: np.ndarray, k: int, allowed: list[str] | None,
                    group: Group, min_score: float | None) -> list[VectorHit] | None:
        """HNSW candidates, filtered and grouped; None when they cannot be trusted to hold the top `k`
        (the caller then answers exactly)."""
        # At least 100 candidates: with ef_search = 40 recall@10 fell to 0.68 at a million vectors.
        fetch = min(_EF_SEARCH_MAX, max(k * (1 if group == "vector" and allowed is None else self.over_fetch), 100))
        conn.execute(text(f"SET LOCAL hnsw.ef_search = {int(fetch)}"))
        params: dict[str, Any] = {"q": q, "n": fetch}
        typed = f"(embedding::vector({int(dim)}) <=> CAST(:q AS vector({int(dim)})))"
        rows = conn.execute(text(
            f"SELECT video_id, clip_seq, start_s, end_s, payload, {typed} AS d, vno FROM fdx_vectors "
            f"WHERE collection_id = {int(cid)} ORDER BY {typed} LIMIT :n"), params).all()
        exhausted = len(rows) < fetch  # HNSW gave everything it could reach: nothing more to find
        best: dict[Any, Any] = {}
        permitted = None if allowed is None else set(allowed)
        for r in rows:
            if permitted is not None and r[0] not in permitted:
                continue
            if min_score is not None and 1.0 - float(r[5]) < min_score:
                continue
            key = (r[0], r[1], r[6]) if group == "vector" else (r[0], r[1]) if group == "clip" else r[0]
            best.setdefault(key, r)
        ranked = sorted(best.values(), key=lambda r: float(r[5]))
        if len(ranked) < k and not exhausted:
            return None
        chosen = ranked[:k]
        if group == "vector" or not chosen:
            return [_hit(r) for r in chosen]
        # A group's hit is its best vector: re-score the chosen groups exactly within themselves.
        key = "video_id, clip_seq" if group == "clip" else "video_id"
        params = {"q": q, "c": cid, "vs": sorted({r[0] for r in chosen})}
        clips = ""
        if group == "clip":  # only the chosen clips' vectors are scored, not every vector of their videos
            clips = " AND (video_id, clip_seq) IN (SELECT * FROM unnest(CAST(:cv AS varchar[]), CAST(:cq AS int[])))"
            params.update(cv=[r[0] for r in chosen], cq=[int(r[1]) for r in chosen])
        rows = conn.execute(text(
            f"SELECT DISTINCT ON ({key}) video_id, clip_seq, start_s, end_s, payload, (embedding <=> :q) AS d, vno "
            f"FROM fdx_vectors WHERE collection_id = :c AND video_id = ANY(:vs){clips} ORDER BY {key}, d, vno"),
            params).all()
        wanted = {(r[0], r[1]) if group == "clip" else r[0] for r in chosen}
        exact = [r for r in rows if ((r[0], r[1]) if group == "clip" else r[0]) in wanted]
        return [_hit(r) for r in sorted(exact, key=lambda r: float(r[5]))]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._own_engine:
            self.engine.dispose()


def _array(value: Any) -> np.ndarray:
    # pgvector-python gives numpy arrays from text results, `Vector` objects from binary ones
    return np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value, dtype=np.float32)


def _hit(r: Any) -> VectorHit:
    d = float(r[5])
    score = 0.0 if d != d else 1.0 - d  # NaN: a zero vector on either side
    return VectorHit(str(r[0]), int(r[1]), float(r[2]), float(r[3]), score, r[4])
