"""The pipeline's stages. Adding a modality means adding a stage here and listing it in `default_stages`."""

from __future__ import annotations

import io
import json
import logging
from dataclasses import asdict

from PIL import Image
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from framedex.ingest.decode import sample_frames
from framedex.ingest.pipeline import Stage, VideoContext
from framedex.ingest.segment import fixed_clips
from framedex.models.base import AUDIO_SAMPLE_RATE, Transcript
from framedex.services.assets import transcript_blob_key
from framedex.storage.tables import ClipRow, SpeechSegmentRow

log = logging.getLogger("framedex.ingest")

CLIP_SECONDS = 6.0
THUMBNAIL_MAX_SIDE = 480


def thumbnail_key(video_id: str, seq: int) -> str:
    return f"videos/{video_id}/thumbs/{seq}.jpg"


class ClipsStage:
    name = "clips"

    def applies(self, ctx: VideoContext) -> bool:
        return True

    def run(self, ctx: VideoContext, session: Session) -> None:
        spans = fixed_clips(ctx.info.duration, CLIP_SECONDS)
        session.execute(delete(ClipRow).where(ClipRow.video_id == ctx.video_id))
        session.add_all(
            ClipRow(tenant_id=ctx.tenant_id, index_id=ctx.index_id, video_id=ctx.video_id,
                    seq=c.seq, start=c.start, end=c.end)
            for c in spans
        )
        ctx.clips = spans


class ThumbnailsStage:
    """A JPEG of each clip's middle frame: search hits and the playground show them."""

    name = "thumbnails"

    def applies(self, ctx: VideoContext) -> bool:
        return ctx.info.has_video

    def run(self, ctx: VideoContext, session: Session) -> None:
        by_time = {c.middle: c.seq for c in ctx.clips}
        keys: dict[int, str] = {}
        for frame in sample_frames(ctx.media_path, list(by_time), max_side=THUMBNAIL_MAX_SIDE):
            seq = by_time[frame.time]
            buf = io.BytesIO()
            Image.fromarray(frame.image).save(buf, format="JPEG", quality=80)
            key = thumbnail_key(ctx.video_id, seq)
            ctx.platform.blobs.put_bytes(key, buf.getvalue())
            keys[seq] = key
        for clip in session.scalars(select(ClipRow).where(ClipRow.video_id == ctx.video_id)):
            clip.thumbnail_key = keys.get(clip.seq)


class SpeechStage:
    """Whisper transcript with word timings → segments, the lexical index and the asset's transcript."""

    name = "speech"

    def applies(self, ctx: VideoContext) -> bool:
        return ctx.info.has_audio

    def run(self, ctx: VideoContext, session: Session) -> None:
        audio = ctx.audio
        if audio.size < AUDIO_SAMPLE_RATE // 4:
            transcript = Transcript(language=None, language_probability=0.0, segments=[])
        else:
            transcript = ctx.platform.models.speech().transcribe(audio)
        platform = ctx.platform
        platform.lexical.delete_video(session, ctx.video_id)
        session.execute(delete(SpeechSegmentRow).where(SpeechSegmentRow.video_id == ctx.video_id))
        for seq, seg in enumerate(s for s in transcript.segments if s.text.strip()):
            row = SpeechSegmentRow(
                tenant_id=ctx.tenant_id, index_id=ctx.index_id, video_id=ctx.video_id, seq=seq,
                start=round(seg.start, 3), end=round(seg.end, 3), text=seg.text.strip(),
                words=[asdict(w) for w in seg.words],
            )
            session.add(row)
            session.flush()
            platform.lexical.add(session, tenant_id=ctx.tenant_id, index_id=ctx.index_id,
                                 video_id=ctx.video_id, segment_id=row.id, content=row.text)
        from framedex.storage.tables import IndexedAssetRow

        video = session.get(IndexedAssetRow, ctx.video_id)
        if video is not None:
            video.language = transcript.language
        document = {
            "language": transcript.language,
            "segments": [
                {"start": s.start, "end": s.end, "text": s.text.strip(), "words": [asdict(w) for w in s.words]}
                for s in transcript.segments if s.text.strip()
            ],
        }
        platform.blobs.put_bytes(transcript_blob_key(ctx.asset_id), json.dumps(document).encode())


def default_stages() -> list[Stage]:
    return [ClipsStage(), ThumbnailsStage(), SpeechStage()]
