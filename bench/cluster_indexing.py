"""Indexing throughput of the local cluster with 1 and then 2 worker processes, in the same run.

    .venv/bin/python bench/cluster_indexing.py [VIDEO ...] [--copies 3]

Starts the cluster of `scripts/cluster.sh` (PostgreSQL + pgvector, Redis, S3, one API process) in a temp dir,
uploads every VIDEO `--copies` times through the official SDK, and times from the first upload until every
task is `ready`; then adds a second worker and does it again on a fresh index. Reports video-seconds indexed
per wall-second for each, and their ratio. Workers share this machine's cores: a second worker helps as far
as one worker leaves cores idle (waiting on the database, S3 or a single-threaded stage).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.local_cluster import Cluster, down, up
from twelvelabs import TwelveLabs

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media" / "video"
DEFAULT = [MEDIA / "lego_motor_6s.mp4", MEDIA / "ball_throw_10s.mp4", MEDIA / "tree_hand_30s.avi"]
MODELS = [{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}]


def duration(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        return float(container.duration or 0) / 1_000_000


def run(client: TwelveLabs, videos: list[Path], copies: int) -> dict[str, float]:
    index = client.indexes.create(index_name=f"bench-{time.time()}", models=MODELS)  # type: ignore[arg-type]
    start = time.monotonic()
    tasks = []
    for _ in range(copies):
        for path in videos:
            with path.open("rb") as f:
                tasks.append(client.tasks.create(index_id=index.id, video_file=f).id)
    for task_id in tasks:
        done = client.tasks.wait_for_done(task_id=task_id, sleep_interval=0.5)  # type: ignore[attr-defined]
        if done.status != "ready":
            raise RuntimeError(f"task {task_id} ended {done.status}")
    wall = time.monotonic() - start
    seconds = copies * sum(duration(p) for p in videos)
    return {"videos": len(tasks), "video_seconds": round(seconds, 1), "wall_seconds": round(wall, 1),
            "video_s_per_wall_s": round(seconds / wall, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("videos", nargs="*", type=Path, default=DEFAULT)
    parser.add_argument("--copies", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="framedex-bench-cluster-") as tmp:
        state = Path(tmp)
        try:
            cluster: Cluster = up(state, api_count=1, worker_count=1)
            client = TwelveLabs(api_key=cluster.api_key, base_url=f"{cluster.api_urls[0]}/v1.3")
            run(client, args.videos[:1], 1)  # warm-up: model packs loaded in the worker, caches filled
            one = run(client, args.videos, args.copies)
            cluster = up(state, api_count=1, worker_count=2)  # adds the second worker (and records it for `down`)
            run(client, args.videos[:2], 1)  # two at once: the new worker most likely takes one and loads its models
            two = run(client, args.videos, args.copies)
        finally:
            down(state)
    print(json.dumps({"one_worker": one, "two_workers": two,
                      "speed_up": round(two["video_s_per_wall_s"] / one["video_s_per_wall_s"], 2)}, indent=1))


if __name__ == "__main__":
    main()
