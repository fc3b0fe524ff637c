"""A video as a timestamped text timeline, built from what ingest stored, for the LLM to read.

Sources (whatever exists for the video; each is optional):

* transcript segments (``SpeechSegmentRow``)                 → ``SAID: ...``
* on-screen text lines (``ClipFeatureRow`` kind ``ocr``)      → ``TEXT ON SCREEN: ...`` of a scene
* frame labels/objects/attributes (kind ``visual``)           → ``SEEN: ...`` of a scene
* sound-event tags of clips (kind ``audio``)                  → ``SOUNDS: ...`` of a scene
* faces (kind ``face``)                                       → counted into ``SEEN``
* shot cuts (the decode stage's ``scan.json``) and the CNN feature of each sampled frame (vector space
  ``visual_image``)                                           → scenes

Only confident evidence reaches the model. Machine labels are often wrong on cartoons, screens and clip
art, and a small model repeats whatever it is given, so a label must be confident in the frames where it
is seen *and* persist over the scene (see the floors below, measured on the real2 composites with
``eval/summaries.py``); a COCO animal that a confident ImageNet animal label contradicts is dropped.

Scenes (:func:`scene_spans`) are shots merged while what is seen, read, heard and said stays alike; each
scene renders as one line with its strongest evidence. The same segmentation, with a minimum length,
gives chapters (:func:`chapter_boundaries`). :meth:`Timeline.render` fits the text into a token budget by
stepping down through detail levels; the caller map-reduces over windows when even the most compact level
does not fit. :func:`topic_boundaries` (sentence embeddings on both sides of each candidate) still finds
topic changes inside long shots with speech.

Size (~900 lines): one document model (`Timeline`) with its builders per source and its fitting to a token
budget. The sections call each other both ways (``Timeline.render``/``scenes`` use the evidence and scene
segmentation below, which read ``Timeline``), so splitting them would make an import cycle; only loading
and topic changes (~200 lines) are separable, and moving them alone would still leave ~700 lines here.
"""

from __future__ import annotations

import bisect
import contextlib
import functools
import json
import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
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
# Sounds that say nothing about the content of a particular video.
_GENERIC_SOUNDS = {"silence", "speech", "inside, small room", "inside", "sound effect", "noise", "white noise",
                   "static", "hum", "outside", "mechanisms", "tick"}
_WORD = re.compile(r"[a-z0-9']+")

# --- confidence floors (measured on the real2 composites, eval/summaries.py) ---------------------------
# ImageNet top-k probabilities: right labels on real footage and clip art sit at 0.6-0.97 (rooster .92,
# lion .97, violin .70, web page .80); below 0.5 they are mostly guesses (nematode, matchstick, iPod).
IMAGENET_MIN = 0.5
# COCO detections (the detector's own floor is 0.4): right ones at 0.6-0.99; 0.4-0.55 are often wrong.
OBJECT_MIN = 0.6
# A label must also persist: its mean confidence over the scene's frames (0 where it is absent).
IMAGENET_SCENE_MIN = 0.3
OBJECT_SCENE_MIN = 0.4
# Scene and style words of the vision tagger: how the picture looks, rendered apart from the things seen.
LOOK_WORDS = frozenset({"black and white", "night", "cartoon", "clip art", "slides or document", "outer space",
                        "underwater", "aerial view", "indoors", "outdoors", "security camera"})
# Image attributes (black and white, night, cartoon, slide, ...) hold in at least this share of frames.
ATTRIBUTE_SHARE = 0.5
# YAMNet clip tags: the object sounds of the clip-art video score 0.54-0.75; guesses on cartoon music and
# effects (duck, goose, sheep) reach 0.37-0.50.
SOUND_MIN = 0.5
# OCR lines (the reader's floor is applied at ingest): a line must hold a real word.
OCR_MIN_SCORE = 0.5
COCO_ANIMALS = {"bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"}
# A slide, a page or a screen recording *is* a screen: on such frames the classifier's "website"/"monitor" and
# the detector's "tv"/"laptop" name the frame itself (with its colour: "white tv"), and a summary of a screencast
# listed "a green TV, a white TV". The look ("slides or document") already says it.
SCREEN_LOOK = "slides or document"
SCREEN_LABELS = frozenset({"website", "monitor", "crt monitor", "television", "desktop computer", "laptop computer",
                           "notebook computer", "hand-held computer", "tv", "laptop"})


