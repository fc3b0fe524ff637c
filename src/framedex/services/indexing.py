"""Job handlers that drive assets and videos through their status machines (the ingest pipeline runs
inside `video_index`).

asset:  processing → ready | failed                  (jobs `asset_fetch`, `asset_probe`)
video:  pending → validating → queued → indexing → ready | failed
        (`video_validate` probes and checks limits, then queues `video_index`)
"""

from __future__ import annotations

import contextlib
import json
import logging
import tempfile
from dataclasses import replace
from pathlib import Path

from framedex.domain_errors import ServiceError
from framedex.ids import utcnow
from framedex.ingest.decode import decode_audio
from framedex.ingest.fetch import FetchError, download
from framedex.ingest.keys import transcript_blob_key
from framedex.ingest.pipeline import Pipeline, VideoContext, VideoGone
from framedex.ingest.probe import MediaInfo, MediaRejected, probe, validate_video
from framedex.ingest.stages import (
    PAGE_SECONDS,
    STILL_SECONDS,
    default_stages,
    spoken_language_hint,
    transcribe,
    transcript_document,
)
from framedex.jobs.queue import Job
from framedex.jobs.worker import JobHandler, PermanentJobError, TransientJobError
from framedex.services import assets as asset_service
from framedex.services import streaming
from framedex.services.platform import Platform
from framedex.services.videos import VALIDATE_JOB
from framedex.storage.tables import AssetRow, IndexedAssetRow, IndexRow

log = logging.getLogger("framedex.ingest")

INDEX_JOB = "video_index"


class AssetUnavailable(PermanentJobError):
    pass


class DocumentAsset(AssetUnavailable):
    """The asset is a document (services/documents.py made it ready or failed): it has no media."""


def _fetch(platform: Platform, asset: AssetRow) -> None:
    if not asset.source_url:
        raise AssetUnavailable("the asset has no bytes and no URL")
    key = asset_service.asset_blob_key(asset.id)
    s = platform.settings
    with tempfile.TemporaryFile() as tmp:
        try:
            size = download(asset.source_url, tmp, max_bytes=s.max_url_download_bytes,
                            timeout=s.url_download_timeout_seconds, deadline=s.url_download_deadline_seconds,
                            min_rate=s.url_download_min_bytes_per_second, allow_private=s.allow_private_urls)
        except (FetchError, ServiceError) as exc:
            raise AssetUnavailable(f"the URL could not be downloaded: {exc}") from exc
        except Exception as exc:  # network errors are worth a retry
            # The connect error's text (refused, reset, which address) stays in the log (review #18).
            raise TransientJobError("the URL could not be downloaded: the connection failed") from exc
        tmp.seek(0)
        platform.blobs.put_stream(key, tmp)
    with platform.store.session() as session:
        row = session.get(AssetRow, asset.id)
        if row is not None:
            row.blob_key, row.size = key, size


def ensure_asset_ready(platform: Platform, asset_id: str) -> tuple[Path, MediaInfo]:
    """Fetch (URL assets) and probe the asset; mark it ready or failed. Idempotent."""
    with platform.store.session() as session:
        asset = session.get(AssetRow, asset_id)
        if asset is None:
            raise AssetUnavailable("the asset was deleted")
    if asset.status == "failed":
        raise AssetUnavailable((asset.error or {}).get("message", "the asset failed processing"))
    if asset.blob_key is None or not platform.blobs.exists(asset.blob_key):
        _fetch(platform, asset)
    path = platform.blobs.local_path(asset_service.asset_blob_key(asset_id))
    from framedex.services import documents

    if documents.ready_if_document(platform, asset_id, path, asset.filename):
        raise DocumentAsset("The asset is a document (PDF, text or Markdown); only video and audio can be indexed.")
    try:
        info = probe(path)
    except MediaRejected as exc:
        with platform.store.session() as session:
            asset_service.mark_failed(session, asset_id, documents.unsupported_message(exc.message))
        raise AssetUnavailable(documents.unsupported_message(exc.message)) from exc
    with platform.store.session() as session:
        row = session.get(AssetRow, asset_id)
        if row is not None and row.status != "ready":
            row.status = "ready"
            row.size = info.size
            row.system_metadata = info.as_dict()
            if row.file_type == "image" and info.has_video and not info.has_audio:
                pass  # a picture (FFmpeg reads it as a one-frame video): it stays an image
            elif info.has_video:
                row.file_type = "video"
            elif info.has_audio:
                row.file_type = "audio"
            row.updated_at = utcnow()
    return path, info


