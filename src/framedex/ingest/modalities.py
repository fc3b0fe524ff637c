"""Modality stages: what is seen (labels, objects, faces, on-screen text), heard (sound events) and said
(transcript vectors). Each reads the artifacts of the `decode` stage, writes its findings to
`clip_features` and its vectors to the vector index, replacing any earlier attempt's output.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from framedex.ingest.pipeline import VideoContext
from framedex.ingest.segment import ClipSpan
from framedex.models.base import AUDIO_SAMPLE_RATE, FloatArray, FrameAnalysis, FrameTags, Label
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


class OcrStage:
    """On-screen text of key frames: at most two frames per clip (its middle and its end), skipping
    frames the cheap pre-check says hold no text; identical lines in neighbouring frames merge."""

    name = "ocr"

    def applies(self, ctx: VideoContext) -> bool:
        return "visual" in ctx.modalities and bool(ctx.frame_times)

    def key_frames(self, ctx: VideoContext) -> list[float]:
        chosen: list[float] = []
        for clip in ctx.clips:
            inside = ctx.frames_between(clip.start, clip.end)
            picks = {ctx.nearest_frame(clip.middle)}
            if len(inside) > 2:
                picks.add(inside[-1])
            chosen.extend(sorted(picks))
        return sorted(set(chosen))

    def run(self, ctx: VideoContext, session: Session) -> None:
        reader = ctx.platform.models.ocr()
        open_lines: dict[str, list[Any]] = {}  # text → [start, end, score, clip]
        finished: list[tuple[str, float, float, float, ClipSpan]] = []
        for t in self.key_frames(ctx):
            image = ctx.load_frame(t)
            found: dict[str, float] = {}
            if reader.has_text(image):
                for box in reader.read(image):
                    line = _normalise_line(box.text)
                    if box.score >= OCR_MIN_SCORE and len(line) >= 2:
                        found[line] = max(found.get(line, 0.0), box.score)
            start, end = self.static_span(ctx, t, image) if found else _frame_span(ctx, t)
            for line in list(open_lines):
                if line not in found:
                    s, e, score, clip = open_lines.pop(line)
                    finished.append((line, s, e, score, clip))
            for line, score in found.items():
                if line in open_lines:
                    open_lines[line][1] = end
                    open_lines[line][2] = max(open_lines[line][2], score)
                else:
                    open_lines[line] = [start, end, score, clip_of(ctx.clips, t)]
        finished.extend((line, s, e, score, clip) for line, (s, e, score, clip) in open_lines.items())
        finished.sort(key=lambda item: (item[1], item[0]))
        rows = [_feature(ctx, "ocr", clip, s, e, line, {"score": round(score, 3)})
                for line, s, e, score, clip in finished]
        records: list[VectorRecord] = []
        if finished:
            vectors = ctx.platform.models.text().embed([line for line, *_ in finished])
            records = [VectorRecord(ctx.video_id, clip.seq, s, e, vectors[i], {"text": line})
                       for i, (line, s, e, _, clip) in enumerate(finished)]
        _replace_vectors(ctx, "ocr", records)
        _replace_features(session, ctx, "ocr", rows)


    @staticmethod
    def static_span(ctx: VideoContext, t: float, image: np.ndarray) -> tuple[float, float]:
        """Text was read at `t`; it shows for as long as the clip's neighbouring frames look the same
        (OCR runs on key frames only, so the range comes from cheap frame comparisons)."""
        clip = clip_of(ctx.clips, t)
        times = ctx.frames_between(clip.start, clip.end)
        key = _tiny(image)
        start, end = _frame_span(ctx, t)
        i = times.index(t) if t in times else -1
        if i < 0:
            return start, end
        for j in range(i - 1, -1, -1):
            if float(np.abs(_tiny(ctx.load_frame(times[j])) - key).mean()) > STATIC_FRAME_DIFF:
                break
            start = times[j]
        for j in range(i + 1, len(times)):
            if float(np.abs(_tiny(ctx.load_frame(times[j])) - key).mean()) > STATIC_FRAME_DIFF:
                break
            end = _frame_span(ctx, times[j])[1]
        return start, end


STATIC_FRAME_DIFF = 0.03


def _tiny(image: np.ndarray) -> np.ndarray:
    from PIL import Image

    small = Image.fromarray(image).convert("L").resize((64, 36))
    return np.asarray(small, dtype=np.float32) / 255.0


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
