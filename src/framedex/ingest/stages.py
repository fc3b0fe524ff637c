"""The pipeline's stages. Adding a modality means adding a stage here and listing it in `default_stages`.

`decode` is the only stage that reads the video: it decodes it once, sequentially, and stores
what the others need (sampled frames as JPEGs, 16 kHz audio, shot cuts) in the blob store,
so a resumed video never decodes twice and the other stages stay small.
"""

from __future__ import annotations

import io
import json
import logging
from dataclasses import asdict

import numpy as np
from PIL import Image, ImageOps
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from framedex.ingest.decode import SampledFrame, decode_audio
from framedex.ingest.keys import audio_key, frame_key, frames_prefix, scan_key, thumbnail_key, transcript_blob_key
from framedex.ingest.pipeline import Stage, VideoContext
from framedex.ingest.ports import IngestPorts
from framedex.ingest.probe import decode_budget
from framedex.ingest.scan import scan_video
from framedex.ingest.segment import clips_from_boundaries
from framedex.models.base import AUDIO_SAMPLE_RATE, FloatArray, Transcript
from framedex.storage.tables import AssetRow, ClipRow, IndexedAssetRow, SpeechSegmentRow

log = logging.getLogger("framedex.ingest")

SAMPLE_FPS = 1.0
FRAME_MAX_SIDE = 640
THUMBNAIL_MAX_SIDE = 480
MIN_CLIP_SECONDS = 2.0
MAX_CLIP_SECONDS = 10.0
STILL_SECONDS = 1.0  # an image is indexed as one frame standing for this long: one clip, searched like any other
PAGE_SECONDS = MAX_CLIP_SECONDS  # a document's page n stands for [(n-1)·PAGE_SECONDS, n·PAGE_SECONDS): one clip


def _jpeg(image: np.ndarray, quality: int = 90, max_side: int | None = None) -> bytes:
    picture = Image.fromarray(image)
    if max_side is not None and max(picture.size) > max_side:
        picture.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    picture.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


class DecodeStage:
    """Decode once: frames at SAMPLE_FPS, shot cuts and the audio track, all into the blob store. An image
    (`ctx.still`) is one frame at 0 s, upright as its EXIF orientation says, with no audio."""

    name = "decode"

    def applies(self, ctx: VideoContext) -> bool:
        return True

    def run(self, ctx: VideoContext, session: Session) -> None:
        blobs = ctx.platform.blobs
        if ctx.still:
            blobs.delete_prefix(frames_prefix(ctx.video_id))
            with Image.open(ctx.media_path) as opened:
                picture = (ImageOps.exif_transpose(opened) or opened).convert("RGB")
            picture.thumbnail((FRAME_MAX_SIDE, FRAME_MAX_SIDE))
            blobs.put_bytes(frame_key(ctx.video_id, 0.0), _jpeg(np.asarray(picture)))
            blobs.put_bytes(audio_key(ctx.video_id), b"")
            still = {"cuts": [], "frame_times": [0.0], "duration": ctx.info.duration}
            blobs.put_bytes(scan_key(ctx.video_id), json.dumps(still).encode())
            return
        if ctx.document:  # no frames, no audio: page boundaries are the cuts
            pages = round(ctx.info.duration / PAGE_SECONDS)
            blobs.put_bytes(audio_key(ctx.video_id), b"")
            paged = {"cuts": [PAGE_SECONDS * n for n in range(1, pages)], "frame_times": [],
                     "duration": ctx.info.duration}
            blobs.put_bytes(scan_key(ctx.video_id), json.dumps(paged).encode())
            return

        def keep(frame: SampledFrame) -> None:
            blobs.put_bytes(frame_key(ctx.video_id, frame.time), _jpeg(frame.image))

        blobs.delete_prefix(frames_prefix(ctx.video_id))
        # Bounded by the probed duration and the API's limits: past them (a header that lies, absurd
        # timestamps, a stall) decoding stops with MediaLimitExceeded and the video fails with its reason.
        budget = decode_budget(ctx.info, ctx.platform.settings)
        result = scan_video(ctx.media_path, keep, sample_fps=SAMPLE_FPS, max_side=FRAME_MAX_SIDE,
                            threads=ctx.platform.settings.model_threads, budget=budget)
        audio = (decode_audio(ctx.media_path, budget=budget) if ctx.info.has_audio
                 else np.zeros(0, dtype=np.float32))
        blobs.put_bytes(audio_key(ctx.video_id), np.ascontiguousarray(audio, dtype="<f4").tobytes())
        scan = {"cuts": result.cuts, "frame_times": result.frame_times,
                "duration": max(ctx.info.duration, result.duration)}
        blobs.put_bytes(scan_key(ctx.video_id), json.dumps(scan).encode())