@dataclass(frozen=True)
class Event:
    start: float
    end: float
    kind: EventKind
    text: str
    # (label, confidence, source) behind a visual/audio event: source "imagenet", "object", "attribute",
    # "sound". Empty when only the text is known (then every word of ``text`` counts as confident).
    scores: tuple[tuple[str, float, str], ...] = ()

    def evidence(self) -> list[tuple[str, float, str]]:
        if self.scores:
            return list(self.scores)
        source = "sound" if self.kind == "audio" else "label"
        return [(lab, 1.0, source) for lab in _labels(self.text)]


@dataclass
class Timeline:
    video_id: str
    duration: float
    events: list[Event] = field(default_factory=list)
    cuts: list[float] = field(default_factory=list)
    offset: float = 0.0  # start of this (windowed) timeline within the video
    # the CNN feature of sampled frames, (time, unit vector); empty when the vectors are not available
    frames: list[tuple[float, np.ndarray]] = field(default_factory=list)

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
            Event(max(e.start, start), min(e.end, end), e.kind, e.text, e.scores)
            for e in self.events if (e.end > start and e.start < end) or (e.start == e.end and start <= e.start < end)
        ]
        cuts = [c for c in self.cuts if start < c < end]
        frames = [(t, v) for t, v in self.frames if start <= t < end]
        return Timeline(self.video_id, max(0.0, end - start), events, cuts, offset=start, frames=frames)

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

    def overlapping(self, start: float, end: float) -> list[Event]:
        """Events that overlap [start, end) (instants inside it), in time order; indexed, so that a long
        video's scenes do not each scan every event."""
        index = self.__dict__.get("_index")
        if index is None or index[0] is not self.events or index[1] != len(self.events):
            ordered = sorted(self.events, key=lambda e: e.start)
            short = [e for e in ordered if e.end - e.start <= _SHORT_EVENT]
            long = [e for e in ordered if e.end - e.start > _SHORT_EVENT]
            index = (self.events, len(self.events), short, [e.start for e in short], long)
            self.__dict__["_index"] = index
        _, _, short, starts, long = index
        lo, hi = bisect.bisect_left(starts, start - _SHORT_EVENT), bisect.bisect_left(starts, end)
        found = [e for e in short[lo:hi] if _overlaps(e, start, end)]
        found += [e for e in long if e.start < end and _overlaps(e, start, end)]
        if long:
            found.sort(key=lambda e: e.start)
        return found

    def scenes(self) -> list[tuple[float, float]]:
        """Shots merged into scenes (cached; see :func:`scene_spans`)."""
        cached = self.__dict__.get("_scenes")
        if cached is None:
            cached = scene_spans(self)
            self.__dict__["_scenes"] = cached
        return list(cached)

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
        """Speech line by line (paragraphs at levels 3-4) and one line per scene with what is confidently
        seen, read and heard there (longer scenes are cut into ``piece``-second lines)."""
        lines: list[tuple[float, int, str]] = []  # (sort time, order, line)
        speech = self.speech
        if level <= 2:
            for e in speech:
                lines.append((e.start, 0, f"[{_ts(e.start)}-{_ts(e.end)}] SAID: {e.text.strip()}"))
        else:
            para = 30.0 if level == 3 else 60.0
            for start, end, text in _paragraphs(speech, para):
                lines.append((start, 0, f"[{_ts(start)}-{_ts(end)}] SAID: {text}"))
        top = (6, 5, 4, 3, 3)[level]
        ocr_len = (160, 120, 80, 50, 0)[level]
        piece = (30.0, 45.0, 60.0, 120.0, 240.0)[level]
        constant = constant_lines(self)
        if constant:
            lines.append((self.offset, -1, f"[{_ts(self.offset)}-{_ts(self.end)}] TEXT ON SCREEN THROUGHOUT: "
                                           + _clip(" | ".join(constant.values()), max(ocr_len, 120))))
        for a, b in _pieces(self.scenes(), piece):
            ev = scene_evidence(self, a, b, skip=set(constant))
            parts: list[str] = []
            # the look of the picture ('cartoon', 'black and white') on a line of its own: in one SEEN list a small
            # model took those words for things shown (it listed 'cartoon' among "the animals mentioned")
            looks = [lab for lab in ev.seen if lab in LOOK_WORDS]
            seen = [lab for lab in ev.seen if lab not in LOOK_WORDS][:top]
            if seen or ev.faces:
                extra = f"{ev.faces} face{'s' if ev.faces > 1 else ''}" if ev.faces and level <= 2 else ""
                parts.append("SEEN: " + ", ".join([*seen, *([extra] if extra else [])]))
            if looks:
                parts.append("LOOK: " + ", ".join(looks))
            if ev.text and ocr_len:
                parts.append("TEXT ON SCREEN: " + _pick_lines(ev.text, ocr_len))
            if ev.sounds and level <= 3:
                parts.append("SOUNDS: " + ", ".join(ev.sounds[:top]))
            if parts:
                lines.append((a, 1, f"[{_ts(a)}-{_ts(b)}] " + "; ".join(parts)))
        lines.sort(key=lambda x: (x[0], x[1]))
        return "\n".join(line for _, _, line in lines)


