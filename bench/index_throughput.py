"""Indexing throughput: video-seconds indexed per wall-second, against an ffmpeg full decode of the same file.

    .venv/bin/python bench/index_throughput.py [VIDEO ...] [--minutes 2] [--runs 1]

Without VIDEO it generates a test video (720p test pattern with espeak-ng speech) of --minutes.
Both measurements run in this process's run, on this machine, so their ratio is meaningful.
Reports per-stage seconds (as stored with the video) and the peak RSS of the indexing process.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from framedex.config import Settings
from framedex.ingest.probe import probe
from framedex.jobs.worker import Worker
from framedex.platform import Platform, job_handlers
from framedex.services import auth, indexes, videos
from framedex.storage.tables import IndexedAssetRow

SCRIPT = ("In today's briefing we cover the new harbour bridge, the city budget, the weather for the weekend "
          "and a report on the migration of birds across the northern lakes. ")


def make_video(path: Path, minutes: float) -> Path:
    wav = path.with_suffix(".wav")
    subprocess.run(["espeak-ng", "-s", "165", "-w", str(wav), SCRIPT * max(1, int(minutes * 6))], check=True)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
                    "-stream_loop", "-1", "-i", str(wav), "-t", str(minutes * 60), "-c:v", "libx264",
                    "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)], check=True)
    return path


def ffmpeg_decode_seconds(path: Path) -> float:
    started = time.perf_counter()
    subprocess.run(["ffmpeg", "-loglevel", "error", "-threads", "2", "-i", str(path), "-f", "null", "-"],
                   check=True)
    return time.perf_counter() - started


def index_seconds(platform: Platform, tenant: str, index_id: str, path: Path) -> tuple[float, dict[str, float]]:
    worker = Worker(platform.queue, job_handlers(platform), poll_seconds=0.05)
    started = time.perf_counter()
    with path.open("rb") as f:
        view = videos.create_task(platform, tenant, index_id=index_id, stream=f, filename=path.name)
    while True:
        if not worker.run_once():
            with platform.store.session() as s:
                row = s.get(IndexedAssetRow, view.video.id if view.video else "")
                if row is None or row.status in ("ready", "failed"):
                    break
            time.sleep(0.05)
    elapsed = time.perf_counter() - started
    with platform.store.session() as s:
        row = s.get(IndexedAssetRow, view.video.id if view.video else "")
        assert row is not None and row.status == "ready", row.error if row else "missing"
        return elapsed, dict(row.stage_timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="*", type=Path)
    parser.add_argument("--minutes", type=float, default=2.0, help="length of the generated video")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="framedex-bench-"))
    inputs = args.videos or [make_video(work / "bench.mp4", args.minutes)]
    platform = Platform(Settings(data_dir=work / "data", workers=0))
    tenant = auth.ensure_local_tenant(platform)
    index = indexes.create(platform, tenant, name="bench", models=[
        {"model_name": "marengo3.0", "model_options": ["visual", "audio"]}])
    platform.models.speech().transcribe(__import__("numpy").zeros(16000, dtype="float32"))  # load outside timing
    results = []
    for path in inputs:
        info = probe(path)
        decode = ffmpeg_decode_seconds(path)
        elapsed, stages = index_seconds(platform, tenant, index.id, path)
        results.append({
            "file": str(path), "duration_s": info.duration, "resolution": f"{info.width}x{info.height}",
            "index_wall_s": round(elapsed, 2), "video_s_per_wall_s": round(info.duration / elapsed, 2),
            "ffmpeg_decode_wall_s": round(decode, 2),
            "index_time_vs_ffmpeg_decode": round(elapsed / decode, 2),
            "stages_s": stages,
        })
    peak_rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report = {"results": results, "peak_rss_mib": round(peak_rss_mib, 1),
              "cpu_count": __import__("os").cpu_count()}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    platform.close()


if __name__ == "__main__":
    sys.exit(main())
