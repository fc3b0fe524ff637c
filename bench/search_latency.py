"""Search latency of the embedded vector index at 10k / 100k / 1M clip-vectors (384-d).

    .venv/bin/python bench/search_latency.py                      # 10k, 100k, 1M
    .venv/bin/python bench/search_latency.py --sizes 10000 100000 --data uniform

Each size runs in its own process (clean RSS). Vectors are written the way ingest writes them
(`replace_video`, 100 vectors per video = 25 clips x 4 frames), so build time includes the
per-video files and the incremental HNSW inserts. Synthetic data is "clustered" by default
(points around 2,000 random centres: embedding-like) or "uniform" (random unit vectors: the worst
case for graph indexes; nearest neighbours are barely nearer than anything else).

Reported per size: build time, reopen time (from the saved snapshot), RSS, and for each
`--expansion-search` value (HNSW search breadth; measured on the same built index) the p50/p99
latency of k=50 queries (ungrouped, clip-grouped, video-grouped, and clip-grouped filtered to 10%
and 1% of the videos), and recall@10 against exact numpy search on a sample of queries.
Prints one JSON object per size and a JSON list at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from framedex.storage.vectors import Group, VectorRecord
from framedex.storage.vectors_embedded import AnnParams, EmbeddedVectorIndex

DIM = 384
PER_VIDEO = 100
PER_CLIP = 4
TENANT, INDEX, SPACE = "a" * 24, "1" * 24, "visual"


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_data(n: int, kind: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.empty((n, DIM), np.float32)
    centres = np.random.default_rng(7).standard_normal((2000, DIM)).astype(np.float32)
    for i in range(0, n, 100_000):
        m = min(100_000, n - i)
        if kind == "uniform":
            x = rng.standard_normal((m, DIM)).astype(np.float32)
        else:
            x = centres[rng.integers(0, len(centres), m)] + 0.8 * rng.standard_normal((m, DIM)).astype(np.float32)
        out[i:i + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return out


def percentiles(ms: list[float]) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "mean_ms": round(float(np.mean(ms)), 2)}


def measure(vi: EmbeddedVectorIndex, x: np.ndarray, qs: np.ndarray, vids: list[str]) -> dict[str, Any]:
    """Latency of the query variants and recall@10 against exact numpy search."""
    n, n_videos = len(x), len(vids)
    rng = np.random.default_rng(3)
    filters = {"10%": set(rng.choice(vids, max(1, n_videos // 10), replace=False).tolist()),
               "1%": set(rng.choice(vids, max(1, n_videos // 100), replace=False).tolist())}
    variants: list[tuple[str, Group, set[str] | None]] = [
        ("vector", "vector", None), ("clip", "clip", None), ("video", "video", None),
        ("clip_filter_10pct", "clip", filters["10%"]), ("clip_filter_1pct", "clip", filters["1%"])]
    lat: dict[str, Any] = {}
    for name, group, allowed in variants:
        for q in qs[:5]:  # warm-up
            vi.search(tenant_id=TENANT, index_id=INDEX, space=SPACE, query=q, k=50, group=group, video_ids=allowed)
        ms = []
        for q in qs:
            t0 = time.perf_counter()
            vi.search(tenant_id=TENANT, index_id=INDEX, space=SPACE, query=q, k=50, group=group, video_ids=allowed)
            ms.append((time.perf_counter() - t0) * 1e3)
        lat[name] = percentiles(ms)
    sample = qs[: min(100, len(qs))]
    exact_scores = sample @ x.T
    rec: dict[str, float] = {}
    for name, allowed in (("no_filter", None), ("filter_10pct", filters["10%"])):
        if allowed is not None:
            mask = np.zeros(n, bool)
            for vid in allowed:
                v = int(vid, 16)
                mask[v * PER_VIDEO:(v + 1) * PER_VIDEO] = True
            scores = np.where(mask, exact_scores, -np.inf)
        else:
            scores = exact_scores
        truth = np.argsort(-scores, axis=1)[:, :10]
        r = []
        for q, t in zip(sample, truth, strict=True):
            hits = vi.search(tenant_id=TENANT, index_id=INDEX, space=SPACE, query=q, k=10, group="vector",
                             video_ids=allowed)
            got = {int(h.video_id, 16) * PER_VIDEO + int(h.start) for h in hits}
            r.append(len(got & set(t.tolist())) / 10)
        rec[name] = round(float(np.mean(r)), 4)
    return {"latency_k50": lat, "recall_at_10": rec}


def run_size(n: int, kind: str, queries: int, params: AnnParams, threshold: int, sweep: list[int]) -> dict[str, Any]:
    x = make_data(n, kind, seed=1)
    qs = make_data(queries, kind, seed=2)
    n_videos = n // PER_VIDEO
    vids = [f"{v:024x}" for v in range(n_videos)]
    report: dict[str, Any] = {"vectors": n, "dim": DIM, "data": kind, "videos": n_videos, "queries": queries,
                              "ann": {"connectivity": params.connectivity, "expansion_add": params.expansion_add,
                                      "dtype": params.dtype},
                              "ann_threshold": threshold, "cpus": os.cpu_count(),
                              "load_avg_before": [round(v, 2) for v in os.getloadavg()]}
    rss_data = rss_mb()
    with tempfile.TemporaryDirectory(prefix="fdx-bench-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        vi = EmbeddedVectorIndex(root, ann_threshold=threshold, ann=params, autosave_s=None)
        for v, vid in enumerate(vids):
            rows = x[v * PER_VIDEO:(v + 1) * PER_VIDEO]
            recs = [VectorRecord(vid, i // PER_CLIP, float(i), i + 1.0, rows[i]) for i in range(PER_VIDEO)]
            vi.replace_video(tenant_id=TENANT, index_id=INDEX, space=SPACE, video_id=vid, records=recs)
        report["build_s"] = round(time.perf_counter() - t0, 2)
        report["mode"] = vi.mode(tenant_id=TENANT, index_id=INDEX, space=SPACE)
        t0 = time.perf_counter()
        vi.close()
        report["save_s"] = round(time.perf_counter() - t0, 2)
        report["disk_mb"] = round(sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) / 2**20, 1)
        report["by_expansion_search"] = {}
        for i, ef in enumerate(sweep):
            t0 = time.perf_counter()
            vi = EmbeddedVectorIndex(root, ann_threshold=threshold,
                                     ann=replace(params, expansion_search=ef), autosave_s=None)
            vi.count(tenant_id=TENANT, index_id=INDEX, space=SPACE)
            if i == 0:
                report["reopen_s"] = round(time.perf_counter() - t0, 2)
                report["rss_mb_index"] = round(rss_mb() - rss_data, 1)  # resident memory the index adds
                report["rss_mb_process"] = round(rss_mb(), 1)
            report["by_expansion_search"][str(ef)] = measure(vi, x, qs, vids)
            vi.close()
    report["peak_rss_mb_process"] = round(peak_rss_mb(), 1)
    report["load_avg_after"] = [round(v, 2) for v in os.getloadavg()]
    return report


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--data", choices=["clustered", "uniform"], default="clustered")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--connectivity", type=int, default=AnnParams.connectivity)
    ap.add_argument("--expansion-add", type=int, default=AnnParams.expansion_add)
    ap.add_argument("--expansion-search", type=int, nargs="+", default=[AnnParams.expansion_search],
                    help="one or more values, measured on the same built index")
    ap.add_argument("--dtype", default=AnnParams.dtype)
    ap.add_argument("--ann-threshold", type=int, default=20_000)
    ap.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # child mode: a single size
    a = ap.parse_args()
    params = AnnParams(connectivity=a.connectivity, expansion_add=a.expansion_add, dtype=a.dtype)
    if a.one:
        print(json.dumps(run_size(a.sizes[0], a.data, a.queries, params, a.ann_threshold, a.expansion_search)),
              flush=True)
        return
    reports = []
    for n in a.sizes:
        cmd = [sys.executable, __file__, "--one", "--sizes", str(n), "--data", a.data, "--queries", str(a.queries),
               "--connectivity", str(a.connectivity), "--expansion-add", str(a.expansion_add),
               "--expansion-search", *map(str, a.expansion_search), "--dtype", a.dtype,
               "--ann-threshold", str(a.ann_threshold)]
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout.strip().splitlines()[-1]
        print(out, flush=True)
        reports.append(json.loads(out))
    print(json.dumps(reports, indent=2))


if __name__ == "__main__":
    main()
