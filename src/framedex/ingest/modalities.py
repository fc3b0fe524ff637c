"""Modality stages: what is seen (labels, objects, faces, on-screen text), heard (sound events) and said
(transcript vectors). Each reads the artifacts of the `decode` stage, writes its findings to
`clip_features` and its vectors to the vector index, replacing any earlier attempt's output.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from framedex.ingest.pipeline import VideoContext
from framedex.ingest.segment import ClipSpan
from framedex.models.base import AUDIO_SAMPLE_RATE, FloatArray, FrameAnalysis, FrameTags, Label, TextBox
from framedex.models.textnorm import squash
from framedex.storage.tables import ClipFeatureRow, SpeechSegmentRow
from framedex.storage.vectors import VectorRecord

log = logging.getLogger("framedex.ingest")

T = TypeVar("T")
BATCH = 8
MIN_FACE_PIXELS = 40
FACE_TRACK_SIMILARITY = 0.5
OCR_MIN_SCORE = 0.6
AUDIO_MIN_SECONDS = 0.96  # one YAMNet patch


def batched(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def clip_of(clips: Sequence[ClipSpan], t: float) -> ClipSpan:
    for clip in clips:
        if clip.start <= t < clip.end:
            return clip
    return clips[-1]


def _replace_features(session: Session, ctx: VideoContext, kind: str, rows: list[ClipFeatureRow]) -> None:
    session.execute(delete(ClipFeatureRow).where(ClipFeatureRow.video_id == ctx.video_id,
                                                 ClipFeatureRow.kind == kind))
    session.add_all(rows)


def _feature(ctx: VideoContext, kind: str, clip: ClipSpan, start: float, end: float, text: str,
             data: dict[str, Any]) -> ClipFeatureRow:
    return ClipFeatureRow(tenant_id=ctx.tenant_id, index_id=ctx.index_id, video_id=ctx.video_id, kind=kind,
                          clip_seq=clip.seq, start=round(start, 3), end=round(end, 3), text=text, data=data)


def _replace_vectors(ctx: VideoContext, space: str, records: list[VectorRecord]) -> None:
    ctx.platform.vectors.replace_video(tenant_id=ctx.tenant_id, index_id=ctx.index_id, space=space,
                                       video_id=ctx.video_id, records=records)


def _frame_span(ctx: VideoContext, t: float) -> tuple[float, float]:
    """The stretch of time a sampled frame stands for: until the next sampled frame."""
    times = ctx.frame_times
    later = [ft for ft in times if ft > t]
    return t, min(later[0] if later else ctx.info.duration, ctx.info.duration)


class VisualStage:
    """Per sampled frame: classifier labels, detected objects, image attributes, a joint-space embedding
    (text→frame search) and the CNN feature (image→frame search). Across the frames of a shot: whether a fixed
    camera filmed it while something moved (a "security camera" attribute, see `models.vision.fixed_camera`)."""

    name = "visual"

    def applies(self, ctx: VideoContext) -> bool:
        return "visual" in ctx.modalities and bool(ctx.frame_times)

    def run(self, ctx: VideoContext, session: Session) -> None:
        from framedex.models.vision import tiny_grey

        analyzer = ctx.platform.models.frames()
        analysed: list[tuple[float, FrameAnalysis]] = []
        tinies: list[FloatArray] = []
        for times in batched(ctx.frame_times, BATCH):
            images = [ctx.load_frame(t) for t in times]
            tinies.extend(tiny_grey(image) for image in images)
            analysed.extend(zip(times, analyzer.analyze(images), strict=True))
        analysed = self._fixed_camera(analyzer, analysed, tinies, ctx)
        rows: list[ClipFeatureRow] = []
        joint: list[VectorRecord] = []
        image_features: list[VectorRecord] = []
        for t, result in analysed:
            clip = clip_of(ctx.clips, t)
            start, end = _frame_span(ctx, t)
            tags = result.tags
            words = [term.name for term in result.terms[:8]]
            rows.append(_feature(ctx, "visual", clip, start, end, ", ".join(words), {
                "labels": [[lab.name, round(lab.score, 4)] for lab in tags.labels[:10]],
                "objects": [[d.label, round(d.score, 3), [round(v, 4) for v in d.box]] for d in tags.detections],
                "counts": tags.counts,
                "attributes": tags.attributes,
                "terms": [[term.name, round(term.score, 4)] for term in result.terms[:16]],
            }))
            joint.append(VectorRecord(ctx.video_id, clip.seq, start, end, result.embedding, {"t": t}))
            image_features.append(VectorRecord(ctx.video_id, clip.seq, start, end, tags.feature, {"t": t}))
        _replace_vectors(ctx, "visual", joint)
        _replace_vectors(ctx, "visual_image", image_features)
        _replace_features(session, ctx, "visual", rows)

    @staticmethod
    def _fixed_camera(analyzer: Any, analysed: list[tuple[float, FrameAnalysis]], tinies: list[FloatArray],
                      ctx: VideoContext) -> list[tuple[float, FrameAnalysis]]:
        """Add "security camera" to the frames a fixed camera filmed (compared within their shot only) that look
        like surveillance; with the ConSE encoder their embedding and terms are recomputed to include it."""
        from framedex.models.vision import ConseVisionEncoder, fixed_camera, security_camera_view

        by_clip: dict[int, list[int]] = {}
        for i, (t, _) in enumerate(analysed):
            by_clip.setdefault(clip_of(ctx.clips, t).seq, []).append(i)
        flagged: set[int] = set()
        for idx in by_clip.values():
            for i, fixed in zip(idx, fixed_camera([tinies[i] for i in idx]), strict=True):
                tags = analysed[i][1].tags
                if fixed and security_camera_view(tags.attributes, tags.detections):
                    flagged.add(i)
        if not flagged:
            return analysed
        encoder = getattr(analyzer, "encoder", None)
        out = list(analysed)
        for i in flagged:
            t, result = analysed[i]
            old = result.tags
            tags = FrameTags(old.labels, old.detections, old.counts, [*old.attributes, "security camera"], old.feature)
            if isinstance(encoder, ConseVisionEncoder):
                result = FrameAnalysis(tags, encoder.embed_tags(tags), encoder.terms_of(tags))
            else:
                result = FrameAnalysis(tags, result.embedding, [*result.terms, Label("security camera", 1.0)])
            out[i] = (t, result)
        return out


def _normalise_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


OCR_MAX_PER_MINUTE = 30  # OCR calls per minute of video (1 fps frames: at most one call per distinct picture)
OCR_MIN_CALLS = 6  # ... but never fewer than this for a short video
CHANGE_PIXEL = 0.08  # grey-level change (0-1) of a tiny-frame pixel that counts
CHANGE_SHARE = 0.0015  # share of changed tiny-frame pixels that makes a new picture (a tooltip, a new line)
SAME_TEXT_RATIO = 0.85  # character similarity at which two reads are the same line (OCR noise)
SAME_TEXT_MAX_RUN = 3  # ... unless this many characters in a row differ: a word was replaced, not misread
MISSED_READS = 1  # a line missing from this many consecutive reads still continues (OCR flakiness)


@dataclass
class _Picture:
    """A run of sampled frames that look the same as its first one."""

    times: list[float]
    start: float
    end: float
    novelty: float  # share of changed pixels against the previous picture
    cost: float = 1.0  # of reading it, in whole-frame reads (a small change is read alone: OCR_CROP_COST)

    @property
    def frame(self) -> float:  # away from the transition into it
        return self.times[len(self.times) // 2]


class _Runs:
    """Text seen in consecutive reads, merged into runs: the same (or fuzzy-equal) text read again extends its
    run; a text read while being typed (a prefix of the later text) joins the run of the full text."""

    def __init__(self) -> None:
        self.open: list[list[Any]] = []  # [text, start, end, score, missed]
        self.done: list[tuple[str, float, float, float]] = []

    def update(self, found: dict[str, float], start: float, end: float) -> None:
        left = dict(found)
        for run in self.open:
            key = next((k for k in left if same_text(run[0], k)), None)
            if key is None:
                run[4] += 1
                continue
            score = left.pop(key)
            run[0] = key if len(_squash(key)) > len(_squash(run[0])) else run[0]
            run[2], run[3], run[4] = end, max(run[3], score), 0
        for run in [r for r in self.open if r[4] > MISSED_READS]:
            self.open.remove(run)
            self.done.append((run[0], run[1], run[2], run[3]))
        self.open.extend([text, start, end, score, 0] for text, score in left.items())

    def finish(self) -> list[tuple[str, float, float, float]]:
        out = self.done + [(r[0], r[1], r[2], r[3]) for r in self.open]
        return sorted(out, key=lambda item: (item[1], item[0]))


def _squash(text: str) -> str:
    return squash(text)


def same_text(a: str, b: str) -> bool:
    """Two reads of the same line: equal but for case, spacing and punctuation, nearly equal (OCR errors: a
    character or two misread here and there), or one the beginning of the other (text being typed). Slides of
    one template repeat a line with one word changed ("... einem ägyptischen Text." on one, "... einem
    kyrillischen Text." on the next): more than SAME_TEXT_MAX_RUN differing characters in a row make another
    line, so each keeps the time it is on screen."""
    from difflib import SequenceMatcher

    sa, sb = _squash(a), _squash(b)
    if sa == sb:
        return bool(sa)
    short, long_ = (sa, sb) if len(sa) <= len(sb) else (sb, sa)
    if len(short) >= 4 and long_.startswith(short):
        return True
    if len(short) < 0.7 * len(long_):
        return False
    matcher = SequenceMatcher(None, sa, sb, autojunk=False)
    if matcher.quick_ratio() < SAME_TEXT_RATIO or matcher.ratio() < SAME_TEXT_RATIO:
        return False
    return all(max(i2 - i1, j2 - j1) <= SAME_TEXT_MAX_RUN
               for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal")


class OcrStage:
    """On-screen text of every distinct picture: the 1-fps frames are grouped into pictures (runs of frames
    that look the same, by a cheap tiny-frame diff), and one frame of each picture holding text is read, up to
    OCR_MAX_PER_MINUTE whole-frame reads per minute of video (the most changed pictures first; when only a small
    part changed, a tooltip or a typed line, only that part is read, at a fraction of the cost). The same line read in
    consecutive pictures becomes one line with the time range it stays on screen; lines are also reassembled
    into blocks (rows and paragraphs, kind ``ocr_block``) so a quote running across a line break is found."""

    name = "ocr"

    def applies(self, ctx: VideoContext) -> bool:
        return "visual" in ctx.modalities and bool(ctx.frame_times)

    @staticmethod
    def pictures(ctx: VideoContext) -> list[_Picture]:
        times = ctx.frame_times
        out: list[_Picture] = []
        key: np.ndarray | None = None
        for t in times:
            tiny = _tiny(ctx.load_frame(t))
            change = 1.0 if key is None else _changed(tiny, key)
            if key is None or change > CHANGE_SHARE:
                if out:
                    out[-1].end = t
                region = None if key is None else _changed_box(tiny, key)
                small = region is not None and (region[2] - region[0]) * (region[3] - region[1]) <= OCR_CROP_AREA
                out.append(_Picture([t], t if out else 0.0, ctx.info.duration, change,
                                    OCR_CROP_COST if small else 1.0))
                key = tiny
            else:
                out[-1].times.append(t)
        if out:
            out[-1].end = max(out[-1].end, out[-1].times[-1])
        return out

    def run(self, ctx: VideoContext, session: Session) -> None:
        from framedex.models.ocr import assemble_blocks

        reader = ctx.platform.models.ocr()
        pictures = self.pictures(ctx)
        with_text = [p for p in pictures if reader.has_text(ctx.load_frame(p.frame))]
        texty = {id(p) for p in with_text}
        budget = max(OCR_MIN_CALLS, int(np.ceil(OCR_MAX_PER_MINUTE * ctx.info.duration / 60.0)))
        chosen: set[int] = set()
        spent = 0.0
        for p in sorted(with_text, key=lambda p: -p.novelty):  # the most changed pictures first
            if spent + p.cost <= budget:
                chosen.add(id(p))
                spent += p.cost
        lines, blocks = _Runs(), _Runs()
        read_at: float | None = None  # the start of the last picture read (an unread picture continues it)
        last: tuple[np.ndarray, list[TextBox]] | None = None  # the last frame read (tiny) and its lines
        for picture in pictures:
            if id(picture) not in chosen and id(picture) in texty and read_at is not None:
                for runs in (lines, blocks):  # over budget: what the last read saw continues
                    for run in runs.open:
                        if run[4] == 0:
                            run[2] = picture.end
                continue
            found: dict[str, float] = {}
            found_blocks: dict[str, float] = {}
            if id(picture) in chosen:
                image = ctx.load_frame(picture.frame)
                tiny = _tiny(image)
                boxes: list[TextBox] | None = None
                if last is not None:  # only a small part changed (a tooltip, a typed line): read just that part
                    region = _changed_box(tiny, last[0])
                    if region is None:
                        boxes = last[1]
                    elif (region[2] - region[0]) * (region[3] - region[1]) <= OCR_CROP_AREA:
                        boxes = _read_region(reader, image, region, last[1])
                if boxes is None:
                    boxes = _legible(reader.read(image))
                last = (tiny, boxes)
                for box in boxes:
                    line = _normalise_line(box.text)
                    found[line] = max(found.get(line, 0.0), box.score)
                aspect = image.shape[1] / max(1, image.shape[0])
                for text, members in assemble_blocks(boxes, aspect):
                    found_blocks[_normalise_line(text)] = min(boxes[i].score for i in members)
                read_at = picture.start
            lines.update(found, picture.start, picture.end)
            blocks.update(found_blocks, picture.start, picture.end)
        finished = lines.finish()
        rows = [_feature(ctx, "ocr", clip_of(ctx.clips, s), s, e, line, {"score": round(score, 3)})
                for line, s, e, score in finished]
        block_rows = [_feature(ctx, "ocr_block", clip_of(ctx.clips, s), s, e, text, {"score": round(score, 3)})
                      for text, s, e, score in blocks.finish()]
        records: list[VectorRecord] = []
        if finished:
            vectors = ctx.platform.models.text().embed([line for line, *_ in finished])
            records = [VectorRecord(ctx.video_id, clip_of(ctx.clips, s).seq, s, e, vectors[i], {"text": line})
                       for i, (line, s, e, _) in enumerate(finished)]
        _replace_vectors(ctx, "ocr", records)
        _replace_features(session, ctx, "ocr", rows)
        _replace_features(session, ctx, "ocr_block", block_rows)
        log.info("video %s: OCR read %d of %d pictures (%d with text), %d lines, %d blocks", ctx.video_id,
                 len(chosen), len(pictures), len(with_text), len(rows), len(block_rows))


OCR_CROP_AREA = 0.25  # a change covering at most this share of the frame is read alone (the rest is kept)
OCR_CROP_COST = 0.35  # such a read, counted in whole-frame reads against the budget


def _legible(boxes: list[TextBox]) -> list[TextBox]:
    return [b for b in boxes if b.score >= OCR_MIN_SCORE and len(_normalise_line(b.text)) >= 2]


def _overlaps(box: Sequence[float], region: Sequence[float]) -> bool:
    return box[0] < region[2] and box[2] > region[0] and box[1] < region[3] and box[3] > region[1]


def _changed_box(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, float] | None:
    """The relative bounding box of the pixels that changed between two tiny frames (None: nothing did)."""
    ys, xs = np.nonzero(np.abs(a - b) > CHANGE_PIXEL)
    if xs.size == 0:
        return None
    h, w = a.shape
    return float(xs.min()) / w, float(ys.min()) / h, float(xs.max() + 1) / w, float(ys.max() + 1) / h


def _read_region(reader: Any, image: np.ndarray, region: tuple[float, float, float, float],
                 previous: list[TextBox]) -> list[TextBox]:
    """Lines of a frame that differs from the last one read only inside `region`: the lines read before outside
    it, and the region read again (grown to hold whole every earlier line it touches)."""
    margin = 0.05  # text detection needs some context around a line: a tight crop is misread
    x1, y1, x2, y2 = region[0] - margin, region[1] - margin, region[2] + margin, region[3] + margin
    for _ in range(3):
        touched = [b.box for b in previous if _overlaps(b.box, (x1, y1, x2, y2))]
        grown = (min([x1, *(b[0] for b in touched)]), min([y1, *(b[1] for b in touched)]),
                 max([x2, *(b[2] for b in touched)]), max([y2, *(b[3] for b in touched)]))
        if grown == (x1, y1, x2, y2):
            break
        x1, y1, x2, y2 = grown
    x1, y1, x2, y2 = max(0.0, x1), max(0.0, y1), min(1.0, x2), min(1.0, y2)
    kept = [b for b in previous if not _overlaps(b.box, (x1, y1, x2, y2))]
    h, w = image.shape[:2]
    px1, py1, px2, py2 = int(x1 * w), int(y1 * h), int(np.ceil(x2 * w)), int(np.ceil(y2 * h))
    if px2 - px1 < 8 or py2 - py1 < 8:
        return kept
    cw, ch = px2 - px1, py2 - py1
    new = [TextBox(b.text, b.score, ((px1 + b.box[0] * cw) / w, (py1 + b.box[1] * ch) / h,
                                     (px1 + b.box[2] * cw) / w, (py1 + b.box[3] * ch) / h))
           for b in _legible(reader.read(np.ascontiguousarray(image[py1:py2, px1:px2])))]
    return sorted(kept + new, key=lambda b: (round(b.box[1] * 20), b.box[0]))


def _tiny(image: np.ndarray) -> np.ndarray:
    from PIL import Image

    small = Image.fromarray(image).convert("L").resize((160, 90), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def _changed(a: np.ndarray, b: np.ndarray) -> float:
    """Share of the tiny frames' pixels that changed noticeably: a small tooltip or one new line of text counts,
    JPEG noise does not."""
    return float(np.count_nonzero(np.abs(a - b) > CHANGE_PIXEL)) / a.size


class AudioEventsStage:
    """Sound events (YAMNet) per clip, with a joint-space embedding of the clip's sounds."""

    name = "audio"

    def applies(self, ctx: VideoContext) -> bool:
        return "audio" in ctx.modalities and ctx.info.has_audio

    def run(self, ctx: VideoContext, session: Session) -> None:
        tagger = ctx.platform.models.audio()
        audio = ctx.audio
        rows: list[ClipFeatureRow] = []
        records: list[VectorRecord] = []
        for clip in ctx.clips:
            piece = audio[int(clip.start * AUDIO_SAMPLE_RATE):int(clip.end * AUDIO_SAMPLE_RATE)]
            if piece.size < AUDIO_MIN_SECONDS * AUDIO_SAMPLE_RATE:
                continue
            events = tagger.tag(piece)
            if not events.top:
                continue
            words = [term.name for term in events.terms[:8]]
            rows.append(_feature(ctx, "audio", clip, clip.start, clip.end, ", ".join(words), {
                "tags": [[lab.name, round(lab.score, 4)] for lab in events.top[:10]],
                "terms": [[term.name, round(term.score, 4)] for term in events.terms[:16]],
            }))
            if float(np.linalg.norm(events.embedding)) > 0:
                records.append(VectorRecord(ctx.video_id, clip.seq, clip.start, clip.end, events.embedding, None))
        _replace_vectors(ctx, "audio", records)
        _replace_features(session, ctx, "audio", rows)


class FacesStage:
    """Faces of at least MIN_FACE_PIXELS in sampled frames, grouped into per-video tracks."""

    name = "faces"

    def applies(self, ctx: VideoContext) -> bool:
        return "visual" in ctx.modalities and bool(ctx.frame_times)

    def run(self, ctx: VideoContext, session: Session) -> None:
        encoder = ctx.platform.models.faces()
        objects = self._objects_by_time(ctx, session)
        found: list[tuple[float, Any]] = []
        for t in ctx.frame_times:
            image = ctx.load_frame(t)
            height, width = image.shape[:2]
            for face in encoder.faces(image):
                x1, y1, x2, y2 = face.box
                if min((x2 - x1) * width, (y2 - y1) * height) < MIN_FACE_PIXELS:
                    continue
                if self._on_an_animal(face.box, objects.get(t, [])):
                    continue
                found.append((t, face))
        tracks = assign_tracks([face.embedding for _, face in found], FACE_TRACK_SIMILARITY)
        rows: list[ClipFeatureRow] = []
        records: list[VectorRecord] = []
        for (t, face), track in zip(found, tracks, strict=True):
            clip = clip_of(ctx.clips, t)
            start, end = _frame_span(ctx, t)
            rows.append(_feature(ctx, "face", clip, start, end, "", {
                "track": track, "score": round(face.score, 3), "box": [round(v, 4) for v in face.box]}))
            records.append(VectorRecord(ctx.video_id, clip.seq, start, end, face.embedding, {"track": track}))
        _replace_vectors(ctx, "faces", records)
        _replace_features(session, ctx, "face", rows)

    @staticmethod
    def _objects_by_time(ctx: VideoContext, session: Session) -> dict[float, list[Any]]:
        """Detections the visual stage stored per sampled frame (empty when it did not run)."""
        rows = session.scalars(select(ClipFeatureRow).where(ClipFeatureRow.video_id == ctx.video_id,
                                                            ClipFeatureRow.kind == "visual"))
        return {row.start: list(row.data.get("objects", [])) for row in rows}

    @staticmethod
    def _on_an_animal(box: Sequence[float], objects: list[Any]) -> bool:
        """The face detector also fires on animal faces: drop a face that sits on a detected animal
        and on no detected person."""
        x, y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        on_person = any(label == "person" and _contains(obox, x, y) for label, _, obox in objects)
        on_animal = any(label in ANIMALS and _contains(obox, x, y) for label, _, obox in objects)
        return on_animal and not on_person


ANIMALS = {"bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "teddy bear"}


def _contains(box: Sequence[float], x: float, y: float) -> bool:
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


def assign_tracks(embeddings: Sequence[FloatArray], threshold: float) -> list[int]:
    """Greedy clustering: each face joins the most similar track centroid above `threshold`."""
    centroids: list[FloatArray] = []
    sizes: list[int] = []
    out: list[int] = []
    for emb in embeddings:
        best, best_sim = -1, threshold
        for i, centroid in enumerate(centroids):
            sim = float(np.dot(emb, centroid) / (np.linalg.norm(centroid) + 1e-9))
            if sim >= best_sim:
                best, best_sim = i, sim
        if best < 0:
            centroids.append(emb.astype(np.float32).copy())
            sizes.append(1)
            out.append(len(centroids) - 1)
        else:
            centroids[best] = (centroids[best] + (emb - centroids[best]) / (sizes[best] + 1)).astype(np.float32)
            sizes[best] += 1
            out.append(best)
    return out


class TranscriptVectorsStage:
    """Sentence embeddings of the transcript segments, for semantic transcription search."""

    name = "transcript_vectors"

    def applies(self, ctx: VideoContext) -> bool:
        return ctx.info.has_audio

    def run(self, ctx: VideoContext, session: Session) -> None:
        segments = list(session.scalars(select(SpeechSegmentRow).where(SpeechSegmentRow.video_id == ctx.video_id)
                                        .order_by(SpeechSegmentRow.seq)))
        records: list[VectorRecord] = []
        if segments and ctx.clips:
            vectors = ctx.platform.models.text().embed([s.text for s in segments])
            for seg, vector in zip(segments, vectors, strict=True):
                clip = clip_of(ctx.clips, (seg.start + seg.end) / 2)
                records.append(VectorRecord(ctx.video_id, clip.seq, seg.start, seg.end, vector, {"segment": seg.id}))
        _replace_vectors(ctx, "transcription", records)


class DocumentTextStage:
    """What is written in a document (`ctx.document`): its extracted text, read as on-screen text is, so the
    `ocr` search source finds it (quotes included): each sentence is a line (kind ``ocr``, with its sentence
    vector), runs of three sentences are blocks (``ocr_block``, a quote across sentences), on its page's clip."""

    name = "document_text"

    def applies(self, ctx: VideoContext) -> bool:
        return ctx.document

    def run(self, ctx: VideoContext, session: Session) -> None:
        import json

        from framedex.ingest.documents import sentence_chunks, sentences
        from framedex.ingest.keys import document_key
        from framedex.ingest.stages import PAGE_SECONDS

        with ctx.platform.blobs.open(document_key(ctx.asset_id)) as f:
            pages = json.load(f)["pages"]
        lines: list[tuple[str, ClipSpan, float, float]] = []
        block_rows: list[ClipFeatureRow] = []
        for page in pages:
            start = (int(page["number"]) - 1) * PAGE_SECONDS
            end = min(start + PAGE_SECONDS, ctx.info.duration)
            clip = clip_of(ctx.clips, start)
            text = str(page.get("text") or "")
            lines.extend((line, clip, start, end) for line in sentences(text))
            block_rows.extend(_feature(ctx, "ocr_block", clip, start, end, block, {"score": 1.0})
                              for block in sentence_chunks(text, 3, 1))
        rows = [_feature(ctx, "ocr", clip, s, e, line, {"score": 1.0}) for line, clip, s, e in lines]
        records: list[VectorRecord] = []
        if lines:
            vectors = ctx.platform.models.text().embed([line for line, *_ in lines])
            records = [VectorRecord(ctx.video_id, clip.seq, s, e, vectors[i], {"text": line})
                       for i, (line, clip, s, e) in enumerate(lines)]
        _replace_vectors(ctx, "ocr", records)
        _replace_features(session, ctx, "ocr", rows)
        _replace_features(session, ctx, "ocr_block", block_rows)
