"""Wire schemas of the embeddings API (reference B.11-B.14, Part C `Embedding*`, `MediaEmbeddingTask`).

Request bodies of `/embed-v2` and `/embed-v2/tasks` are JSON; `/embed` and `/embed/tasks` are multipart
(parsed in the router). Responses keep the real API's names: `float` in v1, `embedding` in v2, `_id`.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from framedex.api.schemas import forms
from framedex.api.schemas.common import WireModel


class MediaSource(WireModel):
    base64_string: str | None = None
    url: str | None = None
    asset_id: str | None = None


class EmbedV2Request(WireModel):
    """`POST /embed-v2` and `POST /embed-v2/tasks`; the per-input objects are checked by `services.embed.inputs`."""

    input_type: str | None = None
    model_name: str | None = None
    auto_truncate: bool | None = None
    embedding_uncertainty: bool | None = None
    embedding_dimension: int | None = None
    text: dict[str, Any] | None = None
    image: dict[str, Any] | None = None
    text_image: dict[str, Any] | None = None
    audio: dict[str, Any] | None = None
    video: dict[str, Any] | None = None
    multi_input: dict[str, Any] | None = None
    document: dict[str, Any] | None = None


class EmbeddingData(WireModel):
    embedding: list[float]
    embedding_option: str | None = None
    embedding_scope: str | None = None
    start_sec: float | None = None
    end_sec: float | None = None


class EmbeddingUsage(WireModel):
    input_tokens: dict[str, int]
    truncated: bool
    truncation_reason: str | None = None


class EmbeddingSuccessResponse(WireModel):
    data: list[EmbeddingData]
    usage: EmbeddingUsage | None = None
    metadata: dict[str, Any] | None = None


class EmbedV2TaskCreated(WireModel):
    id: str = Field(serialization_alias="_id")
    status: str
    data: list[EmbeddingData] | None = None


class EmbedTaskError(WireModel):
    message: str


class EmbeddingTaskResponse(WireModel):
    id: str = Field(serialization_alias="_id")
    status: str
    created_at: str | None = None
    updated_at: str | None = None
    data: list[EmbeddingData] | None = None
    metadata: dict[str, Any] | None = None
    error: EmbedTaskError | None = None


class MetadataWrapper(WireModel):
    metadata: dict[str, Any] | None = None


class MediaEmbeddingTask(WireModel):
    """An item of `GET /embed/tasks` and `GET /embed-v2/tasks`."""

    id: str = Field(serialization_alias="_id")
    model_name: str
    status: str
    created_at: str | None = None
    updated_at: str | None = None
    video_embedding: MetadataWrapper | None = None
    audio_embedding: MetadataWrapper | None = None
    image_embedding: MetadataWrapper | None = None


class EmbedV1TaskCreated(WireModel):
    id: str = Field(serialization_alias="_id")


class V1Segment(WireModel):
    float_: list[float] = Field(serialization_alias="float")
    start_offset_sec: float | None = None
    end_offset_sec: float | None = None
    embedding_option: str | None = None
    embedding_scope: str | None = None


class V1VideoEmbedding(WireModel):
    metadata: dict[str, Any] | None = None
    segments: list[V1Segment] | None = None


class EmbedV1TaskResponse(WireModel):
    id: str = Field(serialization_alias="_id")
    model_name: str
    status: str
    created_at: str | None = None
    updated_at: str | None = None
    video_embedding: V1VideoEmbedding | None = None


class EmbedV1TaskStatus(WireModel):
    id: str = Field(serialization_alias="_id")
    model_name: str
    status: str
    video_embedding: V1VideoEmbedding | None = None


# --- request body of POST /embed/tasks, which the router reads by hand (the file part streams to storage) ---

EMBED_TASK_MULTIPART = forms.obj({
    "model_name": forms.text("The embedding model (marengo3.0, marengo2.7, ...)."),
    "video_file": forms.file("The video (video_url wins when both are sent)."),
    "video_url": forms.text("A publicly accessible video URL.", fmt="uri"),
    "video_start_offset_sec": forms.number("Where embedding starts, in seconds.", minimum=0),
    "video_end_offset_sec": forms.number("Where embedding stops, in seconds (with the start offset).", minimum=0),
    "video_clip_length": forms.number("Seconds per clip embedding (2-10, default 6).", minimum=0),
    "video_embedding_scope": forms.repeated(forms.text("A scope.", enum=("clip", "video")),
                                            "clip, or clip and video; one part each."),
}, ("model_name",), title="EmbedTaskForm")
EMBED_TASK_BODY = forms.request_body(multipart=EMBED_TASK_MULTIPART)
