"""Analysis speed: a summary of a 10-minute video with the local LLM on N threads (default 2).

    .venv/bin/python bench/analysis_speed.py [--minutes 10] [--threads 2] [--max-tokens 200] [--runs 1]
    .venv/bin/python bench/analysis_speed.py --data-dir DIR --video-id ID   # a video already indexed there

By default the video is a realistic 10-minute timeline written straight into a fresh data directory (a talk
of ~150 words a minute over five topics, frame labels every 2 s, on-screen titles, shot cuts), so the
numbers measure generation, not indexing. Reports: prompt tokens, timeline rendering level or map-reduce,
time to first token, generation tokens/s, end-to-end seconds (JSON on the last line).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from framedex.config import Settings
from framedex.ids import new_id, utcnow
from framedex.ingest.keys import scan_key
from framedex.models.base import ChatMessage
from framedex.platform import Platform
from framedex.services import analysis, auth
from framedex.storage.tables import AssetRow, ClipFeatureRow, IndexedAssetRow, IndexRow, SpeechSegmentRow

TOPICS = [
    ("city budget", "The council approved the city budget with more money for buses, bike lanes and "
                    "road repairs, while the parks department faces cuts next year.",
     "person, suit, microphone", "CITY BUDGET 2025"),
    ("harbour bridge", "Construction of the new harbour bridge is ahead of schedule; engineers expect the "
                       "steel arch to be closed before the winter storms arrive.",
     "bridge, crane, river", "HARBOUR BRIDGE"),
    ("football", "In sports, the home team won three to one after two late goals from the young striker, "
                 "and the coach praised the defence.",
     "soccer ball, stadium, crowd", "SPORTS"),
    ("weather", "The weekend forecast brings sunshine on Saturday, heavy rain on Sunday and strong winds "
                "along the coast with temperatures around fifteen degrees.",
     "map, cloud, television", "WEATHER"),
    ("bird migration", "Researchers tracked thousands of geese migrating across the northern lakes and "
                       "found they leave two weeks earlier than a decade ago.",
     "goose, lake, sky", "NATURE REPORT"),
]


def make_video(platform: Platform, tenant: str, minutes: float) -> str:
    duration = minutes * 60
    per_topic = duration / len(TOPICS)
    with platform.store.session() as s:
        index = IndexRow(id=new_id(), tenant_id=tenant, name="bench", addons=[],
                         models=[{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}])
        asset = AssetRow(id=new_id(), tenant_id=tenant, method="direct", status="ready", file_type="video",
                         filename="bench.mp4", system_metadata={}, user_metadata={})
        s.add_all([index, asset])
        s.flush()
        video = IndexedAssetRow(id=new_id(), tenant_id=tenant, index_id=index.id, asset_id=asset.id,
                                status="ready", filename="bench.mp4", duration=duration, system_metadata={},
                                user_metadata={}, indexed_at=utcnow())
        s.add(video)
        s.flush()
        seq, cuts = 0, []
        for k, (_name, sentence, labels, card) in enumerate(TOPICS):
            base = k * per_topic
            t = base
            while t < base + per_topic - 4:  # ~150 words a minute: one 25-word sentence every 10 s
                s.add(SpeechSegmentRow(tenant_id=tenant, index_id=index.id, video_id=video.id, seq=seq,
                                       start=t, end=t + 9.5, text=sentence, words=[]))
                seq += 1
                t += 10
            for f in range(int(per_topic // 2)):
                s.add(ClipFeatureRow(tenant_id=tenant, index_id=index.id, video_id=video.id, kind="visual",
                                     clip_seq=0, start=base + 2 * f, end=base + 2 * f, text=labels, data={}))
            s.add(ClipFeatureRow(tenant_id=tenant, index_id=index.id, video_id=video.id, kind="ocr", clip_seq=0,
                                 start=base + 1, end=base + 1, text=card, data={}))
            cuts += [base + x for x in range(0, int(per_topic), 15) if base + x > 0]
        video_id = video.id
    platform.blobs.put_bytes(scan_key(video_id), json.dumps({"cuts": cuts, "frame_times": [],
                                                              "duration": duration}).encode())
    return video_id


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=200)
    ap.add_argument("--runs", type=int, default=1, help="later runs reuse the cached prompt prefix")
    ap.add_argument("--data-dir", type=Path)
    ap.add_argument("--video-id")
    args = ap.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="framedex-bench-"))
    settings = Settings(data_dir=data_dir, workers=0, llm_threads=args.threads)
    platform = Platform(settings)
    if args.video_id:
        with platform.store.session() as s:
            row = s.get(IndexedAssetRow, args.video_id)
            if row is None:
                print(f"no video {args.video_id} in {data_dir}", file=sys.stderr)
                return 2
            tenant = row.tenant_id
        video_id = args.video_id
    else:
        tenant = auth.create_key(platform, "bench")[1].tenant_id
        video_id = make_video(platform, tenant, args.minutes)
    t0 = time.perf_counter()
    platform.models.llm().complete([ChatMessage("user", "hi")], max_tokens=1)
    load_s = time.perf_counter() - t0
    print(f"model load + warm-up: {load_s:.1f}s (threads={args.threads})")
    report: dict[str, object] = {"minutes": args.minutes, "threads": args.threads, "load_seconds": round(load_s, 2)}
    for run in range(args.runs):
        body = {"video_id": video_id, "prompt": analysis.SUMMARY_PROMPT, "max_tokens": args.max_tokens,
                "temperature": 0}
        job = analysis.prepare(platform, tenant, body)
        t0 = time.perf_counter()
        first: list[float] = []

        def on_text(_piece: str, first: list[float] = first, t0: float = t0) -> bool:
            if not first:
                first.append(time.perf_counter() - t0)
            return False

        result = job.run(on_text)
        total = time.perf_counter() - t0
        stats = {"run": run + 1, "input_tokens": result.input_tokens, "output_tokens": result.output_tokens,
                 "time_to_first_token_s": round(first[0], 2) if first else None,
                 "generation_tokens_per_s": round(result.tokens_per_second or 0, 2),
                 "end_to_end_s": round(total, 2), "finish_reason": result.finish_reason}
        print(json.dumps(stats))
        print("summary:", result.data[:600].replace("\n", " "))
        report[f"run{run + 1}"] = stats
    platform.models.close()
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
