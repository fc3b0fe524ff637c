"""Vector search at scale: pgvector (scale-out) side by side with the embedded index, same data, same run.

    .venv/bin/python bench/vectors_scale.py --sizes 100000            # starts its own PostgreSQL
    .venv/bin/python bench/vectors_scale.py --sizes 100000 1000000 --queries 200
    .venv/bin/python bench/vectors_scale.py --sizes 100000 --pg-url postgresql+psycopg://u@host/db
    .venv/bin/python bench/vectors_scale.py --sizes 1000000 --backends pgvector

Data: `--sizes` clip vectors of the default visual model's dimension (384, ConSE into MiniLM space,
see `models/registry.py`), clustered around 2,000 random centres (embedding-like, so that HNSW has
realistic work), written the way ingest writes them: `replace_video` per video, 100 vectors a video
(25 clips x 4 frames), in tenant A's index. A second tenant's index gets `--other-fraction` as many
vectors again, so that pgvector's shared table holds more than one collection (its HNSW indexes are
partial, one per collection) and the embedded index has more than one directory.

Without `--pg-url`, PostgreSQL 16 + pgvector is started from the `pgserver` wheel by `tests/servers.py`
(loopback, fsync off, shared_buffers 128 MB: the test/try-out settings, not a tuned server). Both
adapters run with their defaults (ann_threshold 20,000; pgvector HNSW m=16, ef_construction=64;
usearch connectivity 16, expansion_search 512, f16).

Queries are the calls the search service makes (`services/search/retrievers.py`): k=200 clip-grouped
restricted to the index's ready videos (all of them, or 10% / 1% after metadata filters), k=100
ungrouped (transcription vectors), k=50 video-grouped, and k=50 clip-grouped without a filter (the
figure earlier benchmarks quote). For each: p50/p99/mean latency over `--queries` queries after a
warm-up, and for pgvector which path answered (HNSW, HNSW then exact fallback, exact). Recall@10
against exact numpy search. For pgvector, the statements of one search of each kind are replayed
under ``EXPLAIN (ANALYZE, BUFFERS)`` and printed, with whether the plan uses the collection's HNSW index.

`--pg-load bulk` writes pgvector's rows with no HNSW threshold and then builds each collection's HNSW index
once with the adapter's own statement (CREATE INDEX CONCURRENTLY, `--pg-build-mem` maintenance_work_mem,
`--pg-build-workers` parallel workers): what loading a large existing corpus costs, and the way to reach 1M
on a small machine, where the incremental path (one graph insert per vector, as ingest writes) takes hours.
`--build-budget-s` stops a backend's writes after that long and reports the rate reached and an
extrapolation instead of search figures.

Reported per backend: build time and rate (vectors/s, with progress on stderr every 5%), memory
(embedded: resident memory the index adds to this process; pgvector: PSS of the server's processes
and relation sizes) and disk. One JSON object per size on stdout, plans and progress on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from framedex.storage.vectors import Group, VectorIndex, VectorRecord

DIM = 384  # ModelRegistry's default "vision" entry: conse(...->minilm-l6-v2), 384-d
PER_VIDEO = 100
PER_CLIP = 4
TENANT, INDEX, SPACE = "a" * 24, "1" * 24, "visual"
OTHER_TENANT, OTHER_INDEX = "b" * 24, "2" * 24
REPO = Path(__file__).resolve().parents[1]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def make_data(n: int, seed: int, dim: int = DIM) -> np.ndarray:
    """Unit vectors clustered around 2,000 fixed centres (the same centres for every seed)."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(7).standard_normal((2000, dim)).astype(np.float32)
    out = np.empty((n, dim), np.float32)
    for i in range(0, n, 100_000):
        m = min(100_000, n - i)
        x = centres[rng.integers(0, len(centres), m)] + 0.8 * rng.standard_normal((m, dim)).astype(np.float32)
        out[i:i + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def video_ids(n_videos: int, prefix: str = "") -> list[str]:
    return [f"{prefix}{v:0{24 - len(prefix)}x}" for v in range(n_videos)]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def pss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
    return total / 1024


def process_tree(root_pid: int) -> list[int]:
    parents: dict[int, int] = {}
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            with contextlib.suppress(OSError):
                parents[int(p.name)] = int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
    tree, frontier = [root_pid], [root_pid]
    while frontier:
        kids = [pid for pid, ppid in parents.items() if ppid in frontier]
        tree += kids
        frontier = kids
    return tree


def dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def percentiles(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "mean_ms": round(float(np.mean(ms)), 2)}


def write_all(vi: VectorIndex, tenant: str, index: str, x: np.ndarray, vids: list[str], label: str,
              budget_s: float | None = None) -> dict[str, Any]:
    """`replace_video` per video, as ingest does; progress (and the instantaneous rate) on stderr. Past
    `budget_s` it stops and reports how far it got and the time the rest would take at the last rate."""
    t0 = last_t = time.perf_counter()
    last_n, step = 0, max(1, len(vids) // 20)
    rates: list[tuple[int, float]] = []
    for v, vid in enumerate(vids):
        rows = x[v * PER_VIDEO:(v + 1) * PER_VIDEO]
        recs = [VectorRecord(vid, i // PER_CLIP, float(i), i + 1.0, rows[i]) for i in range(len(rows))]
        vi.replace_video(tenant_id=tenant, index_id=index, space=SPACE, video_id=vid, records=recs)
        if (v + 1) % step == 0 or v + 1 == len(vids):
            now, n = time.perf_counter(), (v + 1) * PER_VIDEO
            rate = (n - last_n) / max(now - last_t, 1e-9)
            rates.append((n, round(rate, 1)))
            log(f"{label}: {n:,} vectors in {now - t0:.0f} s, {rate:,.0f}/s now, load {os.getloadavg()[0]:.2f}")
            last_t, last_n = now, n
            if budget_s is not None and now - t0 > budget_s and v + 1 < len(vids):
                left = (len(vids) - v - 1) * PER_VIDEO
                return {"complete": False, "vectors": n, "of": len(vids) * PER_VIDEO, "s": round(now - t0, 1),
                        "vectors_per_s": round(n / (now - t0), 1), "rate_by_count": rates,
                        "extrapolated_total_s_at_last_rate": round(now - t0 + left / rate)}
    elapsed = time.perf_counter() - t0
    n = len(vids) * PER_VIDEO
    return {"complete": True, "vectors": n, "s": round(elapsed, 1), "vectors_per_s": round(n / elapsed, 1),
            "rate_by_count": rates}


class StatementLog:
    """The statements the pgvector adapter sends (SQLAlchemy cursor events), to classify and replay them."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.items: list[tuple[str, Any]] = []
        self.on = False

        def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
            if self.on:
                self.items.append((statement, parameters))

        event.listen(engine, "before_cursor_execute", record)

    @contextlib.contextmanager
    def capture(self) -> Iterator[list[tuple[str, Any]]]:
        self.items = []
        self.on = True
        try:
            yield self.items
        finally:
            self.on = False


def pg_path(statements: list[tuple[str, Any]]) -> str:
    """Which path answered a search: 'hnsw' (the typed-cast ORDER BY an HNSW index can serve), 'hnsw->exact'
    (HNSW candidates were not enough: answered exactly) or 'exact'. Exact top-k statements end in LIMIT on the
    untyped column; the HNSW path's exact re-scoring of chosen groups has no LIMIT."""
    ann = any("::vector(" in s and "LIMIT" in s for s, _ in statements)
    exact = any("::vector(" not in s and "<=>" in s and "LIMIT" in s for s, _ in statements)
    if ann and exact:
        return "hnsw->exact"
    return "hnsw" if ann else "exact"


def explain(engine: Any, statements: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """Replay one search's statements in one transaction, EXPLAIN (ANALYZE, BUFFERS) for the vector reads."""
    out = []
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for sql, params in statements:
            if sql.lstrip().upper().startswith("SELECT") and "FROM fdx_vectors " in sql:
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
                plan = "\n".join(r[0] for r in cur.fetchall())
                took = re.search(r"Execution Time: ([0-9.]+) ms", plan)
                out.append({"sql": " ".join(sql.split()), "plan": plan, "uses_hnsw": "fdx_vectors_hnsw_" in plan,
                            "execution_ms": float(took.group(1)) if took else None})
            else:
                cur.execute(sql, params)
        raw.rollback()
    finally:
        raw.close()
    return out


def measure(vi: VectorIndex, qs: np.ndarray, variants: list[tuple[str, int, Group, set[str] | None]],
            stmts: StatementLog | None) -> dict[str, Any]:
    lat: dict[str, Any] = {}
    for name, k, group, allowed in variants:
        for q in qs[:5]:  # warm-up
            vi.search(tenant_id=TENANT, index_id=INDEX, space=SPACE, query=q, k=k, group=group, video_ids=allowed)
        ms, paths, hits = [], {"hnsw": 0, "hnsw->exact": 0, "exact": 0}, 0
        for q in qs:
            cap: contextlib.AbstractContextManager[list[tuple[str, Any]]] = (
                stmts.capture() if stmts is not None else contextlib.nullcontext([]))
            with cap as statements:
                t0 = time.perf_counter()
                res = vi.search(tenant_id=TENANT, index_id=INDEX, space=SPACE, query=q, k=k, group=group,
                                video_ids=allowed)
                ms.append((time.perf_counter() - t0) * 1e3)
            hits += len(res)
            if stmts is not None:
                paths[pg_path(statements)] += 1
        lat[name] = {**percentiles(ms), "mean_hits": round(hits / len(qs), 1)}
        if stmts is not None:
            lat[name]["paths"] = {p: c for p, c in paths.items() if c}
    return lat


def recall(vi: VectorIndex, x: np.ndarray, sample: np.ndarray, vids: list[str],
           filters: dict[str, set[str] | None]) -> dict[str, float]:
    """Recall@10 of ungrouped search against exact numpy search (vector identity = video + start time)."""
    index_of = {vid: i for i, vid in enumerate(vids)}
    exact = sample @ x.T
    out: dict[str, float] = {}
    for name, allowed in filters.items():
        scores = exact
        if allowed is not None:
            mask = np.zeros(len(x), bool)
            for vid in allowed:
                i = index_of[vid]
                mask[i * PER_VIDEO:(i + 1) * PER_VIDEO] = True
            scores = np.where(mask, exact, -np.inf)
        truth = np.argsort(-scores, axis=1)[:, :10]
        r = []
        for q, t in zip(sample, truth, strict=True):
            res = vi.search(tenant_id=TENANT, index_id=INDEX, space=SPACE, query=q, k=10, group="vector",
                            video_ids=allowed)
            got = {index_of[h.video_id] * PER_VIDEO + int(h.start) for h in res}
            r.append(len(got & set(t.tolist())) / 10)
        out[name] = round(float(np.mean(r)), 4)
    return out


def pg_sizes(engine: Any) -> dict[str, float]:
    from sqlalchemy import text

    with engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT c.relname, pg_relation_size(c.oid) FROM pg_class c "
            "WHERE c.relname LIKE 'fdx_vector%' OR c.oid IN (SELECT indexrelid FROM pg_index i "
            "JOIN pg_class t ON t.oid = i.indrelid WHERE t.relname = 'fdx_vectors') "
            "OR c.oid = (SELECT reltoastrelid FROM pg_class WHERE relname = 'fdx_vectors')")).all()
        total = conn.execute(text("SELECT pg_total_relation_size('fdx_vectors'), "
                                  "pg_database_size(current_database())")).one()
    out = {str(name): round(int(size) / 2**20, 1) for name, size in rows}
    out["fdx_vectors_total"] = round(int(total[0]) / 2**20, 1)
    out["database_total"] = round(int(total[1]) / 2**20, 1)
    return out


def bulk_loader(pg: dict[str, Any]) -> Any:
    """`--pg-load bulk`: the adapter with no HNSW threshold, so rows go in without graph inserts; the HNSW
    indexes are built afterwards in one CREATE INDEX each (what a migration of a large data dir would do)."""
    from framedex.storage.vectors_pgvector import PgVectorIndex

    return PgVectorIndex(pg["url"], ann_threshold=2**62)


def build_hnsw_after_load(vi: Any, pg: dict[str, Any]) -> dict[str, Any]:
    """The adapter's own index build (`_build_ann`: CREATE INDEX CONCURRENTLY, m=16, ef_construction=64) for
    every collection above the default threshold, on an engine whose sessions may use `--pg-build-mem`."""
    from sqlalchemy import create_engine, text

    from framedex.storage.vectors_pgvector import PgVectorIndex

    opts = (f"-c maintenance_work_mem={pg['build_mem']} -c max_parallel_maintenance_workers={pg['build_workers']}"
            f" -c statement_timeout={int(pg['build_timeout_s'] * 1000)}")
    engine = create_engine(pg["url"], connect_args={"options": opts})
    builder = PgVectorIndex(engine=engine)
    out: dict[str, Any] = {"maintenance_work_mem": pg["build_mem"],
                           "max_parallel_maintenance_workers": pg["build_workers"], "collections": []}
    try:
        with engine.connect() as conn:
            colls = conn.execute(text(
                "SELECT c.id, c.dim, count(*) FROM fdx_vector_collections c JOIN fdx_vectors v "
                "ON v.collection_id = c.id GROUP BY c.id, c.dim ORDER BY count(*)")).all()
        for cid, dim, count in colls:
            if count <= builder.ann_threshold:
                continue
            t0 = time.perf_counter()
            log(f"pgvector: CREATE INDEX (HNSW) on collection {cid}, {count:,} vectors")
            builder._build_ann(int(cid), int(dim))
            took = time.perf_counter() - t0
            with engine.connect() as conn:
                ok = bool(conn.execute(text("SELECT ann FROM fdx_vector_collections WHERE id = :c"),
                                       {"c": cid}).scalar_one())
            out["collections"].append({"vectors": int(count), "s": round(took, 1), "built": ok})
            log(f"pgvector: HNSW on {count:,} vectors in {took:.0f} s (built: {ok})")
    finally:
        builder.close()
        engine.dispose()
    return out


def run_backend(name: str, open_index: Callable[[], Any], x: np.ndarray, other: np.ndarray, qs: np.ndarray,
                vids: list[str], filters: dict[str, set[str] | None], pg: dict[str, Any] | None,
                explain_out: list[dict[str, Any]], budget_s: float | None) -> dict[str, Any]:
    rss0 = rss_mb()
    bulk = pg is not None and pg["load"] == "bulk"
    vi = bulk_loader(pg) if bulk and pg is not None else open_index()
    report: dict[str, Any] = {}
    try:
        report["build_other_tenant"] = write_all(vi, OTHER_TENANT, OTHER_INDEX, other,
                                                 video_ids(len(other) // PER_VIDEO, "e"), f"{name} other tenant")
        report["build"] = write_all(vi, TENANT, INDEX, x, vids, name, budget_s)
        if not report["build"]["complete"]:
            log(f"{name}: build budget spent; no search measured at this size")
            report["disk_mb"] = pg_sizes(vi.engine) if pg is not None else round(dir_mb(vi.root), 1)
            return report
        if bulk and pg is not None:
            report["hnsw_build"] = build_hnsw_after_load(vi, pg)
            vi.close()
            vi = open_index()
        stmts = None
        if pg is not None:
            from sqlalchemy import text

            stmts = StatementLog(vi.engine)
            with vi.engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.execute(text("VACUUM ANALYZE fdx_vectors"))  # what autovacuum would have done by now
                report["collections"] = [dict(r._mapping) for r in conn.execute(text(
                    "SELECT c.tenant_id, c.space, c.dim, c.ann, count(v.*) AS vectors FROM fdx_vector_collections c "
                    "LEFT JOIN fdx_vectors v ON v.collection_id = c.id GROUP BY c.id ORDER BY c.id"))]
                report["server"] = {k: conn.execute(text(f"SHOW {k}")).scalar_one() for k in (
                    "server_version", "shared_buffers", "work_mem", "maintenance_work_mem", "fsync")}
                report["server"]["pgvector"] = conn.execute(text(
                    "SELECT extversion FROM pg_extension WHERE extname = 'vector'")).scalar_one()
        else:
            report["mode"] = vi.mode(tenant_id=TENANT, index_id=INDEX, space=SPACE)
        every = set(vids)
        variants: list[tuple[str, int, Group, set[str] | None]] = [
            ("clip_k200_ready_all", 200, "clip", every),
            ("clip_k200_ready_10pct", 200, "clip", filters["10pct"]),
            ("clip_k200_ready_1pct", 200, "clip", filters["1pct"]),
            ("vector_k100_ready_all", 100, "vector", every),
            ("video_k50_ready_all", 50, "video", every),
            ("clip_k50_no_filter", 50, "clip", None),
        ]
        load0 = os.getloadavg()[0]
        report["latency"] = measure(vi, qs, variants, stmts)
        report["load_avg_1min_search"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
        report["recall_at_10"] = recall(vi, x, qs[:50], vids, {"no_filter": None, "ready_10pct": filters["10pct"]})
        if pg is not None and stmts is not None:
            for vname, k, group, allowed in variants:
                if vname in ("clip_k200_ready_all", "clip_k50_no_filter", "clip_k200_ready_1pct",
                             "video_k50_ready_all"):
                    with stmts.capture() as statements:
                        vi.search(tenant_id=TENANT, index_id=INDEX, space=SPACE, query=qs[0], k=k, group=group,
                                  video_ids=allowed)
                    for e in explain(vi.engine, list(statements)):
                        explain_out.append({"variant": vname, **e})
            report["memory_pss_mb_postgres"] = round(pss_mb(process_tree(pg["pid"])), 1)
            report["disk_mb"] = pg_sizes(vi.engine)
        else:
            report["memory_rss_mb_added"] = round(rss_mb() - rss0, 1)
            t0 = time.perf_counter()
            vi.close()
            report["save_s"] = round(time.perf_counter() - t0, 1)
            report["disk_mb"] = round(dir_mb(vi.root), 1)
    finally:
        vi.close()
    return report


def run_size(n: int, a: argparse.Namespace, pg: dict[str, Any] | None, tmp: Path) -> dict[str, Any]:
    x = make_data(n, 1, a.dim)
    other = make_data(max(PER_VIDEO, int(n * a.other_fraction) // PER_VIDEO * PER_VIDEO), 5, a.dim)
    qs = make_data(a.queries, 2, a.dim)
    vids = video_ids(n // PER_VIDEO)
    rng = np.random.default_rng(3)
    filters: dict[str, set[str] | None] = {
        "10pct": set(rng.choice(vids, max(1, len(vids) // 10), replace=False).tolist()),
        "1pct": set(rng.choice(vids, max(1, len(vids) // 100), replace=False).tolist())}
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"), "vectors": n, "dim": a.dim, "videos": len(vids),
        "other_tenant_vectors": len(other), "queries": a.queries, "cpus": os.cpu_count(),
        "load_avg_before": [round(v, 2) for v in os.getloadavg()], "pg_load": a.pg_load, "backends": {}}
    plans: list[dict[str, Any]] = []
    for backend in a.backends:
        log(f"{backend}: {n:,} vectors")
        if backend == "embedded":
            from framedex.storage.vectors_embedded import EmbeddedVectorIndex

            open_index: Callable[[], Any] = functools.partial(EmbeddedVectorIndex, tmp / f"embedded-{n}",
                                                              autosave_s=None)
        else:
            from sqlalchemy import create_engine, text

            from framedex.storage.vectors_pgvector import PgVectorIndex

            assert pg is not None
            # every size starts from an empty schema
            eng = create_engine(pg["url"])
            with eng.begin() as conn:
                conn.execute(text("DROP TABLE IF EXISTS fdx_vectors, fdx_vector_collections CASCADE"))
            eng.dispose()

            open_index = functools.partial(PgVectorIndex, pg["url"])
        report["backends"][backend] = run_backend(backend, open_index, x, other, qs, vids, filters,
                                                  pg if backend == "pgvector" else None, plans, a.build_budget_s)
        # the whole backend report now: a run stopped later (a long pgvector build) keeps this backend's figures
        log(json.dumps({backend: report["backends"][backend]}))
    report["load_avg_after"] = [round(v, 2) for v in os.getloadavg()]
    report["explain"] = [{k: v for k, v in p.items() if k != "plan"} for p in plans]
    for p in plans:
        print(f"\n--- EXPLAIN ({n:,} vectors, {p['variant']}; uses HNSW index: {p['uses_hnsw']})\n{p['sql']}\n"
              f"{p['plan']}", file=sys.stderr, flush=True)
    return report


@contextlib.contextmanager
def postgres(url: str | None, tmp: Path, build: dict[str, Any]) -> Iterator[dict[str, Any] | None]:
    if url is not None:
        yield {"url": url, "pid": -1, **build}
        return
    sys.path.insert(0, str(REPO))
    from tests.servers import running

    with running("postgres", tmp / "pg") as server:
        yield {"url": server.url, "pid": server.pid, **build}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    ap.add_argument("--backends", nargs="+", choices=["embedded", "pgvector"], default=["embedded", "pgvector"])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--dim", type=int, default=DIM,
                    help="vector dimension (384: the visual space; 1280: visual_image, the tagger's features)")
    ap.add_argument("--other-fraction", type=float, default=0.05,
                    help="vectors in a second tenant's index, as a fraction of each size")
    ap.add_argument("--build-budget-s", type=float,
                    help="stop writing a backend's vectors after this long and report the rate and an extrapolation")
    ap.add_argument("--pg-load", choices=["incremental", "bulk"], default="incremental",
                    help="incremental: as ingest writes (HNSW built at the threshold, then graph inserts per write); "
                         "bulk: rows first, then one HNSW build per collection")
    ap.add_argument("--pg-build-mem", default="2GB", help="maintenance_work_mem of the bulk HNSW build")
    ap.add_argument("--pg-build-workers", type=int, default=1, help="max_parallel_maintenance_workers (bulk)")
    ap.add_argument("--pg-build-timeout-s", type=float, default=1800, help="statement_timeout of the bulk build")
    ap.add_argument("--pg-url", help="an existing PostgreSQL with pgvector (its fdx_vectors tables are dropped!)")
    ap.add_argument("--tmp", type=Path, help="where the embedded index and the started PostgreSQL live")
    a = ap.parse_args()
    with contextlib.ExitStack() as stack:
        tmp = a.tmp or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fdx-vscale-")))
        build = {"load": a.pg_load, "build_mem": a.pg_build_mem, "build_workers": a.pg_build_workers,
                 "build_timeout_s": a.pg_build_timeout_s}
        pg = stack.enter_context(postgres(a.pg_url, tmp, build)) if "pgvector" in a.backends else None
        for n in a.sizes:
            print(json.dumps(run_size(n, a, pg, tmp)), flush=True)


if __name__ == "__main__":
    main()
