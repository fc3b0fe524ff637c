"""Assets and their transcriptions (``client.assets``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from .shared import Model, TranscriptionSegment, UserMetadata


class AssetHls(Model):
    manifest_url: str | None = None
    status: str | None = None


class AssetThumbnail(Model):
    representative_url: str | None = None
    status: str | None = None


class Asset(Model):
    id: str | None = Field(default=None, alias="_id")
    method: str | None = None
    status: str | None = None
    filename: str | None = None
    file_type: str | None = None
    created_at: datetime | None = None
    user_metadata: UserMetadata | None = None
    source: dict[str, Any] | None = None
    hls: AssetHls | None = None
    thumbnail: AssetThumbnail | None = None
    technical_metadata: dict[str, Any] | None = None


class TranscriptionUtterance(TranscriptionSegment):
    speaker: str | None = None


class TranscriptionError(Model):
    message: str | None = None


class AssetTranscription(Model):
    status: str | None = None
    words: list[TranscriptionSegment] | None = None
    sentences: list[TranscriptionSegment] | None = None
    utterances: list[TranscriptionUtterance] | None = None
    error: TranscriptionError | None = None
