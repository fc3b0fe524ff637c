"""Latency of the whole search path (`services.search.run_search`) at a stated corpus size.

    .venv/bin/python bench/search_end_to_end.py                 # 10k frame vectors
    .venv/bin/python bench/search_end_to_end.py --sizes 10000 100000

Unlike `bench/search_latency.py` (the raw vector index), this times what an API call does after parsing:
query embedding with the real text model, label-vocabulary expansion, ANN searches in every requested space,
FTS5 over transcripts, re-scoring candidates with their stored labels (metadata database), fuzzy OCR,
calibration, fusion, grouping and writing the paging session.

The corpus is synthetic but shaped like ingest's output: videos of 60 s with one `visual` vector per second
(ConSE-like: a weighted mix of 3 label vectors of the real vocabulary, with its `clip_features` row of terms),
one `audio` vector per 5 s clip (a mix of AudioSet label vectors, with its tags), one transcript segment per
clip (FTS5 row + vector) and an on-screen text line every 4th clip. Transcript words are drawn like real speech:
about 40 % function words ("the", "of"...), the rest from a vocabulary of a few thousand words with Zipf
frequencies (a content word is rare, a function word is everywhere: what makes full-text search cheap or
costly). "Size" is the number of `visual` vectors
(frames); the other spaces hold 1/5 (audio, transcription) and 1/20 (ocr) of it. Each size runs in its own
process. Prints one JSON object per size.

`services.search.cache` keeps what re-scoring reads (ready videos, clip spans, stored labels per clip, on-screen
text lines, query text vectors) between searches. By default the timed rounds repeat the same queries after a
warm-up round, so they measure the steady state (every cache warm). ``--cold`` drops the caches before every
timed query: the first search after a restart, or a novel query over videos no earlier search touched.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

FRAMES_PER_VIDEO = 60
CLIP_SECONDS = 5
_WORDS_TEXT = """river mountain city market engine garden station window music dinner storm harbor village bridge
teacher doctor travel summer winter morning evening forest island museum library festival"""
WORDS = tuple(_WORDS_TEXT.split())
_FUNCTION_TEXT = "the of and to a in is it that was for on with as at by from this be are have not or but his her they"
QUERIES = [
    ("dog running on grass", ["visual"]),
    ("car horn", ["audio"]),
    ("mountain station", ["transcription"]),
    ("grand opening sale", ["visual"]),
    ("a red sports car", ["visual", "audio", "transcription"]),
    ("people playing music", ["visual", "audio", "transcription"]),
]


def build(data_dir: Path, size: int, seed: int = 1) -> dict[str, Any]:
    from sqlalchemy import insert

    from framedex.config import Settings
    from framedex.ids import new_id
    from framedex.platform import Platform
    from framedex.services import auth, indexes
    from framedex.services.search import expand as search_expand
    from framedex.services.search.text import STOP_WORDS
    from framedex.storage.tables import AssetRow, ClipFeatureRow, ClipRow, IndexedAssetRow, SpeechSegmentRow
    from framedex.storage.vectors import VectorRecord

    rng = np.random.default_rng(seed)
    pyrng = random.Random(seed)
    platform = Platform(Settings(data_dir=data_dir))
    _key, _info = auth.create_key(platform, "bench")
    tenant = auth.authenticate(platform, _key)
    index = indexes.create(platform, tenant, name="bench",
                           models=[{"model_name": "marengo3.0", "model_options": ["visual", "audio"]}])
    visual = search_expand.visual_labels(platform)
    audio = search_expand.audio_labels(platform)
    assert visual is not None and audio is not None
    # Zipf-distributed content words (rank r has weight 1/r), a fixed share of function words
    vocabulary = sorted({w for name in [*visual.names, *audio.names, *WORDS] for w in name.lower().split()
                         if w.isalpha() and len(w) > 2} - STOP_WORDS)
    pyrng.shuffle(vocabulary)
    zipf = np.cumsum(1.0 / np.arange(1, len(vocabulary) + 1))
    zipf /= zipf[-1]
    function_words = _FUNCTION_TEXT.split()

    def sentence(n: int) -> str:
        words = [pyrng.choice(function_words) if pyrng.random() < 0.4
                 else vocabulary[int(np.searchsorted(zipf, pyrng.random()))] for _ in range(n)]
        return " ".join(words)

    started = time.perf_counter()

    def mixes(space: search_expand.LabelSpace, n: int) -> tuple[np.ndarray, list[list[list[Any]]]]:
        """n vectors, each a random mix of 3 label vectors (plus noise), with their weighted terms."""
        picks = np.stack([rng.choice(len(space.names), 3, replace=False) for _ in range(n)])
        weights = rng.dirichlet(np.ones(3), size=n)
        vecs = np.einsum("nk,nkd->nd", weights, space.vectors[picks])
        vecs += 0.02 * rng.standard_normal(vecs.shape)
        terms = [[[space.names[i], round(float(w), 4)] for i, w in zip(row, ws, strict=True)]
                 for row, ws in zip(picks.tolist(), weights, strict=True)]
        return vecs.astype(np.float32), terms

    clips_per_video = FRAMES_PER_VIDEO // CLIP_SECONDS
    n_videos = max(1, size // FRAMES_PER_VIDEO)
    next_segment = 1
    per_transaction = 25  # videos written per transaction (a fresh database: segment ids are assigned here)
    for first in range(0, n_videos, per_transaction):
        written = []
        with platform.store.session() as s:
            for v in range(first, min(n_videos, first + per_transaction)):
                video_id = new_id()
                asset_id = new_id()
                s.execute(insert(AssetRow), [{"id": asset_id, "tenant_id": tenant, "method": "direct",
                                              "status": "ready", "filename": f"v{v}.mp4"}])
                s.execute(insert(IndexedAssetRow), [{
                    "id": video_id, "tenant_id": tenant, "index_id": index.id, "asset_id": asset_id,
                    "status": "ready", "filename": f"v{v}.mp4", "duration": float(FRAMES_PER_VIDEO), "width": 640,
                    "height": 360}])
                frame_vecs, frame_terms = mixes(visual, FRAMES_PER_VIDEO)
                sound_vecs, sound_tags = mixes(audio, clips_per_video)
                common = {"tenant_id": tenant, "index_id": index.id, "video_id": video_id}
                clip_rows, feature_rows, segment_rows = [], [], []
                frames, sounds, speech, lines = [], [], [], []
                for c in range(clips_per_video):
                    c_start, c_end = float(c * CLIP_SECONDS), float((c + 1) * CLIP_SECONDS)
                    clip_rows.append({**common, "seq": c, "start": c_start, "end": c_end})
                    for f in range(CLIP_SECONDS):
                        i = c * CLIP_SECONDS + f
                        t, terms = float(i), frame_terms[i]
                        frames.append(VectorRecord(video_id, c, t, t + 1, frame_vecs[i], {"t": t}))
                        feature_rows.append({**common, "kind": "visual", "clip_seq": c, "start": t, "end": t + 1,
                                             "text": ", ".join(x[0] for x in terms),
                                             "data": {"terms": terms, "labels": terms, "attributes": []}})
                    sounds.append(VectorRecord(video_id, c, c_start, c_end, sound_vecs[c], None))
                    feature_rows.append({**common, "kind": "audio", "clip_seq": c, "start": c_start, "end": c_end,
                                         "text": "", "data": {"tags": sound_tags[c]}})
                    seg_id, next_segment = next_segment, next_segment + 1
                    segment_rows.append({**common, "id": seg_id, "seq": c, "start": c_start, "end": c_end,
                                         "text": sentence(12), "words": []})
                    speech.append(VectorRecord(video_id, c, c_start, c_end,
                                               rng.standard_normal(384).astype(np.float32), {"segment": seg_id}))
                    if c % 4 == 0:
                        line = " ".join(pyrng.choice(WORDS).upper() for _ in range(3))
                        feature_rows.append({**common, "kind": "ocr", "clip_seq": c, "start": c_start,
                                             "end": c_start + 2, "text": line, "data": {}})
                        lines.append(VectorRecord(video_id, c, c_start, c_start + 2,
                                                  rng.standard_normal(384).astype(np.float32), {"text": line}))
                s.execute(insert(ClipRow), clip_rows)
                s.execute(insert(ClipFeatureRow), feature_rows)
                s.execute(insert(SpeechSegmentRow), segment_rows)
                for row in segment_rows:
                    platform.lexical.add(s, tenant_id=tenant, index_id=index.id, video_id=video_id,
                                         segment_id=row["id"], content=row["text"])
                written.append((video_id, {"visual": frames, "audio": sounds, "transcription": speech,
                                           "ocr": lines}))
        for video_id, spaces in written:
            for space, records in spaces.items():
                platform.vectors.replace_video(tenant_id=tenant, index_id=index.id, space=space, video_id=video_id,
                                               records=records)
    build_s = time.perf_counter() - started
    platform.close()
    return {"tenant": tenant, "index_id": index.id, "videos": n_videos, "build_s": round(build_s, 1)}


def measure(data_dir: Path, state: dict[str, Any], rounds: int, cold: bool = False) -> dict[str, Any]:
    from framedex.config import Settings
    from framedex.platform import Platform
    from framedex.services import search
    from framedex.services.search import cache as search_cache

    platform = Platform(Settings(data_dir=data_dir))
    platform.warm_up()  # as `framedex serve` does at start-up
    try:
        # warm: models loaded, vectors mapped, ANN built (not part of a query's latency)
        for text, options in QUERIES:
            search.run_search(platform, state["tenant"], search.SearchRequest(state["index_id"], options, text))
        per_query: dict[str, list[float]] = {}
        for _ in range(rounds):
            for text, options in QUERIES:
                if cold:
                    search_cache.clear(platform)
                t0 = time.perf_counter()
                search.run_search(platform, state["tenant"], search.SearchRequest(state["index_id"], options, text,
                                                                                  page_limit=10))
                per_query.setdefault(f"{text} [{','.join(options)}]", []).append(1000 * (time.perf_counter() - t0))
    finally:
        platform.close()
    every = sorted(ms for values in per_query.values() for ms in values)
    return {"cache": "cold" if cold else "warm", "load_avg_1m": round(os.getloadavg()[0], 2),
            "p50_ms": round(float(np.percentile(every, 50)), 1), "p99_ms": round(float(np.percentile(every, 99)), 1),
            "per_query_p50_ms": {k: round(float(np.median(v)), 1) for k, v in per_query.items()}}


def one(size: int, rounds: int, cold: bool, keep: Path | None = None) -> dict[str, Any]:
    """Build a corpus of `size` frame vectors and time it; with `keep`, the corpus is built once into
    `keep/<size>` and reused by later runs."""
    if keep is not None:
        data = keep / str(size)
        state_file = data / "state.json"
        if not state_file.exists():
            data.mkdir(parents=True, exist_ok=True)
            state_file.write_text(json.dumps(build(data, size)))
        state = json.loads(state_file.read_text())
        return {"frames": size, "videos": state["videos"], "build_s": state["build_s"],
                **measure(data, state, rounds, cold)}
    with tempfile.TemporaryDirectory(prefix="fdx-bench-e2e-") as tmp:
        state = build(Path(tmp), size)
        result = measure(Path(tmp), state, rounds, cold)
    return {"frames": size, "videos": state["videos"], "build_s": state["build_s"], **result}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--cold", action="store_true", help="drop the search caches before every timed query")
    parser.add_argument("--keep", type=Path, help="build each corpus once into KEEP/<size> and reuse it")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one, args.rounds, args.cold, args.keep)))
        return 0
    results = []
    for size in args.sizes:
        out = subprocess.run([sys.executable, __file__, "--one", str(size), "--rounds", str(args.rounds)]
                             + (["--cold"] if args.cold else []) + (["--keep", str(args.keep)] if args.keep else []),
                             check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
        print(out, flush=True)
        results.append(json.loads(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
