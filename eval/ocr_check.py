"""On-screen text on real footage: is the text read at all, and does a quote of it find it?

    python -m eval.ocr_check [--data DIR] [--media DIR] [--reocr] [-v]

Indexes a few real videos (slides, documents, screencasts; `shared/media/real2`) through the real API on a
loopback server (once per data directory, `eval.evaluate.ingest`), then

* **read**: the share of ground-truth text items (one line of a slide, a tooltip, a terminal line: the
  ``|``-separated items of `groundtruth.json`) of at least two words whose words mostly (>= 70 %, with OCR
  slack: a word counts when a read word is >= 0.8 similar) appear in the OCR lines stored for the video
  around the item's time (+- 1 s);
* **spans**: of the stored lines whose text is a ground-truth item's (>= 0.9 similar), the share whose time range
  stays within the time that text is on screen (+- 1 s; the same text on consecutive slides counts as one
  stretch): a line read on one slide must not run on over the next slides, where other text is shown;
* **R@1 / R@5**: for every item of >= 5 words, a quote as a user would type it (3-5 consecutive words from
  its middle) is searched with ``search_options=["visual"]``; a hit is right when it is the item's video and
  overlaps its interval (+- 1 s).

Videos are split by source: `dev` videos may be looked at while developing, `held` ones only checked.
``--reocr`` re-runs only the OCR stage on the indexed videos (the decoded frames are kept), for iterating on
the OCR stage without re-indexing everything.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

from eval.devset import Manifest

REAL2 = Path(__file__).resolve().parents[2] / "shared" / "media" / "real2"
VIDEOS = {  # file → split
    "slides_context_talks_quick_1to4s_30s.mp4": "dev",
    "gnome_display_settings_screencast_37s.webm": "dev",
    "terminal_screencast_xterm_46s.mp4": "dev",
    "slides_german_lecture_2s_per_slide_66s.mp4": "held",
    "document_scroll_wikipedia_en_de_52s.mp4": "held",
    "gradio_greet_form_screencast_4s.mp4": "held",
    "thanks_for_watching_title_7s.mp4": "held",
}
SLACK = 1.0
MAX_QUERIES_PER_VIDEO = 15


def _words(text: str) -> list[str]:
    from framedex.services.search.text import tokens

    return tokens(text)


def text_items(media: Path) -> dict[str, list[tuple[float, float, str]]]:
    """(start, end, text) of every on-screen text item of the chosen videos."""
    data = json.loads((media / "groundtruth.json").read_text())
    out: dict[str, list[tuple[float, float, str]]] = {}
    for f in data["files"]:
        name = Path(f["file"]).name
        if name not in VIDEOS:
            continue
        items: list[tuple[float, float, str]] = []
        for entry in (f.get("on_screen_text") or []) + [s for s in f.get("segments", []) if s.get("text")]:
            for part in str(entry["text"]).split(" | "):
                part = part.strip()
                if len([w for w in _words(part) if len(w) > 1]) >= 2:
                    items.append((float(entry["start"]), float(entry["end"]), part))
        out[name] = items
    return out


def quote_of(text: str) -> str | None:
    """3-5 consecutive words from the middle of a line of >= 5 words, as typed (punctuation dropped)."""
    words = [w for w in text.split() if any(c.isalnum() for c in w)]
    if len(words) < 5:
        return None
    k = min(5, len(words) - 2)
    start = (len(words) - k) // 2
    quote = " ".join(w.strip(".,;:!?()[]\"'\u201c\u201d\u2018\u2019") for w in words[start:start + k])
    return quote if len([w for w in _words(quote) if len(w) > 2]) >= 2 else None


def _present(word: str, read: set[str]) -> bool:
    if word in read:
        return True
    return any(abs(len(r) - len(word)) <= 2 and SequenceMatcher(None, word, r).ratio() >= 0.8 for r in read)


def read_share(item: str, lines: list[tuple[float, float, str]], start: float, end: float) -> float:
    near = [t for s, e, t in lines if s < end + SLACK and e > start - SLACK]
    read = {w for t in near for w in _words(t)} | {"".join(_words(t)) for t in near}
    words = [w for w in _words(item) if len(w) > 1]
    return sum(_present(w, read) for w in words) / max(1, len(words))


def span_right(lines: list[tuple[float, float, str]], items: list[tuple[float, float, str]]) -> tuple[int, int]:
    """(right, matched): the stored lines whose text is an item's, and of those the ones whose time range stays
    within the stretch that text is on screen (intervals of the same text that touch are one stretch)."""
    from framedex.models.textnorm import squash

    squashed = [(a, b, squash(t)) for a, b, t in items]
    right = matched = 0
    for start, end, text in lines:
        key = squash(text)
        if len(key) < 8:
            continue
        same = sorted((a, b) for a, b, t in squashed if SequenceMatcher(None, key, t).ratio() >= 0.9)
        if not same:
            continue
        matched += 1
        stretches: list[list[float]] = []
        for a, b in same:
            if stretches and a <= stretches[-1][1] + 0.5:
                stretches[-1][1] = max(stretches[-1][1], b)
            else:
                stretches.append([a, b])
        right += any(a - SLACK <= start and end <= b + SLACK for a, b in stretches)
    return right, matched


def reocr(platform: Any, state: dict[str, Any]) -> None:
    """Re-run only the OCR stage on each indexed video (the stored frames and clips are reused)."""
    from framedex.ingest.modalities import OcrStage
    from framedex.ingest.pipeline import VideoContext
    from framedex.ingest.probe import MediaInfo
    from framedex.services import assets as asset_service
    from framedex.storage.tables import IndexedAssetRow

    for name, video_id in state["videos"].items():
        with platform.store.session() as s:
            video = s.get(IndexedAssetRow, video_id)
            info = MediaInfo(**{k: v for k, v in video.system_metadata.items() if k != "filename"})
            ctx = VideoContext(platform=platform, video_id=video_id, tenant_id=video.tenant_id,
                               index_id=video.index_id, asset_id=video.asset_id,
                               media_path=platform.blobs.local_path(asset_service.asset_blob_key(video.asset_id)),
                               info=info, modalities={"visual"}, addons=[])
            started = time.perf_counter()
            OcrStage().run(ctx, s)
            video.stage_timings = {**(video.stage_timings or {}), "ocr": round(time.perf_counter() - started, 3)}
        print(f"re-read {name}: {video.stage_timings['ocr']:.1f} s", file=sys.stderr)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "framedex-ocr-check")
    parser.add_argument("--media", type=Path, default=REAL2)
    parser.add_argument("--reocr", action="store_true", help="re-run the OCR stage on the indexed videos first")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sqlalchemy import select

    from eval.evaluate import ingest, open_platform
    from framedex.services import search
    from framedex.services.search import cache as search_cache
    from framedex.storage.tables import ClipFeatureRow, IndexedAssetRow

    videos = {name: str(args.media / "video" / name) for name in VIDEOS}
    state = ingest(Manifest(root=str(args.media), videos=videos), args.data)
    platform = open_platform(args.data)
    items = text_items(args.media)
    rows: list[dict[str, Any]] = []
    try:
        if args.reocr:
            reocr(platform, state)
            search_cache.cache_of(platform).__init__()  # type: ignore[misc]
        ready = set(state["videos"].values())
        for name, video_id in state["videos"].items():
            split = VIDEOS[name]
            with platform.store.session() as s:
                lines = [(r.start, r.end, r.text) for r in s.scalars(
                    select(ClipFeatureRow).where(ClipFeatureRow.video_id == video_id, ClipFeatureRow.kind == "ocr"))]
                timings = dict(s.get(IndexedAssetRow, video_id).stage_timings or {})
            shares = [read_share(t, lines, a, b) for a, b, t in items[name]]
            read = [x >= 0.7 for x in shares]
            spans_right, spans_matched = span_right(lines, items[name])
            print(f"{split:4} {name:48} ocr {timings.get('ocr', 0):6.1f} s  lines {len(lines):4d}  "
                  f"read {sum(read)}/{len(read)}  spans {spans_right}/{spans_matched}", file=sys.stderr)
            quotes = [(q, a, b) for a, b, t in items[name] if (q := quote_of(t))]
            quotes = list({q: (q, a, b) for q, a, b in quotes}.values())
            if len(quotes) > MAX_QUERIES_PER_VIDEO:  # evenly spread over the video
                step = len(quotes) / MAX_QUERIES_PER_VIDEO
                quotes = [quotes[int(i * step)] for i in range(MAX_QUERIES_PER_VIDEO)]
            for q, a, b in quotes:
                request = search.SearchRequest(index_id=state["index_id"], search_options=["visual"],
                                               query_text=q, page_limit=10)
                search.validate(request)
                hits = search.rank(platform, state["tenant_id"], request, ready)
                right = [h["video_id"] == video_id and h["start"] < b + SLACK and h["end"] > a - SLACK
                         for h in hits[:10]]
                rank = right.index(True) + 1 if True in right else None
                rows.append({"video": name, "split": split, "query": q, "rank": rank, "n": len(hits)})
                if args.verbose and rank != 1:
                    top = [(h["video_id"] == video_id, round(h["start"], 1), round(h["end"], 1),
                            round(h["relevance"], 2)) for h in hits[:2]]
                    print(f"  miss {q!r} [{a}-{b}] rank={rank} n={len(hits)} top={top}", file=sys.stderr)
            rows.append({"video": name, "split": split, "read": sum(read), "items": len(read),
                         "spans_right": spans_right, "spans": spans_matched, "ocr_s": timings.get("ocr", 0.0)})
    finally:
        platform.close()
    print(f"\n{'split':6} {'items read':>12} {'spans':>6} {'quotes':>7} {'R@1':>6} {'R@5':>6} {'no hit':>7} "
          f"{'ocr s':>7}")
    for split in ("dev", "held", "all"):
        sel = [r for r in rows if split == "all" or r["split"] == split]
        asked = [r for r in sel if "query" in r]
        v = [r for r in sel if "items" in r]
        n_items = sum(r["items"] for r in v)
        n = max(1, len(asked))
        spans = sum(r["spans_right"] for r in v) / max(1, sum(r["spans"] for r in v))
        print(f"{split:6} {sum(r['read'] for r in v) / max(1, n_items):12.2f} {spans:6.2f} {len(asked):7d} "
              f"{sum(r['rank'] == 1 for r in asked) / n:6.2f} "
              f"{sum(r['rank'] is not None and r['rank'] <= 5 for r in asked) / n:6.2f} "
              f"{sum(r['n'] == 0 for r in asked) / n:7.2f} {sum(r['ocr_s'] for r in v):7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