def _set_video(platform: Platform, video_id: str, **fields: object) -> IndexedAssetRow:
    with platform.store.session() as session:
        video = session.get(IndexedAssetRow, video_id)
        if video is None:
            raise VideoGone(video_id)
        for key, value in fields.items():
            setattr(video, key, value)
        video.updated_at = utcnow()
        return video


def _fail_video(platform: Platform, video_id: str, code: str, message: str) -> None:
    with contextlib.suppress(VideoGone):
        _set_video(platform, video_id, status="failed", error={"code": code, "message": message})


def _item_kind(platform: Platform, video: IndexedAssetRow) -> str:
    """How the video's asset is indexed: "image" (one still frame) and "document" (a clip per page) only for
    knowledge-store items, in their store's hidden index; anything else is taken as a video, so a picture or
    a text file uploaded as a task fails validation as the API's indexes do."""
    with platform.store.session() as session:
        asset = session.get(AssetRow, video.asset_id)
        index = session.get(IndexRow, video.index_id)
        if asset is None or index is None or not index.hidden or asset.file_type not in ("image", "document"):
            return "video"
        return asset.file_type


def _document_info(platform: Platform, asset_id: str) -> MediaInfo:
    """A document indexed as its pages (knowledge-store items), once its text is extracted: page n is the clip
    [(n-1)·PAGE_SECONDS, n·PAGE_SECONDS) of a media with no video and no audio."""
    with contextlib.suppress(DocumentAsset):  # extracted (ready) or refused (failed) by services.documents
        ensure_asset_ready(platform, asset_id)
    with platform.store.session() as session:
        asset = session.get(AssetRow, asset_id)
        if asset is None or asset.status != "ready":
            raise AssetUnavailable(((asset.error if asset else None) or {}).get("message", "the document failed"))
        meta = asset.system_metadata or {}
        pages = max(1, int(meta.get("document_page_count") or 1))
        return MediaInfo(duration=pages * PAGE_SECONDS, size=int(asset.size or 0),
                         format=str(meta.get("document_kind") or "document"), has_video=False, has_audio=False)


def _still_info(path: Path, info: MediaInfo) -> MediaInfo:
    """An image indexed as one still frame (knowledge-store items): it must decode as an image (size limits
    included); it lasts STILL_SECONDS, so it makes one clip like a short video's."""
    from framedex.services.media import load_image

    try:
        height, width = load_image(path).shape[:2]
    except ServiceError as exc:
        raise MediaRejected("image_file_broken", exc.message) from exc
    return replace(info, duration=STILL_SECONDS, width=width, height=height, fps=0.0, has_audio=False)


