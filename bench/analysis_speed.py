"""Analysis speed: a summary of a 10-minute video with the local LLM on N threads (default 2).

    .venv/bin/python bench/analysis_speed.py [--minutes 10] [--threads 2] [--max-tokens 200] [--runs 1]
    .venv/bin/python bench/analysis_speed.py --data-dir DIR --video-id ID   # a video already indexed there

By default the video is a realistic 10-minute timeline written straight into a fresh data directory (a talk
of ~150 words a minute over five topics, frame labels every 2 s, on-screen titles, shot cuts), so the
numbers measure generation, not indexing. Reports: prompt tokens, timeline rendering level or map-reduce,
time to first token, generation tokens/s, end-to-end seconds (JSON on the last line).

    .venv/bin/python bench/analysis_speed.py --real [--long] [--threads 2]

``--real`` measures analysis prepared at index time (``services/analysis_prepared.py``) on a composite of real
footage from ``shared/media`` (~2.6 min, with an espeak-ng narration), indexed here into an index with a pegasus
model, all in one run: a custom question, the default summary and chapters before preparation (cold model);
then the preparation (time per video-minute, while a second copy of the video is indexed alongside, whose
throughput is reported as indexing with preparation on; disk of the saved prompt state per video-minute); then,
after the model is unloaded (as after a restart), the same requests plus custom summary/chapters prompts
through ``/analyze``'s code path, starting from the restored state. ``--long`` appends six more real clips
(cartoon cinematics, a beamer talk, clip art with sounds, a desktop screencast, a German lecture, an archival
photo): ~11 minutes, the length the analysis-speed issue names.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from framedex.config import Settings
from framedex.ids import new_id, utcnow
from framedex.ingest.keys import scan_key
from framedex.ingest.probe import probe
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


MEDIA = Path(__file__).resolve().parents[2] / "shared" / "media"
COMPOSITE = [("real2/video/earth_at_night_rotating_30s.mp4", 30), ("real2/video/terminal_screencast_xterm_46s.mp4", 46),
             ("real2/video/document_scroll_wikipedia_en_de_52s.mp4", 52), ("video/tree_hand_30s.avi", 30)]
NARRATION = ("Here is the Earth at night, seen from space, with the lights of the cities. "
             "Next, a terminal window where someone types commands. Then a Wikipedia article about optical "
             "character recognition scrolls by, first in English and then in German. Finally, a hand touches "
             "the branches of a small tree in a garden.")
# --real --long appends these (each with its own sound, or silence) to the composite: ~11 minutes in all.
LONG_EXTRA = ["real2/video/planetblupi_cinematics_compilation_128s.mp4",
              "real2/video/slides_beamer_conference_talk_168s.mp4",
              "real2/video/clipart_objects_with_their_sounds_84s.mp4",
              "real2/video/gnome_display_settings_screencast_37s.webm",
              "real2/video/slides_german_lecture_2s_per_slide_66s.mp4",
              "real2/video/archival_bw_solvay_1927_group_photo_pan_20s.mp4"]
CUSTOM_QUESTION = "What is shown in this video? Answer in one sentence."
CUSTOM_SUMMARY = "Summarize this video in three sentences."
CUSTOM_CHAPTERS = "List the chapters of this video, one line each: start time in seconds, then a short title."


def make_composite(work: Path) -> Path:
    """The clips of COMPOSITE one after another at 640x360, 25 fps, with the narration spoken over them."""
    out, wav = work / "composite.mp4", work / "narration.wav"
    subprocess.run(["espeak-ng", "-s", "140", "-w", str(wav), NARRATION], check=True)
    inputs: list[str] = []
    chains = []
    for i, (name, seconds) in enumerate(COMPOSITE):
        inputs += ["-t", str(seconds), "-i", str(MEDIA / name)]
        chains.append(f"[{i}:v]scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2,"
                      f"setsar=1,fps=25,format=yuv420p[v{i}]")
    n = len(COMPOSITE)
    graph = ";".join(chains) + ";" + "".join(f"[v{i}]" for i in range(n)) + f"concat=n={n}:v=1:a=0[v]"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *inputs, "-i", str(wav), "-filter_complex", graph,
                    "-map", "[v]", "-map", f"{n}:a", "-af", "apad", "-t", str(sum(s for _, s in COMPOSITE)),
                    "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", str(out)], check=True)
    return out


def make_long_composite(work: Path) -> Path:
    """The composite followed by the LONG_EXTRA clips at the same size, each with its own sound (silence where it
    has none): a video of ~11 minutes and many subjects."""
    parts = [make_composite(work), *(MEDIA / name for name in LONG_EXTRA)]
    out = work / "composite_long.mp4"
    inputs: list[str] = []
    chains: list[str] = []
    pairs = ""
    for i, part in enumerate(parts):
        inputs += ["-i", str(part)]
        chains.append(f"[{i}:v]scale=640:360:force_original_aspect_ratio=decrease,pad=640:360:(ow-iw)/2:(oh-ih)/2,"
                      f"setsar=1,fps=25,format=yuv420p[v{i}]")
        info = probe(part)
        seconds = info.duration
        source = f"[{i}:a]" if info.has_audio else f"anullsrc=r=44100:cl=mono,atrim=0:{seconds:.3f},"
        chains.append(f"{source}aresample=44100,aformat=channel_layouts=mono,apad,atrim=0:{seconds:.3f}[a{i}]")
        pairs += f"[v{i}][a{i}]"
    graph = ";".join(chains) + f";{pairs}concat=n={len(parts)}:v=1:a=1[v][a]"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *inputs, "-filter_complex", graph, "-map", "[v]",
                    "-map", "[a]", "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac", str(out)], check=True)
    return out


def index_video(platform: Platform, tenant: str, index_id: str, path: Path) -> tuple[str, float]:
    from framedex.jobs.worker import Worker
    from framedex.services import videos
    from framedex.services.indexing import IngestJobs

    worker = Worker(platform.queue, IngestJobs(platform).handlers(), poll_seconds=0.05)
    t0 = time.perf_counter()
    with path.open("rb") as f:
        view = videos.create_task(platform, tenant, index_id=index_id, stream=f, filename=path.name)
    assert view.video is not None
    while True:
        if not worker.run_once():
            with platform.store.session() as s:
                row = s.get(IndexedAssetRow, view.video.id)
                assert row is not None
                if row.status in ("ready", "failed"):
                    assert row.status == "ready", row.error
                    return row.id, time.perf_counter() - t0
            time.sleep(0.05)


def timed(fn: Callable[[Callable[[str], bool]], object]) -> dict[str, object]:
    t0 = time.perf_counter()
    first: list[float] = []

    def on_text(_piece: str) -> bool:
        if not first:
            first.append(time.perf_counter() - t0)
        return False

    result = fn(on_text)
    out: dict[str, object] = {"first_token_s": round(first[0], 2) if first else None,
                              "end_to_end_s": round(time.perf_counter() - t0, 2)}
    if isinstance(result, analysis.Result):
        out.update(input_tokens=result.input_tokens, output_tokens=result.output_tokens, text=result.data[:300])
    elif isinstance(result, analysis.Summary | analysis.Gist):
        if isinstance(result, analysis.Gist):
            text = result.title or ""
        elif result.chapters is not None:
            text = json.dumps([c.to_record() for c in result.chapters])
        else:
            text = result.text or ""
        out.update(input_tokens=result.usage.input_tokens, output_tokens=result.usage.output_tokens,
                   text=text[:300])
    return out


def measure(platform: Platform, tenant: str, video_id: str, *, custom_only: bool = False) -> dict[str, object]:
    def analyze(prompt: str, max_tokens: int) -> Callable[[Callable[[str], bool]], object]:
        request = analysis.AnalyzeInput(prompt, max_tokens=max_tokens, temperature=0, video_id=video_id)
        return lambda on_text: analysis.prepare(platform, tenant, request).run(on_text)

    def summarize(kind: str) -> Callable[[Callable[[str], bool]], object]:
        return lambda on_text: analysis.summarize(platform, tenant, analysis.SummarizeInput(kind, video_id=video_id))

    out: dict[str, object] = {"custom_question": timed(analyze(CUSTOM_QUESTION, 60))}
    print(json.dumps(out), flush=True)
    if not custom_only:
        out["default_summary"] = timed(summarize("summary"))
        out["default_chapters"] = timed(summarize("chapter"))
        out["default_gist"] = timed(lambda _t: analysis.gist(platform, tenant, analysis.GistInput(
            ("title", "topic", "hashtag"), video_id=video_id)))
        print(json.dumps(out), flush=True)
    out["custom_summary"] = timed(analyze(CUSTOM_SUMMARY, 200))
    out["custom_chapters"] = timed(analyze(CUSTOM_CHAPTERS, 300))
    print(json.dumps(out), flush=True)
    return out


def unload_llm(platform: Platform, *, reload: bool = False) -> None:
    """Drop the model and its caches, as a restart would; ``reload`` loads it again outside the timings."""
    platform.models.llm().slot.unload()  # type: ignore[attr-defined]
    if reload:
        platform.models.llm().complete([ChatMessage("user", "hi")], max_tokens=1)


def real(args: argparse.Namespace) -> int:
    """Prepared vs. not prepared on a composite of real footage, in one run (see the module docstring)."""
    import threading

    from framedex.models import llm_state
    from framedex.services import indexes
    from framedex.services.analysis import prepared as analysis_prepared

    work = Path(tempfile.mkdtemp(prefix="framedex-bench-real-"))
    path = make_long_composite(work) if args.long else make_composite(work)
    settings = Settings(data_dir=work / "data", workers=0, llm_threads=args.threads)
    platform = Platform(settings)
    tenant = auth.ensure_local_tenant(platform)
    index = indexes.create(platform, tenant, name="bench", models=[
        {"model_name": "marengo3.0", "model_options": ["visual", "audio"]},
        {"model_name": "pegasus1.2", "model_options": ["visual", "audio"]}])
    video_id, index_s = index_video(platform, tenant, index.id, path)
    with platform.store.session() as s:
        row = s.get(IndexedAssetRow, video_id)
        assert row is not None
        duration = float(row.duration or 0)
    minutes = duration / 60
    report: dict[str, object] = {"video_seconds": round(duration, 1), "threads": args.threads,
                                 "index_s": round(index_s, 1), "index_x_realtime": round(duration / index_s, 2)}
    print(json.dumps(report), flush=True)
    t0 = time.perf_counter()
    platform.models.llm().complete([ChatMessage("user", "hi")], max_tokens=1)
    report["model_load_s"] = round(time.perf_counter() - t0, 1)
    report["not_prepared"] = measure(platform, tenant, video_id)

    # preparation (as its job runs it), while a second copy of the video is being indexed
    unload_llm(platform)
    prep: dict[str, float] = {}

    def run_prep() -> None:
        t = time.perf_counter()
        with llm_state.background():
            analysis_prepared.prepare_video(platform, video_id)
        prep["seconds"] = time.perf_counter() - t

    thread = threading.Thread(target=run_prep)
    t_both = time.perf_counter()
    thread.start()
    _second, index2_s = index_video(platform, tenant, index.id, path)
    thread.join()
    both_s = time.perf_counter() - t_both
    state_bytes = sum(p.stat().st_size for p in (settings.data_dir / "llm-states").glob("*.bin"))
    report["preparation"] = {
        "seconds": round(prep["seconds"], 1), "seconds_per_video_minute": round(prep["seconds"] / minutes, 1),
        "state_mib": round(state_bytes / 2**20, 1),
        "state_mib_per_video_minute": round(state_bytes / 2**20 / minutes, 1),
        "index_alongside_s": round(index2_s, 1), "index_alongside_x_realtime": round(duration / index2_s, 2),
        "index_and_preparation_wall_s": round(both_s, 1)}
    print(json.dumps(report["preparation"]), flush=True)

    unload_llm(platform, reload=True)  # as after a restart: the prompt state comes from disk
    report["prepared"] = measure(platform, tenant, video_id)
    platform.models.close()
    print(json.dumps(report))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=200)
    ap.add_argument("--runs", type=int, default=1, help="later runs reuse the cached prompt prefix")
    ap.add_argument("--data-dir", type=Path)
    ap.add_argument("--video-id")
    ap.add_argument("--real", action="store_true", help="prepared vs. not prepared on real footage")
    ap.add_argument("--long", action="store_true", help="with --real: an ~11-minute composite instead of 2.6 min")
    args = ap.parse_args()
    if args.real:
        return real(args)
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
        job = analysis.prepare(platform, tenant, analysis.AnalyzeInput(
            analysis.SUMMARY_PROMPT, max_tokens=args.max_tokens, temperature=0, video_id=video_id))
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