_SHORT_EVENT = 30.0


def _overlaps(e: Event, start: float, end: float) -> bool:
    if e.start == e.end:
        return start <= e.start < end
    return e.end > start and e.start < end


def _ts(t: float) -> str:
    return f"{round(t)}s"


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1].rstrip() + "…"


def _pieces(spans: list[tuple[float, float]], longest: float) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in spans:
        n = max(1, math.ceil((b - a) / longest - 1e-9))
        step = (b - a) / n
        out.extend((a + i * step, a + (i + 1) * step if i < n - 1 else b) for i in range(n))
    return out


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
    """Confident label sets of ``kind``: with ``bucket`` 0, runs of consecutive samples whose top labels
    agree; otherwise the labels of each ``bucket``-second stretch (see :func:`confident_labels`)."""
    items = [e for e in events if e.kind == kind and (e.text.strip() or e.scores)]
    out: list[tuple[float, float, list[str]]] = []
    if not items:
        return out
    if bucket <= 0:
        for e in items:
            labels = confident_labels([e], kind)[:top]
            if not labels:
                continue
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
        labels = confident_labels(group, kind)[:top]
        if not labels:
            continue
        start, end = min(e.start for e in group), max(e.end for e in group)
        if out and labels[:2] == out[-1][2][:2]:
            out[-1] = (out[-1][0], end, out[-1][2])
        else:
            out.append((start, end, labels))
    return out


def _faces_in(events: list[Event], start: float, end: float) -> int:
    per_time = Counter(round(e.start, 1) for e in events if e.kind == "face" and start <= e.start <= end)
    return max(per_time.values()) if per_time else 0


# --- confident evidence --------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _hypernyms() -> dict[str, set[str]]:
    """ImageNet label → its own name, synonyms and hypernyms (lower case)."""
    try:
        from framedex.models.vision import _load_vocab

        return {v["name"].lower(): {v["name"].lower(), *(x.lower() for x in v.get("synonyms", [])),
                                    *(x.lower() for x in v.get("hypernyms", []))} for v in _load_vocab()}
    except Exception:  # the vocabulary only refines conflicts
        return {}


def _is_animal(label: str) -> bool:
    return "animal" in _hypernyms().get(label.lower(), set())


def _sound_word(tag: str) -> str:
    """YAMNet's 'Chicken, rooster' → 'chicken, rooster' as one phrase; a category list keeps its first name."""
    parts = [p.strip() for p in tag.split(",") if p.strip()]
    if not parts:
        return ""
    if len(parts) >= 3:  # 'Livestock, farm animals, working animals'
        return parts[0].lower()
    return " / ".join(parts).lower() if len(parts) == 2 and len(parts[1]) > 3 else parts[0].lower()


