"""The `VectorIndex` port: per-clip vectors of each modality, searchable by cosine similarity.

Vocabulary
----------
* A **collection** is one vector space of one index of one tenant: ``(tenant_id, index_id, space)``.
  ``space`` names the modality's vector space (``visual``, ``visual_image``, ``audio``,
  ``transcription``, ``ocr``, ``faces``, ...). All vectors of a collection have the same dimension,
  fixed by the first write.
* A **record** is one vector of one clip of one video. A clip may have many records in a space
  (one per sampled frame, one per detected face, ...). Its position in the list given to
  `replace_video` is its *vector number*; adapters key records by ``(video_id, clip_seq, vector no.)``.
* Vectors are L2-normalised on the way in (a zero vector stays zero and scores 0); the score of a
  hit is the cosine similarity in ``[-1, 1]``, higher is better. Approximate (ANN) adapters may
  return scores that differ from the exact cosine by about 1e-3 (reduced-precision storage).

Semantics every adapter guarantees (checked by ``tests/storage/test_vectors.py``)
------------------------------------------------------------------------------
* ``replace_video`` is **atomic and idempotent** per ``(collection, video)``: a search sees either
  all of the previous records of that video in that space or all of the new ones, never a mix and
  never duplicates. Re-running an ingest stage therefore simply replaces its earlier output; an
  empty ``records`` removes the video from that space.
* **Readiness is not stored here.** A video's vectors become searchable to users when the search
  service starts passing its id in ``video_ids`` (it passes the ids of *ready* videos, already
  narrowed by metadata filters); the single source of truth for readiness is the metadata store,
  so "publish" is one metadata transaction. ``video_ids=None`` searches everything written,
  including videos still being indexed: only for tools and tests.
* **Tenant isolation is structural**: a collection belongs to exactly one tenant; no call reads
  across tenants (the embedded adapter keeps each tenant in its own directory and objects).
* ``search`` returns at most ``k`` hits, best first. ``group="vector"`` returns individual vectors,
  ``"clip"`` the best vector of each clip, ``"video"`` the best vector of each video; grouping
  happens *before* the cut to ``k`` (so ``k`` distinct clips/videos come back when they exist).
  ``min_score`` drops hits below a cosine threshold (range search, e.g. face matches at >= 0.40).
  Filtering by ``video_ids`` is exact (never returns fewer hits than exist because of the filter).
* Thread-safe: API threads may search while worker threads write.

Adapters: `framedex.storage.vectors_embedded.EmbeddedVectorIndex` (files + usearch HNSW, the
default; see its module); a pgvector adapter for the scale-out deployment comes later.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

Group = Literal["vector", "clip", "video"]
GROUPS: tuple[Group, ...] = ("vector", "clip", "video")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


@dataclass(frozen=True)
class VectorRecord:
    """One vector of one clip. ``start``/``end`` are seconds in the video (e.g. the frame's span)."""

    video_id: str
    clip_seq: int
    start: float
    end: float
    vector: np.ndarray
    payload: dict[str, Any] | None = None  # small JSON-serialisable extras (frame time, face track, ...)


@dataclass(frozen=True)
class VectorHit:
    video_id: str
    clip_seq: int
    start: float
    end: float
    score: float  # cosine similarity, higher is better
    payload: dict[str, Any] | None = None


class VectorIndex(Protocol):
    """Per-tenant, per-index, per-space vector storage with filtered, grouped top-k cosine search."""

    def replace_video(self, *, tenant_id: str, index_id: str, space: str, video_id: str,
                      records: Sequence[VectorRecord]) -> None:
        """Atomically replace every vector of `video_id` in this space by `records` (all must carry
        that video id). Idempotent; ``records=[]`` removes the video from the space."""
        ...

    def search(self, *, tenant_id: str, index_id: str, space: str, query: np.ndarray, k: int,
               video_ids: Collection[str] | None = None, group: Group = "clip",
               min_score: float | None = None) -> list[VectorHit]:
        """Top-`k` hits by cosine similarity to `query` (1-D, the space's dimension), best first,
        restricted to `video_ids` when given (an empty collection gives no hits). An unknown
        collection gives no hits; a query of the wrong dimension raises ValueError."""
        ...

    def search_many(self, *, tenant_id: str, index_id: str, space: str, queries: Sequence[np.ndarray], k: int,
                    video_ids: Collection[str] | None = None, group: Group = "clip",
                    min_score: float | None = None) -> list[list[VectorHit]]:
        """`search` for each of several queries, in order (an engine may run them in parallel)."""
        ...

    def segments_for_video(self, *, tenant_id: str, index_id: str, space: str,
                           video_id: str) -> list[VectorRecord]:
        """The stored records of a video in a space, in write order (vectors are normalised)."""
        ...

    def delete_video(self, *, tenant_id: str, index_id: str, video_id: str) -> None:
        """Remove the video's vectors from every space of the index. Idempotent."""
        ...

    def delete_index(self, *, tenant_id: str, index_id: str) -> None:
        """Remove every vector of every space of the index. Idempotent."""
        ...

    def spaces(self, *, tenant_id: str, index_id: str) -> list[str]:
        """Spaces of the index that hold at least one vector, sorted."""
        ...

    def count(self, *, tenant_id: str, index_id: str, space: str | None = None,
              video_id: str | None = None) -> int:
        """Number of stored vectors, optionally of one space and/or one video."""
        ...

    def close(self) -> None:
        """Flush and release resources; the object is unusable afterwards. Idempotent."""
        ...


def check_name(kind: str, value: str) -> str:
    """Ids and space names become path components / SQL values: allow a safe alphabet only."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValueError(f"invalid {kind}: {value!r}")
    return value


def check_group(group: str) -> Group:
    if group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}, not {group!r}")
    return group


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    """Float32 copy with each row scaled to unit L2 norm (zero rows stay zero). Rejects NaN/inf."""
    out = np.array(vectors, dtype=np.float32, copy=True, ndmin=2)
    if out.ndim != 2:
        raise ValueError(f"expected a 2-D array of vectors, got shape {out.shape}")
    if not np.isfinite(out).all():
        raise ValueError("vectors contain NaN or infinity")
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out
