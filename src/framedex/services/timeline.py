"""A video as a timestamped text timeline, built from what ingest stored, for the LLM to read.

Sources (whatever exists for the video; each is optional):

* transcript segments (``SpeechSegmentRow``)                 → ``SAID: ...``
* on-screen text lines (``ClipFeatureRow`` kind ``ocr``)      → ``TEXT ON SCREEN: ...``
* frame labels/objects (kind ``visual``)                      → ``SEEN: ...``
* sound-event tags of clips (kind ``audio``)                  → ``SOUNDS: ...``
* faces (kind ``face``)                                       → counted into ``SEEN``
* shot cuts (the decode stage's ``scan.json``)                → ``(scene change)``

:meth:`Timeline.render` fits the text into a token budget by stepping down through detail levels
(merging runs, bucketing labels, dropping scene changes, paragraphs of speech); the caller map-reduces
over windows when even the most compact level does not fit. :func:`topic_boundaries` finds where the
content changes (sentence embeddings of the timeline on both sides of each shot cut or transcript
segment start), which is what chapters are cut at.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from sqlalchemy import select

from framedex.ingest.keys import scan_key
from framedex.models.llm import estimate_tokens
from framedex.services.platform import Platform
from framedex.storage.tables import ClipFeatureRow, ClipRow, IndexedAssetRow, SpeechSegmentRow

log = logging.getLogger(__name__)

EventKind = Literal["speech", "ocr", "visual", "audio", "face"]
# Labels that say nothing about the content of a particular video.
_GENERIC_SOUNDS = {"silence", "speech", "inside, small room", "animal", "music", "sound effect", "noise"}
_WORD = re.compile(r"[a-z0-9']+")


@dataclass(frozen=True)
class Event:
    start: float
    end: float
    kind: EventKind
    text: str


@dataclass
class Timeline:
    video_id: str
    duration: float
    events: list[Event] = field(default_factory=list)
    cuts: list[float] = field(default_factory=list)
    offset: float = 0.0  # start of this (windowed) timeline within the video

    # -- structure --

    @property
    def end(self) -> float:
        return self.offset + self.duration

    @property
    def speech(self) -> list[Event]:
        return [e for e in self.events if e.kind == "speech"]

    @property
    def is_empty(self) -> bool:
        return not self.events

    def window(self, start: float, end: float) -> Timeline:
        """Events overlapping [start, end), clipped to it."""
        events = [
            Event(max(e.start, start), min(e.end, end), e.kind, e.text)
            for e in self.events if (e.end > start and e.start < end) or (e.start == e.end and start <= e.start < end)
        ]
        cuts = [c for c in self.cuts if start < c < end]
        return Timeline(self.video_id, max(0.0, end - start), events, cuts, offset=start)

    def boundary_candidates(self) -> list[float]:
        """Times where a chapter may start: shot cuts and the starts of transcript segments."""
        points = set(round(c, 2) for c in self.cuts)
        points.update(round(e.start, 2) for e in self.speech)
        return sorted(p for p in points if self.offset < p < self.end)

    def snap(self, t: float, max_distance: float = 10.0) -> float:
        """The boundary candidate nearest to ``t`` (within ``max_distance``), else ``t``."""
        best, best_d = t, max_distance
        for c in self.boundary_candidates():
            d = abs(c - t)
            if d <= best_d:
                best, best_d = c, d
        return best

    def text_between(self, start: float, end: float) -> str:
        """All words of the events overlapping [start, end), for embedding."""
        parts: list[str] = []
        for e in self.events:
            if (e.end > start and e.start < end) or (e.start == e.end and start <= e.start < end):
                parts.append(e.text)
        return " ".join(parts)

    # -- rendering --

    def render(self, budget_tokens: int) -> tuple[str, int]:
        """The most detailed rendering that fits ``budget_tokens``; returns (text, level used).
        Level 4 (the most compact) is returned even when it does not fit."""
        text = ""
        for level in range(5):
            text = self.render_level(level)
            if estimate_tokens(text) <= budget_tokens:
                return text, level
        return text, 4

    def render_level(self, level: int) -> str:
        lines: list[tuple[float, int, str]] = []  # (sort time, order, line)
        speech = self.speech
        if level <= 2:
            for e in speech:
                lines.append((e.start, 0, f"[{_ts(e.start)}-{_ts(e.end)}] SAID: {e.text.strip()}"))
        else:
            para = 30.0 if level == 3 else 60.0
            for start, end, text in _paragraphs(speech, para):
                lines.append((start, 0, f"[{_ts(start)}-{_ts(end)}] SAID: {text}"))
        if level <= 3:
            for start, end, text in _ocr_runs(self.events, merge_gap=6.0 if level == 0 else 20.0,
                                              max_len=200 if level <= 1 else 100):
                lines.append((start, 1, f"[{_ts(start)}-{_ts(end)}] TEXT ON SCREEN: {text}"))
        bucket = (0.0, 10.0, 20.0, 30.0, 60.0)[level]
        top = (5, 4, 4, 3, 3)[level]
        for start, end, labels in _label_runs(self.events, "visual", bucket, top):
            faces = _faces_in(self.events, start, end)
            extra = f"; {faces} face{'s' if faces > 1 else ''}" if faces and level <= 2 else ""
            lines.append((start, 2, f"[{_ts(start)}-{_ts(end)}] SEEN: {', '.join(labels)}{extra}"))
        if level <= 3:
            for start, end, labels in _label_runs(self.events, "audio", max(bucket, 5.0), top):
                labels = [lab for lab in labels if lab.lower() not in _GENERIC_SOUNDS] or []
                if labels:
                    lines.append((start, 3, f"[{_ts(start)}-{_ts(end)}] SOUNDS: {', '.join(labels)}"))
        if level <= 1:
            for c in self.cuts:
                lines.append((c, -1, f"[{_ts(c)}] (scene change)"))
        lines.sort(key=lambda x: (x[0], x[1]))
        return "\n".join(line for _, _, line in lines)


def _ts(t: float) -> str:
    return f"{round(t)}s"


def _paragraphs(speech: list[Event], span: float) -> list[tuple[float, float, str]]:
    out: list[tuple[float, float, str]] = []
    cur: list[Event] = []
    for e in speech:
        if cur and e.end - cur[0].start > span:
            out.append((cur[0].start, cur[-1].end, " ".join(x.text.strip() for x in cur)))
            cur = []
        cur.append(e)
    if cur:
        out.append((cur[0].start, cur[-1].end, " ".join(x.text.strip() for x in cur)))
    return out


def _norm_text(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def _ocr_runs(events: list[Event], merge_gap: float, max_len: int) -> list[tuple[float, float, str]]:
    """On-screen lines, each once per run: the same line seen again within ``merge_gap`` s extends its run."""
    runs: list[list[Any]] = []
    last: dict[str, int] = {}
    for e in events:
        if e.kind != "ocr":
            continue
        key = _norm_text(e.text)
        if not key:
            continue
        i = last.get(key)
        if i is not None and e.start - runs[i][1] <= merge_gap:
            runs[i][1] = max(runs[i][1], e.end)
            continue
        last[key] = len(runs)
        runs.append([e.start, e.end, e.text.strip()[:max_len]])
    out = [(float(a), float(b), str(t)) for a, b, t in runs]
    # group lines that appear together into one line per moment
    grouped: list[tuple[float, float, str]] = []
    for start, end, text in sorted(out):
        if grouped and abs(grouped[-1][0] - start) < 1.0:
            s0, e0, t0 = grouped[-1]
            if len(t0) < max_len * 2:
                grouped[-1] = (s0, max(e0, end), f"{t0} | {text}")
            continue
        grouped.append((start, end, text))
    return grouped


def _labels(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _label_runs(events: list[Event], kind: str, bucket: float, top: int) -> list[tuple[float, float, list[str]]]:
    """Label sets of ``kind``: with ``bucket`` 0, runs of consecutive samples whose top labels agree;
    otherwise the most frequent labels of each ``bucket``-second stretch."""
    items = [e for e in events if e.kind == kind and e.text.strip()]
    out: list[tuple[float, float, list[str]]] = []
    if not items:
        return out
    if bucket <= 0:
        for e in items:
            labels = _labels(e.text)[:top]
            if out and set(labels[:2]) == set(out[-1][2][:2]):
                out[-1] = (out[-1][0], max(out[-1][1], e.end), out[-1][2])
            else:
                out.append((e.start, e.end, labels))
        return out
    groups: dict[int, list[Event]] = {}
    for e in items:
        groups.setdefault(int(e.start // bucket), []).append(e)
    for b in sorted(groups):
        group = groups[b]
        weights: dict[str, float] = {}
        for e in group:
            for rank, lab in enumerate(_labels(e.text)[:6]):
                weights[lab] = weights.get(lab, 0.0) + 1.0 / (1 + rank * 0.5)
        labels = sorted(weights, key=lambda lab: -weights[lab])[:top]
        start, end = min(e.start for e in group), max(e.end for e in group)
        if out and labels[:2] == out[-1][2][:2]:
            out[-1] = (out[-1][0], end, out[-1][2])
        else:
            out.append((start, end, labels))
    return out


def _faces_in(events: list[Event], start: float, end: float) -> int:
    times = {round(e.start, 1) for e in events if e.kind == "face" and start <= e.start <= end}
    if not times:
        return 0
    per_time = Counter(round(e.start, 1) for e in events if e.kind == "face" and start <= e.start <= end)
    return max(per_time.values())


# --- loading -----------------------------------------------------------------------------------------


def load_timeline(platform: Platform, video: IndexedAssetRow) -> Timeline:
    """The timeline of an indexed video from its stored speech, features, clips and shot cuts."""
    events: list[Event] = []
    with platform.store.session() as s:
        for seg in s.scalars(select(SpeechSegmentRow).where(SpeechSegmentRow.video_id == video.id)
                             .order_by(SpeechSegmentRow.seq)):
            if seg.text and seg.text.strip():
                events.append(Event(float(seg.start), float(seg.end), "speech", seg.text.strip()))
        for feat in s.scalars(select(ClipFeatureRow).where(ClipFeatureRow.video_id == video.id)
                              .order_by(ClipFeatureRow.start)):
            if feat.kind in ("ocr", "visual", "audio"):
                if feat.text and feat.text.strip():
                    events.append(Event(float(feat.start), float(feat.end), feat.kind, feat.text.strip()))  # type: ignore[arg-type]
            elif feat.kind == "face":
                events.append(Event(float(feat.start), float(feat.end), "face", "face"))
        clip_starts = [float(c.start) for c in s.scalars(select(ClipRow).where(ClipRow.video_id == video.id)
                                                          .order_by(ClipRow.seq))]
    duration = float(video.duration or 0.0)
    cuts: list[float] = []
    scan = _read_scan(platform, video.id)
    if scan is not None:
        cuts = [float(c) for c in scan.get("cuts", []) if isinstance(c, int | float)]
        duration = duration or float(scan.get("duration") or 0.0)
    elif clip_starts:
        cuts = [c for c in clip_starts if c > 0]
    if not duration and events:
        duration = max(e.end for e in events)
    events.sort(key=lambda e: (e.start, e.kind))
    return Timeline(video.id, duration, events, sorted(c for c in cuts if 0 < c < duration or not duration))


def _read_scan(platform: Platform, video_id: str) -> dict[str, Any] | None:
    key = scan_key(video_id)
    try:
        if not platform.blobs.exists(key):
            return None
        with platform.blobs.open(key) as f:
            data = json.loads(f.read())
        return data if isinstance(data, dict) else None
    except Exception:  # a missing or half-written artifact only costs us the cuts
        log.warning("could not read %s", key, exc_info=True)
        return None


# --- topic changes -----------------------------------------------------------------------------------

Embed = Callable[[list[str]], Any]


def _bag(text: str) -> Counter[str]:
    return Counter(w for w in _WORD.findall(text.lower()) if len(w) > 2)


def _cosine_bags(a: Counter[str], b: Counter[str]) -> float:
    if not a or not b:
        return 0.0
    dot = sum(v * b.get(k, 0) for k, v in a.items())
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else 0.0


def topic_boundaries(timeline: Timeline, embed: Embed | None = None, *, max_chapters: int | None = None,
                     min_chapter: float | None = None) -> list[float]:
    """Start times of chapters 2..n: the places where the content on either side differs most.

    Content is cut into ``step``-second blocks (speech, on-screen text, labels, sounds); each block is
    embedded once. For every candidate boundary (shot cut or transcript segment start) the score is
    the cosine distance between the mean embeddings of the ``window`` seconds before and after,
    plus a small bonus for a shot cut there. Peaks are taken greedily, at least ``min_chapter`` apart.
    """
    duration = timeline.duration
    if duration <= 0 or timeline.is_empty:
        return []
    t0, t1 = timeline.offset, timeline.end
    if min_chapter is None:
        min_chapter = max(10.0, min(60.0, duration / 15))
    if max_chapters is None:
        max_chapters = int(max(1, min(12, duration // 40 + 1)))
    if max_chapters <= 1 or duration < 2 * min_chapter:
        return []
    step = 2.5 if duration <= 300 else 5.0
    n_blocks = math.ceil(duration / step)
    texts = [timeline.text_between(t0 + i * step, t0 + (i + 1) * step) for i in range(n_blocks)]
    vectors: np.ndarray | None = None
    if embed is not None and any(texts):
        try:
            nonempty = [i for i, t in enumerate(texts) if t.strip()]
            emb = np.asarray(embed([texts[i] for i in nonempty]), dtype=np.float32)
            vectors = np.zeros((n_blocks, emb.shape[1]), dtype=np.float32)
            vectors[nonempty] = emb
        except Exception:
            log.warning("embedding the timeline failed; using word overlap", exc_info=True)
            vectors = None
    window = max(min_chapter, min(45.0, duration / 8))
    wb = max(1, round(window / step))
    cuts = set(round(c, 2) for c in timeline.cuts)
    scored: list[tuple[float, float]] = []
    for c in timeline.boundary_candidates():
        if c - t0 < min_chapter * 0.75 or t1 - c < min_chapter * 0.75:
            continue
        b = round((c - t0) / step)
        left, right = range(max(0, b - wb), b), range(b, min(n_blocks, b + wb))
        if not left or not right:
            continue
        if vectors is not None:
            lv, rv = vectors[list(left)].sum(axis=0), vectors[list(right)].sum(axis=0)
            ln, rn = float(np.linalg.norm(lv)), float(np.linalg.norm(rv))
            sim = float(lv @ rv / (ln * rn)) if ln > 0 and rn > 0 else 0.5
        else:
            sim = _cosine_bags(_bag(" ".join(texts[i] for i in left)), _bag(" ".join(texts[i] for i in right)))
        score = 1.0 - sim + (0.08 if round(c, 2) in cuts else 0.0)
        scored.append((score, c))
    if not scored:
        return []
    values = np.array([s for s, _ in scored])
    threshold = max(float(values.mean() + 0.5 * values.std()), 0.2)
    chosen: list[float] = []
    for score, c in sorted(scored, reverse=True):
        if len(chosen) >= max_chapters - 1 or score < threshold:
            break
        if all(abs(c - x) >= min_chapter for x in chosen):
            chosen.append(c)
    return sorted(chosen)


def spans_from_boundaries(start: float, end: float, boundaries: Sequence[float]) -> list[tuple[float, float]]:
    points = [start, *sorted(b for b in boundaries if start < b < end), end]
    return [(points[i], points[i + 1]) for i in range(len(points) - 1) if points[i + 1] > points[i]]