def confident_labels(events: Sequence[Event], kind: str = "visual") -> list[str]:
    """The labels of ``events`` (the sampled frames, or the sound clips, of one stretch) that are confident
    in the frames where they occur and persist over the stretch, strongest first."""
    items = [e for e in events if e.kind == kind]
    if not items:
        return []
    n = len(items)
    if kind == "audio":
        best: dict[str, float] = {}
        for e in items:
            for lab, score, _src in e.evidence():
                word = _sound_word(lab)
                if word and word not in _GENERIC_SOUNDS and score >= SOUND_MIN:
                    best[word] = max(best.get(word, 0.0), score)
        # broad classes ('animal', 'livestock') fire on music and effects too; the specific sound says it
        return [w for w in sorted(best, key=lambda w: -best[w]) if w not in _BROAD_SOUNDS]
    total: dict[tuple[str, str], float] = {}
    peak: dict[tuple[str, str], float] = {}
    count: Counter[tuple[str, str]] = Counter()
    for e in items:
        seen: dict[tuple[str, str], float] = {}
        for lab, score, src in e.evidence():
            key = (lab, "object" if src == "object" else src)
            seen[key] = max(seen.get(key, 0.0), score)
        for key, score in seen.items():
            total[key] = total.get(key, 0.0) + score
            peak[key] = max(peak.get(key, 0.0), score)
            count[key] += 1
    kept: dict[str, float] = {}
    for key, tot in total.items():
        lab, src = key
        mean = tot / n
        if src == "imagenet":
            ok = peak[key] >= IMAGENET_MIN and mean >= IMAGENET_SCENE_MIN
        elif src == "object":
            ok = peak[key] >= OBJECT_MIN and mean >= OBJECT_SCENE_MIN
        elif src == "attribute":
            ok = count[key] / n >= ATTRIBUTE_SHARE
            mean = 0.35 * count[key] / n  # a look of the frame ranks after the things seen
        else:  # labels known by text only: persist over half the stretch
            ok = count[key] / n >= 0.5 or n <= 2
        if ok:
            kept[lab] = max(kept.get(lab, 0.0), mean)
    imagenet_animals = [lab for (lab, src) in total if src == "imagenet" and lab in kept and _is_animal(lab)]
    if imagenet_animals:
        # a COCO animal the confident ImageNet animal does not agree with ('dog' on a lion) is dropped
        names = set().union(*(_hypernyms().get(a.lower(), set()) for a in imagenet_animals))
        for lab in list(kept):
            if lab in COCO_ANIMALS and (lab, "object") in total and lab not in names:
                kept.pop(lab)
    if SCREEN_LOOK in kept:
        for lab in [lab for lab in kept if lab.lower() in SCREEN_LABELS]:
            kept.pop(lab)
    objects = {lab for (lab, src) in total if src == "object"}
    for lab in list(kept):
        # colour/count attributes ('brown dog', 'two tie') stand or fall with their object
        words = lab.split()
        if (lab, "attribute") in total and len(words) >= 2 and " ".join(words[1:]) in objects \
                and " ".join(words[1:]) not in kept:
            kept.pop(lab)
    return sorted(kept, key=lambda lab: -kept[lab])


_BROAD_SOUNDS = {"animal", "livestock", "wild animals", "domestic animals", "fowl", "vehicle", "musical instrument",
                 "outside", "inside", "environmental noise", "sound effect"}


def good_ocr_line(text: str) -> bool:
    """A line worth showing: at least one word of three letters and mostly letters/digits (not '|||_')."""
    t = text.strip()
    if len(t) < 3 or not re.search(r"[^\W\d_]{3,}", t):
        return False
    alnum = sum(ch.isalnum() for ch in t)
    return alnum / max(1, len(t.replace(" ", ""))) >= 0.6


@dataclass
class SceneEvidence:
    seen: list[str]
    text: list[tuple[float, str]]  # (first seen, line), longest on screen first
    sounds: list[str]
    faces: int