class IngestJobs:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.pipeline = Pipeline(default_stages())

    # -- assets --
    def probe_asset(self, job: Job) -> None:
        try:
            _path, info = ensure_asset_ready(self.platform, job.payload["asset_id"])
        except DocumentAsset:  # ready or failed already, with the document's own reason
            pass
        except AssetUnavailable as exc:
            with self.platform.store.session() as session:
                asset_service.mark_failed(session, job.payload["asset_id"], str(exc))
            return
        else:
            if info.has_audio and not info.has_video:  # no index takes it: transcribe the asset itself
                asset_service.queue_transcription(self.platform, job.payload["asset_id"])
        streaming.on_asset_ready(self.platform, job.payload["asset_id"])

    def asset_transcribe(self, job: Job) -> None:
        """The transcript of an audio asset (`GET /assets/{id}/transcription`), as indexing writes a video's."""
        asset_id = job.payload["asset_id"]
        key = transcript_blob_key(asset_id)
        with self.platform.store.session() as session:
            asset = session.get(AssetRow, asset_id)
            if asset is None or asset.status != "ready" or self.platform.blobs.exists(key):
                return
            hint = spoken_language_hint(asset)
        path = self.platform.blobs.local_path(asset_service.asset_blob_key(asset_id))
        try:
            audio = decode_audio(path)
        except MediaRejected as exc:
            self._transcript_failed(asset_id, exc.message)
            return
        document = transcript_document(transcribe(self.platform, audio, hint))
        self.platform.blobs.put_bytes(key, json.dumps(document).encode())
        with self.platform.store.session() as session:
            gone = session.get(AssetRow, asset_id) is None
        if gone:  # deleted while transcribing: leave nothing behind
            self.platform.blobs.delete(key)

    def transcription_given_up(self, job: Job, reason: str) -> None:
        self._transcript_failed(job.payload["asset_id"], reason)

    def _transcript_failed(self, asset_id: str, reason: str) -> None:
        with self.platform.store.session() as session:
            if session.get(AssetRow, asset_id) is None:
                return
        log.info("asset %s: transcription failed: %s", asset_id, reason)
        self.platform.blobs.put_bytes(transcript_blob_key(asset_id), json.dumps(
            {"error": f"The audio could not be transcribed: {reason}", "segments": []}).encode())

    def asset_given_up(self, job: Job, reason: str) -> None:
        with self.platform.store.session() as session:
            asset_service.mark_failed(session, job.payload["asset_id"], reason)

    # -- videos --
    def validate_video(self, job: Job) -> None:
        video_id = job.payload["video_id"]
        try:
            video = _set_video(self.platform, video_id, status="validating")
            kind = _item_kind(self.platform, video)
            try:
                if kind == "document":  # a knowledge-store item: its pages of extracted text
                    info = _document_info(self.platform, video.asset_id)
                else:
                    path, info = ensure_asset_ready(self.platform, video.asset_id)
                    if kind == "image":
                        info = _still_info(path, info)
                    else:
                        validate_video(info, self.platform.settings)
            except AssetUnavailable as exc:
                raise MediaRejected("video_file_broken", str(exc)) from exc
        except VideoGone:
            return
        except MediaRejected as exc:
            _fail_video(self.platform, video_id, exc.code, exc.message)
            return
        with self.platform.store.session() as session:
            row = session.get(IndexedAssetRow, video_id)
            if row is None:
                return
            asset = session.get(AssetRow, row.asset_id)
            row.status = "queued"
            row.duration, row.fps, row.width, row.height, row.size = (
                info.duration, info.fps, info.width, info.height, info.size)
            row.filename = row.filename or (asset.filename if asset else None)
            row.system_metadata = {**info.as_dict(), "filename": row.filename}
            row.updated_at = utcnow()
            self.platform.queue.enqueue(INDEX_JOB, {"video_id": video_id}, session=session)
            # After the index job, so that with one worker the stream never delays `ready`.
            streaming.on_video_validated(session, self.platform, row)

    def index_video(self, job: Job) -> None:
        video_id = job.payload["video_id"]
        try:
            video = _set_video(self.platform, video_id, status="indexing")
            with self.platform.store.session() as session:
                index = session.get(IndexRow, video.index_id)
                if index is None:
                    return
                from framedex.services.indexes import index_modalities

                modalities, addons = index_modalities(index), list(index.addons)
            kind = _item_kind(self.platform, video)
            path = self.platform.blobs.local_path(asset_service.asset_blob_key(video.asset_id))
            info = MediaInfo(**{k: v for k, v in video.system_metadata.items() if k != "filename"})
            ctx = VideoContext(platform=self.platform, video_id=video_id, tenant_id=video.tenant_id,
                               index_id=video.index_id, asset_id=video.asset_id, media_path=path, info=info,
                               modalities=modalities, addons=addons, still=kind == "image",
                               document=kind == "document")
            self.pipeline.run(ctx)
            _set_video(self.platform, video_id, status="ready", indexed_at=utcnow(), error=None)
            analysis_after_ready(self.platform, video_id)  # queues its analysis preparation, after ready
        except VideoGone:
            log.info("video %s was deleted while indexing; dropping the job", video_id)
        except MediaRejected as exc:  # decoding hit a limit of the real stream: fail with its own code
            log.info("video %s rejected while indexing: %s", video_id, exc.message)
            _fail_video(self.platform, video_id, exc.code, exc.message)

    def video_given_up(self, job: Job, reason: str) -> None:
        _fail_video(self.platform, job.payload["video_id"], "video_processing_failed", reason)

    def handlers(self) -> dict[str, JobHandler]:
        handlers: dict[str, JobHandler] = {
            asset_service.PROBE_JOB: JobHandler(self.probe_asset, self.asset_given_up),
            asset_service.FETCH_JOB: JobHandler(self.probe_asset, self.asset_given_up),
            asset_service.TRANSCRIBE_JOB: JobHandler(self.asset_transcribe, self.transcription_given_up),
            VALIDATE_JOB: JobHandler(self.validate_video, self.video_given_up),
            INDEX_JOB: JobHandler(self.index_video, self.video_given_up),
        }
        return handlers


def job_handlers(platform: Platform) -> dict[str, JobHandler]:
    """Job kinds of this module (assets and videos), for the worker pool (`framedex.platform.job_handlers`)."""
    return IngestJobs(platform).handlers()


def analysis_after_ready(platform: Platform, video_id: str) -> None:
    from framedex.services.analysis import prepared as analysis_prepared

    analysis_prepared.after_ready(platform, video_id)
