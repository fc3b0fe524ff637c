"""Evaluate summaries, gists and chapters on real composite videos (media/real2).

    python -m eval.summaries [--data DIR] [--media DIR] [--timeline] [--no-llm] [--only NAME] [--json FILE]

Indexes the videos once into ``--data`` through a real framedex server and the official SDK (see
``eval.evaluate.ingest``), then for each video:

* chapter boundaries (``analysis.chapter_boundaries``, no model) against the exact boundaries of the ground
  truth: precision / recall at +-2 s;
* unless ``--no-llm``: a summary, chapters (titles/summaries) and a gist from the local LLM, scored by the
  subjects a viewer would name (each subject is a set of accepted words) and by forbidden words (things the
  video does not show: a summary must name none of them).

``--timeline`` prints the timeline the model reads (cheap; for looking at the evidence). The clip-art video
is held out: tune on the others, report it separately.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval.devset import SHARED

TOLERANCE = 2.0


@dataclass(frozen=True)
class Case:
    name: str
    split: str  # dev | held
    subjects: dict[str, list[str]]  # what a viewer would name → accepted words (regex fragments)
    forbidden: list[str]  # what the video does not show


CASES = [
    Case("mixed_chapters_ui_cartoon_archival_docs_231s.mp4", "dev", {
        "old black-and-white photo": [r"black[- ]and[- ]white", r"photo", r"archiv", r"monochrome", r"grayscale"],
        "computer screen / settings": [r"screen", r"desktop", r"display", r"settings", r"computer", r"monitor",
                                       r"interface", r"window"],
        "cartoon": [r"cartoon", r"animat"],
        "terminal / commands": [r"terminal", r"command", r"shell", r"console", r"code"],
        "earth at night": [r"earth", r"globe", r"planet", r"world", r"night"],
        "animals / clip art": [r"animal", r"cow", r"rooster", r"lion", r"frog", r"clip[- ]?art", r"violin",
                               r"helicopter"],
        "document / text": [r"document", r"wikipedia", r"article", r"optical character", r"text", r"page"],
        "slides / lecture": [r"slide", r"lecture", r"presentation", r"syntax", r"semanti"],
        "thanks for watching": [r"thanks for watching", r"thank"],
    }, ["polar bear", "space shuttle", "geyser", "dog", "cat", "car", "food", "football", "ocean", "beach",
        "speaks", "speaker", "talks about", "interview"]),
    Case("planetblupi_cinematics_compilation_128s.mp4", "dev", {
        "cartoon / animation": [r"cartoon", r"animat", r"3d", r"game", r"cinematic"],
        "robot": [r"robot", r"machine"],
        "forest / trees": [r"forest", r"tree", r"wood"],
        "river / bridge": [r"river", r"bridge", r"water"],
        "snow": [r"snow", r"winter", r"ice"],
        "character (Blupi)": [r"blupi", r"character", r"creature"],
        "vehicle (bulldozer, car, rocket)": [r"bulldozer", r"digger", r"tractor", r"vehicle", r"car\b", r"rocket",
                                             r"spaceship", r"tank"],
        "space / planet": [r"space", r"planet", r"star"],
        "music": [r"music"],
    }, ["polar bear", "space shuttle", "geyser", "dog", "cat", "football", "speaks", "speaker", "talks about",
        "interview", "man", "woman", "people"]),
    Case("slides_beamer_conference_talk_168s.mp4", "dev", {
        "slides / presentation": [r"slide", r"presentation", r"talk", r"lecture"],
        "phylogeny": [r"phylogen"],
        "haplotype / genotype matrices": [r"haplotype", r"genotype", r"matri"],
        "complexity / hardness": [r"complexity", r"hard", r"np-", r"intractab"],
        "tractability / polynomial": [r"tractab", r"polynomial", r"algorithm"],
        "partitioning": [r"partition"],
        "SNP / bioinformatics": [r"snp", r"bioinformatic"],
    }, ["polar bear", "space shuttle", "geyser", "dog", "cat", "car", "animal", "music", "speaks", "speaker",
        "audience", "man", "woman"]),
    Case("clipart_objects_with_their_sounds_84s.mp4", "held", {
        "cartoon / clip art": [r"cartoon", r"clip[- ]?art", r"drawing", r"illustrat", r"animat", r"picture"],
        "animals": [r"animal"],
        "musical instruments": [r"instrument", r"music", r"violin", r"trumpet", r"accordion", r"xylophone",
                                r"bagpipe"],
        "vehicles": [r"vehicle", r"helicopter", r"train", r"airplane", r"plane", r"excavator", r"tractor"],
        "cow": [r"\bcow"], "lion": [r"\blion"], "elephant": [r"elephant"], "horse": [r"horse"],
        "sounds": [r"sound", r"noise"],
    }, ["polar bear", "space shuttle", "geyser", "ocean", "beach", "football", "speaks", "speaker", "talks about",
        "interview", "man", "woman", "people"]),
]


def truth_boundaries(media: Path, name: str) -> list[float]:
    data = json.loads((media / "groundtruth.json").read_text())
    for item in data["files"]:
        if item["file"].endswith("/" + name):
            spans = item.get("chapters") or item["segments"]
            return [float(s["start"]) for s in spans if float(s["start"]) > 0]
    raise KeyError(name)


def boundary_scores(found: list[float], truth: list[float], tol: float = TOLERANCE) -> dict[str, float]:
    """Precision and recall at ``tol`` seconds with one-to-one matching (each true boundary counts once)."""
    used: set[int] = set()
    hits = 0
    for f in sorted(found):
        best = None
        for i, t in enumerate(truth):
            if i not in used and abs(f - t) <= tol and (best is None or abs(f - t) < abs(f - truth[best])):
                best = i
        if best is not None:
            used.add(best)
            hits += 1
    p = hits / len(found) if found else (1.0 if not truth else 0.0)
    r = hits / len(truth) if truth else 1.0
    return {"precision": round(p, 3), "recall": round(r, 3), "found": len(found), "true": len(truth)}


def mentions(text: str, words: list[str], *, prefix: bool = True) -> bool:
    """A subject word matches at the start of a word ('phylogen' in 'phylogenies'); a forbidden word
    (``prefix=False``) only as a whole word or its plural ('car' not in 'card')."""
    low = text.lower()
    tail = "" if prefix else r"s?\b"
    return any(re.search(w if any(c in w for c in "\\[(") else rf"\b{re.escape(w.strip())}{tail}", low)
               for w in words)


def text_scores(text: str, case: Case) -> dict[str, Any]:
    named = [s for s, words in case.subjects.items() if mentions(text, words)]
    bad = [w for w in case.forbidden if mentions(text, [w], prefix=False)]
    return {"subjects": f"{len(named)}/{len(case.subjects)}", "subject_rate": round(len(named) / len(case.subjects), 3),
            "missed": [s for s in case.subjects if s not in named], "forbidden": bad}


def index(media: Path, data: Path) -> dict[str, Any]:
    from eval.evaluate import ingest

    manifest = types.SimpleNamespace(videos={c.name: str(media / "video" / c.name) for c in CASES})
    return ingest(manifest, data)  # type: ignore[arg-type]


def _state_from_store(platform: Any) -> dict[str, Any] | None:
    """The indexed videos when indexing is still under way for others (state.json is written at the end)."""
    from sqlalchemy import select

    from framedex.storage.tables import IndexedAssetRow

    with platform.store.session() as s:
        rows = [r for r in s.scalars(select(IndexedAssetRow)) if r.status == "ready"]
    if not rows:
        return None
    return {"tenant_id": rows[0].tenant_id, "videos": {r.filename: r.id for r in rows}}


def chapter_boundaries_of(platform: Any, timeline: Any) -> list[float]:
    from framedex.services import analysis

    fn = getattr(analysis, "chapter_boundaries", None)
    if fn is not None:
        return list(fn(platform, timeline, timeline.duration))
    from framedex.services.analysis.timeline import topic_boundaries  # the code before chapter_boundaries existed

    return list(topic_boundaries(timeline, analysis._embedder(platform)))


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    from framedex.config import Settings
    from framedex.platform import Platform
    from framedex.services import analysis
    from framedex.services.analysis.timeline import load_timeline
    from framedex.storage.tables import IndexedAssetRow

    platform = Platform(Settings(data_dir=args.data))
    state = _state_from_store(platform) if not (args.data / "state.json").exists() else None
    if state is None:
        platform.close()
        state = index(args.media, args.data)
        platform = Platform(Settings(data_dir=args.data))
    rows = []
    try:
        wanted = args.only.split(",") if args.only else []
        cases = [c for w in wanted for c in CASES if w in c.name] if wanted else CASES
        for case in cases:
            vid = state["videos"].get(case.name)
            if vid is None:
                continue
            with platform.store.session() as s:
                video = s.get(IndexedAssetRow, vid)
                assert video is not None
                timeline = load_timeline(platform, video)
            row: dict[str, Any] = {"video": case.name, "split": case.split}
            if args.timeline:
                text, level = timeline.render(platform.settings.llm_prompt_budget)
                print(f"\n===== {case.name} (level {level}, ~{len(text) // 4} tokens)\n{text}")
            truth = truth_boundaries(args.media, case.name)
            t0 = time.perf_counter()
            found = chapter_boundaries_of(platform, timeline)
            row["boundaries"] = [round(b, 2) for b in found]
            row["chapters_pr"] = boundary_scores(found, truth)
            row["boundary_seconds"] = round(time.perf_counter() - t0, 2)
            if not args.no_llm:
                t0 = time.perf_counter()
                summary = analysis.summarize(platform, state["tenant_id"],
                                             analysis.SummarizeInput("summary", temperature=0, video_id=vid)).text or ""
                row["summary"] = summary
                row["summary_scores"] = text_scores(summary, case)
                row["summary_seconds"] = round(time.perf_counter() - t0)
                g = analysis.gist(platform, state["tenant_id"],
                                  analysis.GistInput(("title", "topic", "hashtag"), video_id=vid))
                gist_text = " ".join([g.title or "", *(g.topics or ()), *(g.hashtags or ())])
                row["gist"] = gist_text
                row["gist_scores"] = text_scores(gist_text, case)
                if not args.no_chapters:
                    chaptered = analysis.summarize(platform, state["tenant_id"],
                                                   analysis.SummarizeInput("chapter", temperature=0, video_id=vid))
                    ch = chaptered.chapters or ()
                    row["chapters"] = [(c.start_sec, c.title, c.summary) for c in ch]
                    row["chapters_pr_llm"] = boundary_scores([c.start_sec for c in ch[1:]], truth)
                    ch_text = " ".join(f"{c.title} {c.summary}" for c in ch)
                    row["chapter_text_scores"] = text_scores(ch_text, case)
            rows.append(row)
            print(json.dumps(row, indent=1, ensure_ascii=False), flush=True)
    finally:
        platform.close()
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"\n{'video':48} {'split':5} {'chap P':>6} {'chap R':>6} {'n':>3} {'summary subj':>12} {'forbid':>6} "
          f"{'gist subj':>9}")
    for r in rows:
        pr = r["chapters_pr"]
        s = r.get("summary_scores", {})
        g = r.get("gist_scores", {})
        forbidden = len(s.get("forbidden", [])) if s else "-"
        print(f"{r['video'][:48]:48} {r['split']:5} {pr['precision']:6.2f} {pr['recall']:6.2f} {pr['found']:3d} "
              f"{s.get('subjects', '-'):>12} {forbidden:>6} {g.get('subjects', '-'):>9}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--media", type=Path, default=SHARED / "real2")
    parser.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "sumeval")
    parser.add_argument("--timeline", action="store_true", help="print the rendered timelines")
    parser.add_argument("--no-llm", action="store_true", help="chapter boundaries only (no model)")
    parser.add_argument("--no-chapters", action="store_true", help="skip LLM chapter titles (slow)")
    parser.add_argument("--only", help="parts of video names, comma-separated (run in that order)")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rows = run(args)
    print_table(rows)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