def constant_lines(timeline: Timeline, share: float = 0.4) -> dict[str, str]:
    """On-screen lines shown for at least ``share`` of a video of 30 s or more (a navigation bar, a channel
    name, a window title): said once for the whole video instead of in every scene."""
    if timeline.duration < 30:
        return {}
    shown: dict[str, float] = {}
    text: dict[str, str] = {}
    for e in timeline.events:
        if e.kind == "ocr":
            key = _norm_text(e.text)
            if key:
                shown[key] = shown.get(key, 0.0) + max(0.0, e.end - e.start)
                text.setdefault(key, e.text.strip())
    return {k: text[k] for k in sorted(shown, key=lambda k: -shown[k]) if shown[k] >= share * timeline.duration}


def scene_evidence(timeline: Timeline, start: float, end: float, skip: set[str] | None = None) -> SceneEvidence:
    """What is confidently seen (labels, objects, the look of the frames), read (on-screen lines, each once,
    in order) and heard (sound tags) between ``start`` and ``end``."""
    def inside(e: Event) -> bool:
        if e.start == e.end:
            return start <= e.start < end
        overlap = min(e.end, end) - max(e.start, start)
        return overlap > 0 and (overlap >= 0.5 * (e.end - e.start) or overlap >= 0.5 * (end - start))

    events = [e for e in timeline.overlapping(start, end) if inside(e)]
    seen = confident_labels(events, "visual")
    sounds = confident_labels(events, "audio")
    lines: dict[str, list[Any]] = {}  # key → [first seen, seconds on screen, text]
    for e in sorted((e for e in events if e.kind == "ocr"), key=lambda e: e.start):
        key = _norm_text(e.text)
        if not key or (skip and key in skip):
            continue
        shown = max(0.5, min(e.end, end) - max(e.start, start))
        if key in lines:
            lines[key][1] += shown
        else:
            lines[key] = [e.start, shown, e.text.strip()]
    # the text that stays on screen longest is what a viewer reads (titles, headings), not a flash of a
    # menu; the first lines of a scene come first (a title is read before the page scrolls)
    ordered = list(lines.values())
    ranked = ordered[:2] + sorted(ordered[2:], key=lambda x: (-x[1], -len(x[2]), x[0]))
    return SceneEvidence(seen, [(float(t), str(text)) for t, _, text in ranked], sounds,
                         _faces_in(events, start, end))


def _pick_lines(lines: list[tuple[float, str]], budget: int) -> str:
    """The most salient lines that fit ``budget`` characters, in the order they appear."""
    chosen: list[tuple[float, str]] = []
    used = 0
    for t, text in lines:
        if used and used + len(text) + 3 > budget:
            continue
        chosen.append((t, _clip(text, budget)))
        used += len(text) + 3
        if used >= budget:
            break
    return " | ".join(text for _, text in sorted(chosen))


# --- loading -----------------------------------------------------------------------------------------


def _visual_scores(data: dict[str, Any]) -> tuple[tuple[str, float, str], ...]:
    out: list[tuple[str, float, str]] = []
    for item in data.get("labels") or []:
        with contextlib.suppress(Exception):
            out.append((str(item[0]), float(item[1]), "imagenet"))
    best: dict[str, float] = {}
    for item in data.get("objects") or []:
        with contextlib.suppress(Exception):
            best[str(item[0])] = max(best.get(str(item[0]), 0.0), float(item[1]))
    out.extend((lab, score, "object") for lab, score in best.items())
    for attr in data.get("attributes") or []:
        if isinstance(attr, str) and attr:
            out.append((attr, 1.0, "attribute"))
    return tuple(out)


def _audio_scores(data: dict[str, Any]) -> tuple[tuple[str, float, str], ...]:
    out: list[tuple[str, float, str]] = []
    for item in data.get("tags") or []:
        with contextlib.suppress(Exception):
            out.append((str(item[0]), float(item[1]), "sound"))
    return tuple(out)


