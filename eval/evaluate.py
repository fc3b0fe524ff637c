"""Evaluate search on the development set: R@1 and R@5 per query type, per split.

    python -m eval.evaluate [--media DIR] [--data DIR] [--split all|dev|held] [--options native|all] [-v]

It builds the development set (`eval.devset`) into `--media` unless a manifest is there, indexes its videos
through the real API (a framedex server on loopback, the official SDK, real models) into `--data` unless that
data directory already holds them, then runs every query through the search service.

A hit is right when it overlaps an expected time range of the expected video by at least half of the hit
(or half of the expected range). ``--options native`` searches each query type with its own option
(visual for visual, OCR and image queries; audio; transcription); ``all`` always asks for all three.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eval.devset import Manifest, Query, build

KIND_OPTIONS = {"visual": ["visual"], "ocr": ["visual"], "image": ["visual"], "audio": ["audio"],
                "transcription": ["transcription"], "speech": ["transcription"], "semantic": ["transcription"],
                "multilingual": ["transcription"],
                "negative_visual": ["visual"], "negative_ocr": ["visual"], "negative_audio": ["audio"],
                "negative_transcription": ["transcription"]}
ALL_OPTIONS = ["visual", "audio", "transcription"]
# real: the real-footage composites (the yardstick); set1: real pictures, sounds and read speech in short
# scenes; synthetic: espeak-ng speech and drawn titles (eval.devset.Query.origin).
ORIGINS = ["real", "set1", "synthetic"]
REAL_VIDEO_PREFIXES = ("real", "speech_")  # the names eval.realset gives its videos
KINDS = ["transcription", "speech", "multilingual", "semantic", "ocr", "visual", "audio", "image", "negative_visual",
         "negative_ocr", "negative_audio", "negative_transcription"]


@contextmanager
def server(data_dir: Path) -> Iterator[tuple[str, Any]]:
    import socket

    import uvicorn

    from framedex.api.app import create_app
    from framedex.config import Settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    settings = Settings(data_dir=data_dir, workers=1, allow_private_urls=True, worker_poll_seconds=0.2)
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    srv.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/v1.3", srv.config.app.state.platform
    finally:
        srv.should_exit = True
        thread.join(60)


def ingest(manifest: Manifest, data_dir: Path) -> dict[str, Any]:
    """Index the manifest's videos (once per data dir); returns the state: index id, tenant, video ids."""
    state_file = data_dir / "state.json"
    if state_file.exists():
        state: dict[str, Any] = json.loads(state_file.read_text())
        if set(state["videos"]) == set(manifest.videos):
            return state
    from twelvelabs import TwelveLabs

    from framedex.services import auth

    data_dir.mkdir(parents=True, exist_ok=True)
    with server(data_dir) as (url, platform):
        key, _info = auth.create_key(platform, "eval")
        tl = TwelveLabs(api_key=key, base_url=url)
        index = tl.indexes.create(index_name=f"devset-{time.time()}", addons=["thumbnail"],
                                  models=[{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}])
        tasks = {}
        started = time.monotonic()
        for name, path in manifest.videos.items():
            with open(path, "rb") as f:
                tasks[name] = tl.tasks.create(index_id=index.id, video_file=f)
        videos = {}
        for name, task in tasks.items():
            done = tl.tasks.wait_for_done(task_id=task.id, sleep_interval=1.0)
            if done.status != "ready":
                raise RuntimeError(f"{name} failed to index: {done}")
            videos[name] = task.video_id
        print(f"indexed {len(videos)} videos in {time.monotonic() - started:.0f} s", file=sys.stderr)
        state = {"index_id": index.id, "tenant_id": auth.authenticate(platform, key), "api_key": key,
                 "videos": videos}
    state_file.write_text(json.dumps(state))
    return state


def videos_by_origin(state: dict[str, Any]) -> dict[str, set[str]]:
    """The videos each origin's queries search. The real composites reuse pictures, sounds and recordings of the
    first part (set1), so each part is searched alone, as if it were its own index: a query finding the same
    picture in the other part is not wrong, and must not count as a miss."""
    real = {vid for name, vid in state["videos"].items() if name.startswith(REAL_VIDEO_PREFIXES)}
    rest = set(state["videos"].values()) - real
    return {"real": real, "set1": rest, "synthetic": rest}


