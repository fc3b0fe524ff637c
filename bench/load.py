"""Load: concurrent uploads while many clients search, against a real `framedex serve` on loopback.

    .venv/bin/python bench/load.py [--uploads 20] [--searchers 50] [--video PATH] [--timeout 900]

Starts a server on a fresh data dir, indexes one seed video (so searches have something to find),
then at once posts `--uploads` tasks (`POST /tasks`, each in its own thread) while `--searchers`
threads search in a loop (visual and audio text queries) until every upload is `ready` or `failed`.
Reports upload acceptance, time until all uploads are ready, search count, p50/p95/p99/max search
latency, failures of every kind, and the server's peak RSS. Exit status 1 when anything failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the shared `framedex serve` helper lives in tests/

from tests.serve_process import start_serve  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
QUERIES = ["a toy motor turning", "a ball thrown in the air", "a person talking", "music", "engine noise",
           "a tree moving in the wind", "someone speaking", "a machine"]


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def post_task(client: httpx.Client, index: str, video: Path) -> dict[str, Any]:
    with video.open("rb") as f:
        response = client.post("/tasks", data={"index_id": index}, files={"video_file": (video.name, f)})
    response.raise_for_status()
    task: dict[str, Any] = response.json()
    return task


def wait_tasks(client: httpx.Client, task_ids: list[str], deadline: float) -> dict[str, str]:
    status = {t: "pending" for t in task_ids}
    while time.monotonic() < deadline:
        for t in [t for t, s in status.items() if s not in ("ready", "failed")]:
            status[t] = client.get(f"/tasks/{t}").json()["status"]
        if all(s in ("ready", "failed") for s in status.values()):
            break
        time.sleep(0.5)
    return status


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(args: argparse.Namespace) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="framedex-load-"))
    # The per-key rate limit of POST /search (50 a minute) would answer most of this load 429: off, so that
    # the bench measures what the server can serve, not the limit.
    server = start_serve(data_dir, workers=args.workers, env={"FRAMEDEX_RATE_LIMIT_SEARCH": "0"})
    base, proc = server.api, server.proc
    failures: list[str] = []
    lock = threading.Lock()
    try:
        with httpx.Client(base_url=base, timeout=120) as client:
            index = client.post("/indexes", json={"index_name": "load", "models": [
                {"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]}).json()["_id"]
            seed = post_task(client, index, args.video)
            seed_status = wait_tasks(client, [seed["_id"]], time.monotonic() + args.timeout)
            if seed_status[seed["_id"]] != "ready":
                raise RuntimeError(f"the seed video did not index: {seed_status}")

        stop = threading.Event()
        latencies: list[float] = []

        def searcher(n: int) -> None:
            with httpx.Client(base_url=base, timeout=120) as c:
                i = n
                while not stop.is_set():
                    query = QUERIES[i % len(QUERIES)]
                    i += 1
                    started = time.perf_counter()
                    try:
                        r = c.post("/search", data={"index_id": index, "query_text": query,
                                                    "search_options": ["visual", "audio"]})
                        ok = r.status_code == 200
                        detail = f"search {r.status_code}: {r.text[:200]}"
                    except httpx.HTTPError as exc:
                        ok, detail = False, f"search {type(exc).__name__}: {exc}"
                    elapsed = time.perf_counter() - started
                    with lock:
                        if ok:
                            latencies.append(elapsed)
                        else:
                            failures.append(detail)

        accepted: list[str] = []

        def uploader() -> None:
            try:
                with httpx.Client(base_url=base, timeout=300) as c:
                    task = post_task(c, index, args.video)
                with lock:
                    accepted.append(task["_id"])
            except Exception as exc:  # a refused upload is a result, not a crash of the bench
                with lock:
                    failures.append(f"upload {type(exc).__name__}: {exc}")

        searchers = [threading.Thread(target=searcher, args=(n,), daemon=True) for n in range(args.searchers)]
        for t in searchers:
            t.start()
        load_started = time.monotonic()
        uploaders = [threading.Thread(target=uploader) for _ in range(args.uploads)]
        for t in uploaders:
            t.start()
        for t in uploaders:
            t.join()
        uploads_accepted_s = time.monotonic() - load_started
        with httpx.Client(base_url=base, timeout=120) as client:
            final = wait_tasks(client, accepted, load_started + args.timeout)
        all_done_s = time.monotonic() - load_started
        stop.set()
        for t in searchers:
            t.join(150)
        alive = proc.poll() is None
        ready = sum(s == "ready" for s in final.values())
        failures += [f"task {t} {s}" for t, s in final.items() if s != "ready"]
        return {
            "uploads": args.uploads, "searchers": args.searchers, "video": args.video.name,
            "workers": args.workers, "load_average": os.getloadavg(),
            "uploads_accepted": len(accepted), "uploads_accepted_s": round(uploads_accepted_s, 1),
            "uploads_ready": ready, "all_ready_s": round(all_done_s, 1) if ready == args.uploads else None,
            "searches": len(latencies), "searches_per_s": round(len(latencies) / all_done_s, 1),
            "search_ms": {name: round(1000 * value, 1) for name, value in (
                ("p50", statistics.median(latencies) if latencies else 0.0),
                ("p95", percentile(latencies, 0.95) if latencies else 0.0),
                ("p99", percentile(latencies, 0.99) if latencies else 0.0),
                ("max", max(latencies, default=0.0)))},
            "failures": len(failures), "failure_samples": failures[:10],
            "server_peak_rss_mb": peak_rss_mb(proc.pid), "server_alive": alive,
        }
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--searchers", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1, help="ingest workers in the server")
    parser.add_argument("--video", type=Path, default=MEDIA / "video" / "lego_motor_6s.mp4")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for all uploads")
    report = run(parser.parse_args())
    print(json.dumps(report, indent=2))
    sys.exit(1 if report["failures"] or not report["server_alive"] else 0)


if __name__ == "__main__":
    main()
