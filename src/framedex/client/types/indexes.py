"""Indexes, their videos and indexed assets (``client.indexes``)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from .shared import Hls, Model, Segment, TranscriptionSegment, UserMetadata


class IndexModel(Model):
    model_name: str | None = None
    model_options: list[str] | None = None


class Index(Model):
    id: str | None = Field(default=None, alias="_id")
    index_name: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    expires_at: str | None = None
    total_duration: float | None = None
    video_count: float | None = None
    models: list[IndexModel] | None = None
    addons: list[str] | None = None


class IndexCreateResponse(Model):
    id: str | None = Field(default=None, alias="_id")


class VideoSystemMetadata(Model):
    filename: str | None = None
    duration: float | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    size: float | None = None


class VideoEmbedding(Model):
    segments: list[Segment] | None = None
    metadata: dict[str, Any] | None = None


class Embedding(Model):
    model_name: str | None = None
    video_embedding: VideoEmbedding | None = None


class Video(Model):
    """A video in an index (``/indexes/{id}/videos``; the older name for an indexed asset)."""

    id: str | None = Field(default=None, alias="_id")
    asset_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    indexed_at: str | None = None
    system_metadata: VideoSystemMetadata | None = None
    user_metadata: UserMetadata | None = None
    hls: Hls | None = None
    embedding: Embedding | None = None
    transcription: list[TranscriptionSegment] | None = None


class IndexedAsset(Video):
    status: str | None = None


class IndexedAssetCreateResponse(Model):
    id: str | None = Field(default=None, alias="_id")
    asset_id: str | None = None


class IndexRef(Model):
    id: str | None = Field(default=None, alias="_id")
    name: str | None = None


class IndexedAssetSummary(Model):
    id: str | None = Field(default=None, alias="_id")
    index: IndexRef | None = None
