"""The indexing pipeline: an ordered list of idempotent stages run for one video.

Each stage writes its outputs and marks itself done in one transaction, so a worker
killed mid-video resumes at the first unfinished stage and never duplicates rows.
The video becomes searchable (status `ready`) only after every stage is done.

Between stages, and before a stage marks itself done, the pipeline passes a worker checkpoint:
a worker shutting down or one that lost its job's lease stops there. Vector writes happen outside
the SQL transaction, so a stage that finds its video deleted removes what it just wrote.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from framedex.ids import utcnow
from framedex.ingest.decode import decode_audio
from framedex.ingest.keys import audio_key, frame_key, scan_key
from framedex.ingest.ports import IngestPorts
from framedex.ingest.probe import MediaInfo
from framedex.ingest.segment import ClipSpan
from framedex.jobs.worker import checkpoint
from framedex.models.base import FloatArray, ImageArray
from framedex.storage.tables import ClipRow, IndexedAssetRow, IndexRow

log = logging.getLogger("framedex.ingest")


@dataclass
class VideoContext:
    """What stages know about the video being indexed. Loaded fresh for every attempt."""

    platform: IngestPorts
    video_id: str
    tenant_id: str
    index_id: str
    asset_id: str
    media_path: Path
    info: MediaInfo
    modalities: set[str]
    addons: list[str]
    _clips: list[ClipSpan] | None = None
    still: bool = False  # an image asset (a knowledge-store item): one frame that lasts `info.duration`
    document: bool = False  # a document asset (a knowledge-store item): no media, a clip per page of text

    @property
    def clips(self) -> list[ClipSpan]:
        """The video's clips, as written by the `clips` stage (possibly in an earlier attempt)."""
        if self._clips is None:
            self._clips = load_clips(self)
        return self._clips

    @clips.setter
    def clips(self, value: list[ClipSpan]) -> None:
        self._clips = value

    @cached_property
    def scan(self) -> dict[str, Any]:
        """Shot cuts and sampled frame times written by the `decode` stage."""
        with self.platform.blobs.open(scan_key(self.video_id)) as f:
            data: dict[str, Any] = json.load(f)
        return data

    @property
    def frame_times(self) -> list[float]:
        return list(self.scan["frame_times"])

    def nearest_frame(self, t: float) -> float:
        return min(self.frame_times, key=lambda ft: abs(ft - t))

    def frames_between(self, start: float, end: float) -> list[float]:
        """Sampled frame times inside [start, end); at least the nearest one to the middle."""
        inside = [t for t in self.frame_times if start <= t < end]
        return inside or ([self.nearest_frame((start + end) / 2)] if self.frame_times else [])

    def load_frame(self, t: float) -> ImageArray:
        with self.platform.blobs.open(frame_key(self.video_id, t)) as f:
            return np.asarray(Image.open(f).convert("RGB"))

    @cached_property
    def audio(self) -> FloatArray:
        """16 kHz mono audio stored by the `decode` stage (decoded here only if it is missing)."""
        key = audio_key(self.video_id)
        if self.platform.blobs.exists(key):
            with self.platform.blobs.open(key) as f:
                return np.frombuffer(f.read(), dtype="<f4").astype(np.float32)
        return decode_audio(self.media_path)


class Stage(Protocol):
    name: str

    def applies(self, ctx: VideoContext) -> bool: ...

    def run(self, ctx: VideoContext, session: Session) -> None:
        """Replace this stage's outputs for the video. Runs inside the transaction that marks it done;
        may do slow work (model inference) before writing, and must not commit itself."""
        ...


class VideoGone(Exception):
    """The video (or its index) was deleted while it was being indexed."""


class Pipeline:
    def __init__(self, stages: list[Stage]) -> None:
        self.stages = stages

    def run(self, ctx: VideoContext) -> None:
        try:
            self._run(ctx)
        except VideoGone:
            # A stage may have written vectors after `delete_video` removed the video's: without this
            # they (and a re-created collection) would stay as orphans that no search ever returns.
            vectors = ctx.platform.vectors
            with ctx.platform.store.session() as s:
                index_gone = s.get(IndexRow, ctx.index_id) is None
            if index_gone:  # the whole index went: drop the collections the stage re-created
                vectors.delete_index(tenant_id=ctx.tenant_id, index_id=ctx.index_id)
            else:
                vectors.delete_video(tenant_id=ctx.tenant_id, index_id=ctx.index_id, video_id=ctx.video_id)
            raise

    def _run(self, ctx: VideoContext) -> None:
        store = ctx.platform.store
        for stage in self.stages:
            checkpoint()
            with store.session() as s:
                video = s.get(IndexedAssetRow, ctx.video_id)
                if video is None:
                    raise VideoGone(ctx.video_id)
                done = set(video.stages_done or [])
            if stage.name in done or not stage.applies(ctx):
                continue
            started = time.perf_counter()
            with store.session() as s:
                stage.run(ctx, s)
                # A worker that lost the lease must not mark the stage done under the new owner.
                checkpoint()
                video = s.get(IndexedAssetRow, ctx.video_id, with_for_update=True)
                if video is None:
                    raise VideoGone(ctx.video_id)
                seconds = round(time.perf_counter() - started, 3)
                video.stages_done = [*(video.stages_done or []), stage.name]
                video.stage_timings = {**(video.stage_timings or {}), stage.name: seconds}
                video.updated_at = utcnow()
            log.info("video %s: stage %s done in %.2fs", ctx.video_id, stage.name, seconds)


def load_clips(ctx: VideoContext) -> list[ClipSpan]:
    with ctx.platform.store.session() as s:
        rows = s.scalars(select(ClipRow).where(ClipRow.video_id == ctx.video_id).order_by(ClipRow.seq))
        return [ClipSpan(r.seq, r.start, r.end) for r in rows]