def load_timeline(platform: Platform, video: IndexedAssetRow) -> Timeline:
    """The timeline of an indexed video from its stored speech, features, clips, shot cuts and frame
    features. Visual and audio events keep their scores; OCR lines that are noise are left out."""
    events: list[Event] = []
    with platform.store.session() as s:
        for seg in s.scalars(select(SpeechSegmentRow).where(SpeechSegmentRow.video_id == video.id)
                             .order_by(SpeechSegmentRow.seq)):
            if seg.text and seg.text.strip():
                events.append(Event(float(seg.start), float(seg.end), "speech", seg.text.strip()))
        for feat in s.scalars(select(ClipFeatureRow).where(ClipFeatureRow.video_id == video.id)
                              .order_by(ClipFeatureRow.start)):
            data = feat.data if isinstance(feat.data, dict) else {}
            text = (feat.text or "").strip()
            if feat.kind == "visual":
                scores = _visual_scores(data)
                if scores or text:
                    events.append(Event(float(feat.start), float(feat.end), "visual", text, scores))
            elif feat.kind == "audio":
                scores = _audio_scores(data)
                if scores or text:
                    events.append(Event(float(feat.start), float(feat.end), "audio", text, scores))
            elif feat.kind == "ocr":
                score = data.get("score")
                if text and good_ocr_line(text) and not (isinstance(score, int | float) and score < OCR_MIN_SCORE):
                    events.append(Event(float(feat.start), float(feat.end), "ocr", text))
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
    frames = _frame_features(platform, video)
    return Timeline(video.id, duration, events, sorted(c for c in cuts if 0 < c < duration or not duration),
                    frames=frames)


def _frame_features(platform: Platform, video: IndexedAssetRow) -> list[tuple[float, np.ndarray]]:
    """The CNN feature of each sampled frame (what the frames look like), for telling scenes apart."""
    try:
        records = platform.vectors.segments_for_video(tenant_id=video.tenant_id, index_id=video.index_id,
                                                      space="visual_image", video_id=video.id)
    except Exception:  # an index without vectors only costs the look of the frames
        log.debug("no frame features for %s", video.id, exc_info=True)
        return []
    out = []
    for r in records:
        t = r.payload.get("t") if isinstance(r.payload, dict) else None
        vec = np.asarray(r.vector, dtype=np.float32)
        norm = float(np.linalg.norm(vec))
        if norm > 0:
            out.append((float(t) if isinstance(t, int | float) else float(r.start), vec / norm))
    out.sort(key=lambda x: x[0])
    return out


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


def _cosine_bags(a: Mapping[str, float], b: Mapping[str, float]) -> float:
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


# --- scenes and chapters -----------------------------------------------------------------------------

# Adjacent stretches whose content is at least this alike are one scene: the cosine of their mean CNN
# frame features (weight IMAGE_WEIGHT) blended with the cosine of their word bags (labels, sounds, on-screen
# text, speech). On the dev composites (mixed 231 s, Planet Blupi 128 s) chapter boundaries at +-2 s
# score P/R >= 0.86/0.89 for weights 0.7 and thresholds 0.6-0.7; the middle of that plateau is used.
SCENE_SIMILARITY = 0.65
IMAGE_WEIGHT = 0.7
# Consecutive sampled frames (1 fps) less alike than this are a change of picture even without a detected
# cut: 0.27-0.51 at the clip-art changes the cut detector missed, >= 0.59 inside cartoon scenes (two
# frames of 230 s of mixed footage lower: 0.35 and 0.46, merged back by the scene similarity).
FRAME_CHANGE = 0.55
_STOP = {"the", "and", "for", "that", "this", "with", "you", "are", "was", "have", "has", "from", "they", "but",
         "not", "what", "all", "can", "will", "there", "their", "our", "its", "it's", "about", "into", "then"}


@dataclass
class _Stretch:
    start: float
    end: float
    image: np.ndarray | None
    bag: dict[str, float]
    norm: float = 0.0

    def __post_init__(self) -> None:
        self.norm = math.sqrt(sum(v * v for v in self.bag.values()))

    @property
    def length(self) -> float:
        return self.end - self.start

    def absorb(self, other: _Stretch) -> _Stretch:
        """This stretch extended by its neighbour ``other`` (in place)."""
        if other.image is not None:
            self.image = other.image.copy() if self.image is None else self.image + other.image
        for k, v in other.bag.items():
            self.bag[k] = self.bag.get(k, 0.0) + v
        self.start, self.end = min(self.start, other.start), max(self.end, other.end)
        self.norm = math.sqrt(sum(v * v for v in self.bag.values()))
        return self