def is_right(hit: dict[str, Any], query: Query, video_ids: dict[str, str]) -> bool:
    for span in query.expected:
        if video_ids.get(span["video"]) != hit["video_id"]:
            continue
        overlap = min(hit["end"], span["end"]) - max(hit["start"], span["start"])
        if overlap > 0 and overlap >= 0.5 * min(hit["end"] - hit["start"], span["end"] - span["start"]):
            return True
    return False


def run_queries(platform: Any, state: dict[str, Any], queries: list[Query], options: str,
                verbose: bool = False) -> list[dict[str, Any]]:
    from framedex.services import search

    out = []
    groups = videos_by_origin(state)
    for q in queries:
        request = search.SearchRequest(
            index_id=state["index_id"], search_options=list(ALL_OPTIONS if options == "all" else KIND_OPTIONS[q.kind]),
            query_text=q.text, query_media_type="image" if q.image else None,
            query_images=[Path(q.image).read_bytes()] if q.image else [], page_limit=10)
        search.validate(request)
        t0 = time.perf_counter()
        hits = search.rank(platform, state["tenant_id"], request, groups[q.origin])
        ms = 1000 * (time.perf_counter() - t0)
        right = [is_right(h, q, state["videos"]) for h in hits[:10]]
        first = right.index(True) + 1 if True in right else None
        row = {"id": q.id, "kind": q.kind, "split": q.split, "origin": q.origin, "rank": first, "n": len(hits),
               "ms": ms,
               "top": [(h["video_id"][-4:], round(h["start"], 1), round(h["relevance"], 3), ok)
                       for h, ok in zip(hits[:3], right, strict=False)]}
        out.append(row)
        if verbose and (first is None or first > 1):
            print(f"  miss@1 {q.id!r:45} rank={first} n={len(hits)} top={row['top']}", file=sys.stderr)
    return out


def summarise(rows: list[dict[str, Any]], split: str, origin: str = "real") -> dict[str, dict[str, float]]:
    table: dict[str, dict[str, float]] = {}
    for kind in KINDS:
        sel = [r for r in rows if r["kind"] == kind and (split == "all" or r["split"] == split)
               and r.get("origin", "real") == origin]
        if not sel:
            continue
        table[kind] = {"n": len(sel),
                       "R@1": sum(1 for r in sel if r["rank"] == 1) / len(sel),
                       "R@5": sum(1 for r in sel if r["rank"] is not None and r["rank"] <= 5) / len(sel),
                       "empty": sum(1 for r in sel if r["n"] == 0) / len(sel)}
    return table


def print_table(title: str, table: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}")
    print(f"{'query type':15} {'n':>4} {'R@1':>6} {'R@5':>6} {'no hit':>7}")
    for kind, m in table.items():
        print(f"{kind:15} {int(m['n']):4d} {m['R@1']:6.2f} {m['R@5']:6.2f} {m['empty']:7.2f}")


def open_platform(data_dir: Path) -> Any:
    from framedex.config import Settings
    from framedex.platform import Platform

    return Platform(Settings(data_dir=data_dir))


def prepare(media: Path, data: Path) -> tuple[Manifest, dict[str, Any]]:
    manifest_file = media / "manifest.json"
    manifest = Manifest.load(manifest_file) if manifest_file.exists() else build(media)
    return manifest, ingest(manifest, data)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    tmp = Path(tempfile.gettempdir())
    parser.add_argument("--media", type=Path, default=tmp / "framedex-devset")
    parser.add_argument("--data", type=Path, default=tmp / "framedex-devset-data")
    parser.add_argument("--split", default="all", choices=["all", "dev", "held"])
    parser.add_argument("--options", default="native", choices=["native", "all"])
    parser.add_argument("--json", type=Path, help="write the per-query rows here")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    manifest, state = prepare(args.media, args.data)
    platform = open_platform(args.data)
    try:
        rows = run_queries(platform, state, manifest.queries, args.options, args.verbose)
    finally:
        platform.close()
    for origin in ORIGINS:
        for split in (["dev", "held", "all"] if args.split == "all" else [args.split]):
            table = summarise(rows, split, origin)
            if table:
                print_table(f"origin={origin} split={split} options={args.options}", table)
    ms = sorted(r["ms"] for r in rows)
    print(f"\nlatency per query (ms, this index): p50 {ms[len(ms) // 2]:.0f}  p99 {ms[int(len(ms) * 0.99)]:.0f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