class ClipsStage:
    """Clips follow shot cuts, merged up to MIN_CLIP_SECONDS and split down to MAX_CLIP_SECONDS."""

    name = "clips"

    def applies(self, ctx: VideoContext) -> bool:
        return True

    def run(self, ctx: VideoContext, session: Session) -> None:
        scan = ctx.scan
        spans = clips_from_boundaries(ctx.info.duration, scan["cuts"], min_length=MIN_CLIP_SECONDS,
                                      max_length=MAX_CLIP_SECONDS)
        session.execute(delete(ClipRow).where(ClipRow.video_id == ctx.video_id))
        session.add_all(
            ClipRow(tenant_id=ctx.tenant_id, index_id=ctx.index_id, video_id=ctx.video_id,
                    seq=c.seq, start=c.start, end=c.end)
            for c in spans
        )
        ctx.clips = spans


class ThumbnailsStage:
    """A JPEG of the sampled frame nearest each clip's middle: search hits and the playground show them."""

    name = "thumbnails"

    def applies(self, ctx: VideoContext) -> bool:
        return bool(ctx.frame_times)

    def run(self, ctx: VideoContext, session: Session) -> None:
        keys: dict[int, str] = {}
        for clip in ctx.clips:
            image = ctx.load_frame(ctx.nearest_frame(clip.middle))
            key = thumbnail_key(ctx.video_id, clip.seq)
            ctx.platform.blobs.put_bytes(key, _jpeg(image, quality=80, max_side=THUMBNAIL_MAX_SIDE))
            keys[clip.seq] = key
        for row in session.scalars(select(ClipRow).where(ClipRow.video_id == ctx.video_id)):
            row.thumbnail_key = keys.get(row.seq)


# user_metadata keys that name the spoken language of an upload (the API has no field for it).
LANGUAGE_METADATA_KEYS = ("language", "transcription_language")


def spoken_language_hint(video: IndexedAssetRow | AssetRow | None) -> str | None:
    """The spoken language an upload declares in its user_metadata (e.g. ``{"language": "de"}``), if any.
    The recognizer ignores a value it does not know, so "German" or "auto" fall back to detection."""
    metadata = (video.user_metadata or {}) if video is not None else {}
    for key in LANGUAGE_METADATA_KEYS:
        value = metadata.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def transcribe(platform: IngestPorts, audio: FloatArray, language: str | None) -> Transcript:
    """Whisper over 16 kHz mono audio; under a quarter second there is nothing to recognise."""
    if audio.size < AUDIO_SAMPLE_RATE // 4:
        return Transcript(language=None, language_probability=0.0, segments=[])
    return platform.models.speech().transcribe(audio, language)


def transcript_document(transcript: Transcript) -> dict[str, object]:
    """What `GET /assets/{id}/transcription` serves (stored at `transcript_blob_key`): the non-empty
    segments with their words."""
    return {
        "language": transcript.language,
        "segments": [{"start": s.start, "end": s.end, "text": s.text.strip(), "words": [asdict(w) for w in s.words]}
                     for s in transcript.segments if s.text.strip()],
    }


class SpeechStage:
    """Whisper transcript with word timings → segments, the lexical index and the asset's transcript."""

    name = "speech"

    def applies(self, ctx: VideoContext) -> bool:
        return ctx.info.has_audio

    def run(self, ctx: VideoContext, session: Session) -> None:
        audio = ctx.audio
        video = session.get(IndexedAssetRow, ctx.video_id)
        transcript = transcribe(ctx.platform, audio, spoken_language_hint(video))
        platform = ctx.platform
        platform.lexical.delete_video(session, ctx.video_id)
        session.execute(delete(SpeechSegmentRow).where(SpeechSegmentRow.video_id == ctx.video_id))
        segments = [s for s in transcript.segments if s.text.strip()]
        for seq, seg in enumerate(segments):
            row = SpeechSegmentRow(
                tenant_id=ctx.tenant_id, index_id=ctx.index_id, video_id=ctx.video_id, seq=seq,
                start=round(seg.start, 3), end=round(seg.end, 3), text=seg.text.strip(),
                words=[asdict(w) for w in seg.words],
            )
            session.add(row)
            session.flush()
            platform.lexical.add(session, tenant_id=ctx.tenant_id, index_id=ctx.index_id,
                                 video_id=ctx.video_id, segment_id=row.id, content=row.text)
        if video is not None:
            video.language = transcript.language
        document = transcript_document(transcript)
        platform.blobs.put_bytes(transcript_blob_key(ctx.asset_id), json.dumps(document).encode())


def default_stages() -> list[Stage]:
    from framedex.ingest.modalities import (
        AudioEventsStage,
        DocumentTextStage,
        FacesStage,
        OcrStage,
        TranscriptVectorsStage,
        VisualStage,
    )

    return [DecodeStage(), ClipsStage(), ThumbnailsStage(), SpeechStage(), TranscriptVectorsStage(),
            AudioEventsStage(), VisualStage(), OcrStage(), FacesStage(), DocumentTextStage()]