def _add_evidence(bag: dict[str, float], e: Event, constant: Collection[str]) -> None:
    if e.kind in ("visual", "audio"):
        for lab, score, src in e.evidence():
            w = score * (0.5 if src == "attribute" else 1.0)
            if e.kind == "audio" and lab.lower() in ("silence", "speech"):
                w *= 0.3
            key = f"{e.kind[0]}:{lab.lower()}"
            bag[key] = bag.get(key, 0.0) + w
    elif e.kind in ("speech", "ocr"):
        if e.kind == "ocr" and _norm_text(e.text) in constant:
            return  # a navigation bar or a channel name shows in every scene and tells none apart
        for w in _WORD.findall(e.text.lower()):
            if len(w) > 2 and w not in _STOP:
                bag[f"w:{w}"] = bag.get(f"w:{w}", 0.0) + (1.0 if e.kind == "speech" else 0.5)


def _stretches(timeline: Timeline, spans: list[tuple[float, float]], constant: Collection[str] = ()) -> list[_Stretch]:
    """Each span's summed frame features and word bag; an event counts in a span that holds at least half
    of it (or that it covers at least half of)."""
    starts = [a for a, _ in spans]
    bags: list[dict[str, float]] = [{} for _ in spans]
    images: list[np.ndarray | None] = [None] * len(spans)
    for t, v in timeline.frames:
        i = bisect.bisect_right(starts, t) - 1
        if 0 <= i < len(spans) and t < spans[i][1]:
            img = images[i]
            images[i] = v.copy() if img is None else img + v
    for e in timeline.events:
        i = max(0, bisect.bisect_right(starts, e.start) - 1)
        while i < len(spans) and spans[i][0] < max(e.end, e.start + 1e-9):
            a, b = spans[i]
            if e.start == e.end:
                ok = a <= e.start < b
            else:
                overlap = min(e.end, b) - max(e.start, a)
                ok = overlap > 0 and overlap >= 0.5 * min(e.end - e.start, b - a)
            if ok:
                _add_evidence(bags[i], e, constant)
            i += 1
    return [_Stretch(a, b, images[i], bags[i]) for i, (a, b) in enumerate(spans)]


def _similarity(x: _Stretch, y: _Stretch) -> float:
    if x.bag and y.bag:
        small, big = (x.bag, y.bag) if len(x.bag) <= len(y.bag) else (y.bag, x.bag)
        dot = sum(v * big.get(k, 0.0) for k, v in small.items())
        words = dot / (x.norm * y.norm) if x.norm > 0 and y.norm > 0 else 0.0
    else:
        words = 1.0 if not x.bag and not y.bag else 0.0
    if x.image is not None and y.image is not None:
        nx, ny = float(np.linalg.norm(x.image)), float(np.linalg.norm(y.image))
        look = float(x.image @ y.image / (nx * ny)) if nx > 0 and ny > 0 else 0.0
        return IMAGE_WEIGHT * look + (1 - IMAGE_WEIGHT) * words
    return words


def text_changes(timeline: Timeline, *, min_lines: int = 2, near_cut: float = 1.0) -> list[float]:
    """Times where the text on screen changes at once (at least ``min_lines`` new lines appear together,
    away from a shot cut): a new slide or page, which the shot-cut detector misses on white slides."""
    starts: Counter[float] = Counter()
    for e in timeline.events:
        if e.kind == "ocr":
            starts[round(e.start * 2) / 2] += 1
    out: list[float] = []
    for t in sorted(starts):
        if starts[t] >= min_lines and timeline.offset < t < timeline.end \
                and all(abs(t - c) > near_cut for c in timeline.cuts) and all(abs(t - x) > near_cut for x in out):
            out.append(t)
    return out


