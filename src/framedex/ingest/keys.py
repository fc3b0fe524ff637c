"""Blob keys of everything ingest stores per video (one place, so stages and readers agree)."""

from __future__ import annotations


def video_prefix(video_id: str) -> str:
    return f"videos/{video_id}"


def thumbnail_key(video_id: str, seq: int) -> str:
    return f"videos/{video_id}/thumbs/{seq}.jpg"


def frames_prefix(video_id: str) -> str:
    return f"videos/{video_id}/frames"


def frame_key(video_id: str, t: float) -> str:
    return f"videos/{video_id}/frames/{round(t * 1000):010d}.jpg"


def scan_key(video_id: str) -> str:
    return f"videos/{video_id}/scan.json"


def transcript_blob_key(asset_id: str) -> str:
    return f"assets/{asset_id}/transcript.json"


def document_key(asset_id: str) -> str:
    """The extracted text of a document asset (pages), written when the asset becomes ready."""
    return f"assets/{asset_id}/document.json"


def audio_key(video_id: str) -> str:
    return f"videos/{video_id}/audio.f32"
