"""Wire models of the assets endpoints (reference B.5 and Part C: Asset, AssetDetail, transcription)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from framedex.api.schemas import forms
from framedex.api.schemas.common import WireModel
from framedex.ids import rfc3339
from framedex.storage.tables import AssetRow

# TechnicalMetadata fields of documents, stored as such by services/documents.py (ingest/documents.py extracts them).
DOCUMENT_FIELDS = ("document_page_count", "document_pdf_version", "document_page_width_pt", "document_page_height_pt",
                   "document_is_tagged", "document_is_encrypted", "document_language", "document_title",
                   "document_author", "document_subject", "document_keywords", "document_creator_tool",
                   "document_producer", "document_creation_date", "document_modification_date")
# Stored statuses beyond the wire's `processing | ready | failed` (`waiting` for bytes) read as processing.
_WIRE_STATUSES = ("processing", "ready", "failed")


def wire_status(row: AssetRow) -> str:
    return row.status if row.status in _WIRE_STATUSES else "processing"


class Asset(WireModel):
    id: str = Field(serialization_alias="_id")
    method: str
    status: str
    filename: str | None = None
    file_type: str
    created_at: str
    updated_at: str | None = None
    user_metadata: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, row: AssetRow) -> Asset:
        return cls(
            id=row.id, method=row.method, status=wire_status(row), filename=row.filename,
            file_type=row.file_type, created_at=rfc3339(row.created_at) or "",
            updated_at=rfc3339(row.updated_at), user_metadata=row.user_metadata or {},
        )


class AssetError(WireModel):
    message: str


def _technical_metadata(row: AssetRow) -> dict[str, Any]:
    """TechnicalMetadata from what the probe stored in `system_metadata` (see ingest.probe.MediaInfo)."""
    meta = row.system_metadata or {}
    has_video = meta.get("has_video")
    fields: dict[str, Any] = {
        "file_size_bytes": row.size,
        "file_mime_type": row.content_type,
        "file_container_format": meta.get("format"),
        "has_audio": meta.get("has_audio"),
        "audio_codec": meta.get("audio_codec"),
        "audio_sample_rate": meta.get("audio_sample_rate"),
        "audio_channels": meta.get("audio_channels"),
    }
    if has_video or meta.get("width"):
        if row.file_type == "image":
            fields.update(image_width=meta.get("width"), image_height=meta.get("height"))
        else:
            fields.update(
                video_codec=meta.get("video_codec"), video_width=meta.get("width"),
                video_height=meta.get("height"), video_fps=meta.get("fps"),
                video_duration_seconds=meta.get("duration"),
            )
    if meta.get("has_audio"):
        fields["audio_duration_seconds"] = meta.get("duration")
    fields.update({k: meta[k] for k in DOCUMENT_FIELDS if meta.get(k) is not None})
    return {k: v for k, v in fields.items() if v is not None}


class AssetDetail(Asset):
    size: int | None = None
    duration: float | None = None
    technical_metadata: dict[str, Any] | None = None
    error: AssetError | None = None
    hls: dict[str, Any] | None = None  # AssetHls{manifest_url, status}, set by the router
    thumbnail: dict[str, Any] | None = None  # AssetThumbnail{representative_url, status}

    @classmethod
    def of(cls, row: AssetRow) -> AssetDetail:
        meta = row.system_metadata or {}
        duration = meta.get("duration")
        error = None
        if row.status == "failed":
            message = (row.error or {}).get("message") or "The asset could not be processed."
            error = AssetError(message=str(message))
        technical = _technical_metadata(row)
        return cls(
            id=row.id, method=row.method, status=wire_status(row), filename=row.filename,
            file_type=row.file_type, created_at=rfc3339(row.created_at) or "",
            updated_at=rfc3339(row.updated_at), user_metadata=row.user_metadata or {}, size=row.size,
            duration=float(duration) if isinstance(duration, int | float) else None,
            technical_metadata=technical or None, error=error,
        )


class UserMetadataBody(WireModel):
    # Typed loosely: the service checks the shape and says precisely what is wrong.
    user_metadata: Any = None


class TranscriptionEntry(WireModel):
    start: float
    end: float
    value: str


class TranscriptionUtterance(TranscriptionEntry):
    speaker: str | None = None


class TranscriptionError(WireModel):
    message: str


class AssetTranscriptionResponse(WireModel):
    status: str
    words: list[TranscriptionEntry] | None = None
    sentences: list[TranscriptionEntry] | None = None
    utterances: list[TranscriptionUtterance] | None = None
    error: TranscriptionError | None = None


# --- request body of POST /assets, which the router reads by hand (streaming size cap) ---

ASSET_CREATE_MULTIPART = forms.obj({
    "method": forms.text("direct: the file part; url: the url field.", enum=("direct", "url")),
    "file": forms.file("The file (method=direct): video, audio or image."),
    "url": forms.text("A publicly accessible URL (method=url).", fmt="uri"),
    "filename": forms.text("The name to keep; default from the file or URL."),
    "enable_hls": forms.boolean("Generate an HLS playlist (video and audio).", default=True),
    "enable_thumbnail": forms.boolean("Generate thumbnails.", default=True),
    "user_metadata": forms.text("A JSON object as a string: string, number, boolean or string-list values."),
}, ("method",), title="AssetCreateForm")
ASSET_CREATE_BODY = forms.request_body(multipart=ASSET_CREATE_MULTIPART)