def look_changes(timeline: Timeline, *, below: float = FRAME_CHANGE, near_cut: float = 1.0) -> list[float]:
    """Sampled frames that look unlike the frame before (CNN features), away from a shot cut: a change of
    picture the cut detector missed (clip art on the same white background, a cross-fade)."""
    out: list[float] = []
    for (_, a), (t, b) in zip(timeline.frames, timeline.frames[1:], strict=False):
        if float(a @ b) < below and all(abs(t - c) > near_cut for c in timeline.cuts):
            out.append(t)
    return out


def _shots(timeline: Timeline) -> list[tuple[float, float]]:
    t0, t1 = timeline.offset, timeline.end
    changes = sorted({*timeline.cuts, *text_changes(timeline), *look_changes(timeline)})
    points = [t0, *(c for c in changes if t0 < c < t1), t1]
    return [(points[i], points[i + 1]) for i in range(len(points) - 1) if points[i + 1] - points[i] > 1e-3]


def merge_stretches(timeline: Timeline, *, threshold: float = SCENE_SIMILARITY, min_length: float = 0.0,
                    max_count: int | None = None) -> list[tuple[float, float]]:
    """Shots merged into scenes: neighbours are joined, most alike first, while they are at least
    ``threshold`` alike; stretches shorter than ``min_length`` join their more alike neighbour; at most
    ``max_count`` remain."""
    constant = set(constant_lines(timeline))
    parts = _stretches(timeline, _shots(timeline), constant)
    if not parts:
        return []
    sims = np.array([_similarity(parts[i], parts[i + 1]) for i in range(len(parts) - 1)], dtype=np.float64)
    lengths = np.array([p.length for p in parts], dtype=np.float64)
    while len(parts) > 1:
        i = int(np.argmin(lengths))
        if lengths[i] < min_length:
            left = sims[i - 1] if i > 0 else -2.0
            right = sims[i] if i < len(sims) else -2.0
            j = i - 1 if left >= right else i  # merge pair (j, j + 1)
        else:
            j = int(np.argmax(sims))
            if sims[j] < threshold and (max_count is None or len(parts) <= max_count):
                break
        parts[j].absorb(parts[j + 1])
        del parts[j + 1]
        lengths[j] = parts[j].length
        lengths = np.delete(lengths, j + 1)
        sims = np.delete(sims, j)
        if j > 0:
            sims[j - 1] = _similarity(parts[j - 1], parts[j])
        if j < len(parts) - 1:
            sims[j] = _similarity(parts[j], parts[j + 1])
    return [(p.start, p.end) for p in parts]


def scene_spans(timeline: Timeline) -> list[tuple[float, float]]:
    """The scenes of a (windowed) timeline: shots merged while their content stays alike."""
    if timeline.duration <= 0:
        return []
    return merge_stretches(timeline, min_length=min(2.0, timeline.duration / 4))


def chapter_boundaries(timeline: Timeline, embed: Embed | None = None) -> list[float]:
    """Start times of chapters 2..n: scene changes (shot cuts where the look, the labels, the on-screen
    text, the sounds or the speech change), merged so that no chapter is shorter than about a fortieth of
    the video (at least 3 s); long scenes with speech are split where the topic of the speech changes
    (:func:`topic_boundaries`)."""
    duration = timeline.duration
    if duration <= 0 or (timeline.is_empty and not timeline.frames):
        return []
    min_length = max(3.0, min(30.0, duration / 40))
    max_count = max(1, min(40, int(duration // min_length)))
    spans = merge_stretches(timeline, min_length=min_length, max_count=max_count)
    bounds = [a for a, _ in spans[1:]]
    speech_min = max(2 * min_length, 20.0)
    for a, b in spans:
        if b - a >= 2 * speech_min and any(a <= e.start < b for e in timeline.speech):
            inner = topic_boundaries(timeline.window(a, b), embed, min_chapter=speech_min)
            bounds.extend(x for x in inner if a + speech_min * 0.75 <= x <= b - speech_min * 0.75)
    return sorted(set(round(x, 2) for x in bounds))
