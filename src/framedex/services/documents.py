"""Document assets (PDF, plain text, Markdown) and document inputs to the embeddings API (issue 14).

An uploaded document never goes through the media probe: the asset job hands it here first
(`ready_if_document`), its text is extracted once (text layer, OCR for scanned pages) and stored as
`assets/{id}/document.json`, and its `document_*` technical metadata goes into `system_metadata`.
Embeddings of a document reuse that stored text; they are text vectors of the joint space, so they
compare with text queries and with what search retrieves.
"""

from __future__ import annotations

import base64
import binascii
import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from framedex.domain_errors import InvalidParameter, NotFound, PayloadTooLarge
from framedex.ids import utcnow
from framedex.ingest import documents as extract
from framedex.ingest.documents import Document
from framedex.ingest.keys import document_key
from framedex.models.base import FloatArray, ImageArray
from framedex.services.media import MediaSource
from framedex.services.platform import Platform
from framedex.storage.tables import AssetRow

FILE_TYPE = "document"
SYNC_MAX_BYTES = 32 * 1024**2  # a media source of a synchronous /embed-v2 request (reference A.10)
# The text embedder reads about 256 word pieces; longer text is embedded in sentence chunks and averaged.
CHUNK_SENTENCES = 5
MAX_CHUNKS = 2000


def document_blob_key(asset_id: str) -> str:
    return document_key(asset_id)


def _ocr_reader(platform: Platform) -> Any:
    reader = platform.models.ocr()

    def read(image: ImageArray) -> str:
        return "\n".join(box.text for box in reader.read(image))

    return read


def ready_if_document(platform: Platform, asset_id: str, path: Path, filename: str | None) -> bool:
    """Extract and store the text of a document asset and mark it ready (or failed with the reason).

    False when the file is not a document, for the media probe to handle. Idempotent: a document
    asset that is already ready is not extracted again."""
    with platform.store.session() as session:
        row = session.get(AssetRow, asset_id)
        if row is None:
            return False
        if row.file_type == FILE_TYPE and row.status in ("ready", "failed"):
            return True
    try:
        kind = extract.detect(path, filename)
        if kind is None:
            return False
        document = extract.extract(path, kind, ocr=_ocr_reader(platform))
    except extract.DocumentRejected as exc:
        _finish(platform, asset_id, status="failed", error=exc.message, kind=None)
        return True
    platform.blobs.put_bytes(document_blob_key(asset_id), json.dumps(document.as_dict()).encode())
    _finish(platform, asset_id, status="ready", error=None, kind=kind,
            metadata={**document.metadata, "document_kind": kind, "size": path.stat().st_size})
    return True


def _finish(platform: Platform, asset_id: str, *, status: str, error: str | None, kind: str | None,
            metadata: dict[str, Any] | None = None) -> None:
    with platform.store.session() as session:
        row = session.get(AssetRow, asset_id)
        if row is None:
            return
        row.file_type = FILE_TYPE
        row.status = status
        row.error = {"message": error} if error else None
        if metadata is not None:
            row.system_metadata = metadata
            row.size = int(metadata["size"])
        if kind is not None and not row.content_type:
            row.content_type = extract.MIME_TYPES[kind]
        row.updated_at = utcnow()


def unsupported_message(reason: str) -> str:
    """The failure of a file that is neither media the probe reads nor a document."""
    return ("The file is not a supported format: assets are video, audio, images, PDF, plain text (.txt) "
            f"or Markdown (.md) files. {reason}")


def load_document(platform: Platform, tenant_id: str, asset_id: str) -> Document:
    """The stored extraction of a ready document asset: kind, metadata and the text of each page."""
    from framedex.services.assets import get_asset

    with platform.store.session() as session:
        asset = get_asset(session, tenant_id, asset_id)
        file_type, status = asset.file_type, asset.status
    key = document_blob_key(asset_id)
    if file_type != FILE_TYPE:
        raise InvalidParameter("asset_id", "The asset is not a document.", code="asset_not_document")
    if status != "ready" or not platform.blobs.exists(key):
        raise NotFound("text of document asset", asset_id)
    with platform.blobs.open(key) as fh:
        data: dict[str, Any] = json.load(fh)
    return Document.from_dict(data)


# --- embeddings ----------------------------------------------------------------------------------


def embed_texts(platform: Platform, texts: list[str]) -> FloatArray:
    """The same text tower `/embed-v2` uses for text, so document and text vectors compare."""
    return np.asarray(platform.models.vision().embed_text(texts), dtype=np.float32)


def mean_unit(vectors: FloatArray) -> FloatArray:
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-8)
    mean = unit.mean(axis=0)
    return np.asarray(mean / max(float(np.linalg.norm(mean)), 1e-8), dtype=np.float32)


def text_vector(platform: Platform, text: str) -> FloatArray | None:
    chunks = extract.sentence_chunks(text, CHUNK_SENTENCES)[:MAX_CHUNKS]
    if not chunks:
        return None
    return mean_unit(embed_texts(platform, chunks))


def _stored_document(platform: Platform, tenant_id: str, asset_id: str, name: str) -> Document:
    try:
        return load_document(platform, tenant_id, asset_id)
    except NotFound as exc:
        raise InvalidParameter(f"{name}.asset_id", "The document asset is not ready.",
                               code="asset_unavailable") from exc


def open_source(platform: Platform, tenant_id: str, source: MediaSource, name: str, tmp: Path, *,
                max_bytes: int) -> Document:
    """The extraction of a document media source: a ready document asset's stored text, or base64 or URL
    bytes extracted here (in `tmp`). `name` names the source in errors."""
    if source.asset_id:
        return _stored_document(platform, tenant_id, source.asset_id, name)
    path = tmp / "document"
    filename: str | None = None
    if source.base64_string:
        raw_text = source.base64_string
        if raw_text.startswith("data:") and "," in raw_text[:100]:
            raw_text = raw_text.split(",", 1)[1]
        if len(raw_text) * 3 // 4 > max_bytes + 3:
            raise PayloadTooLarge(f"The decoded document exceeds the limit of {max_bytes // 1024**2} MB.")
        try:
            path.write_bytes(base64.b64decode(raw_text, validate=False))
        except (binascii.Error, ValueError) as exc:
            raise InvalidParameter(name, "base64_string is not valid base64.") from exc
    else:
        import httpx

        from framedex.ingest.fetch import FetchError, download
        from framedex.services.media import connection_failed

        url = str(source.url)
        settings = platform.settings
        filename = url.split("?", 1)[0].rsplit("/", 1)[-1] or None
        with path.open("wb") as out:
            try:
                download(url, out, max_bytes=max_bytes, timeout=settings.url_download_timeout_seconds,
                         deadline=settings.url_download_deadline_seconds,
                         min_rate=settings.url_download_min_bytes_per_second,
                         allow_private=settings.allow_private_urls)
            except FetchError as exc:
                raise InvalidParameter(name, f"The document could not be downloaded: {exc}.",
                                       code="media_unavailable") from exc
            except httpx.HTTPError as exc:
                raise connection_failed(name, "document", url, exc, code="media_unavailable") from exc
    try:
        kind = extract.detect(path, filename)
        if kind is None:
            # Bytes with no name: UTF-8 without NUL bytes is plain text; anything else is not a document.
            kind = extract.detect(path, "document.txt")
        assert kind is not None
        return extract.extract(path, kind, ocr=_ocr_reader(platform))
    except extract.DocumentRejected as exc:
        raise InvalidParameter(name, f"The document is not a readable PDF, text or Markdown file: {exc.message}",
                               code="document_file_broken") from exc


@dataclass(frozen=True)
class MultiInputDocument:
    """A `document` media source of a synchronous `multi_input` request, checked, with what the reference's
    rules for it look at: the other media sources and the request's text."""

    name: str  # the source in errors: multi_input.media_sources[i]
    source: MediaSource
    alone: bool  # no other media source and no input_text
    with_media: bool  # an image, video or audio media source comes with it

    @classmethod
    def from_body(cls, model: str, body: Mapping[str, Any], name: str, sources: list[Any],
                  input_text: Any) -> MultiInputDocument:
        """The document source `body`, one of the request's `sources` (Marengo 3.5 only)."""
        if model != "marengo3.5":
            raise InvalidParameter(name, "Document media sources require marengo3.5.")
        source = MediaSource.from_body(body, name)
        others = [s for s in sources if s is not body]
        has_text = isinstance(input_text, str) and bool(input_text.strip())
        return cls(name, source, alone=not (others or has_text),
                   with_media=any(isinstance(s, dict) and s.get("media_type") in ("image", "video", "audio")
                                  for s in others))


def multi_input_vector(platform: Platform, tenant_id: str, document: MultiInputDocument) -> tuple[FloatArray, int]:
    """(vector, words) of one document source of a `multi_input` request, with the reference's rules: a PDF
    must be the only source, with no text; a text or Markdown document is all-text content unless an image,
    video or audio source comes with it. `words` counts toward the request's usage."""
    name = document.name
    with tempfile.TemporaryDirectory(prefix="framedex-doc-") as tmp:
        opened = open_source(platform, tenant_id, document.source, name, Path(tmp), max_bytes=SYNC_MAX_BYTES)
    if opened.kind == extract.PDF and not document.alone:
        raise InvalidParameter(name, "A PDF document must be the only media source, with no input_text.")
    if opened.kind != extract.PDF and not document.alone and not document.with_media:
        raise InvalidParameter(name, "A text document with input_text or other text documents is all-text "
                                     "content; send it alone or add an image, video or audio source.")
    text = "\n\n".join(p.text for p in opened.pages)
    vector = text_vector(platform, text)
    if vector is None:
        raise InvalidParameter(name, "The document has no text to embed.", code="document_file_broken")
    return vector, len(text.split())


def guess_is_document(filename: str | None, content_type: str | None) -> bool:
    """An upload named or typed as a document (the content is checked against it when it is processed)."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    return extract.extension(filename) in extract.EXTENSIONS or mime in ("application/pdf", "text/markdown",
                                                                        "text/x-markdown")


# --- async embedding tasks (`POST /embed-v2/tasks`, input_type=document) -------------------------

MAX_SENTENCES = 1000


@dataclass(frozen=True)
class SentenceChunks:
    """Sequential segmentation of a text document: chunks of whole sentences."""

    max_sentences: int
    overlap_sentences: int = 0


@dataclass(frozen=True)
class DocumentTaskOptions:
    """A task's `document` object, checked at request time: the embedding scopes (local and/or asset, in the
    order given) and the sequential segmentation, if any. It is stored with the task (`to_json`) for the worker."""

    scopes: list[str]
    sequential: SentenceChunks | None = None

    @classmethod
    def from_body(cls, spec: Mapping[str, Any]) -> DocumentTaskOptions:
        options = spec.get("embedding_option") or ["visual", "text"]
        scopes = spec.get("embedding_scope") or ["local", "asset"]
        # every item must be a string before the set() below: a list inside the list is unhashable
        if not isinstance(options, list) or not all(isinstance(o, str) for o in options) \
                or not set(options) <= {"visual", "text"}:
            raise InvalidParameter("document.embedding_option", "Use visual and/or text.")
        if "text" not in options:
            raise InvalidParameter("document.embedding_option",
                                   "Only text embeddings of documents are available here.",
                                   code="parameter_not_supported")
        if not isinstance(scopes, list) or not scopes or not all(isinstance(o, str) for o in scopes) \
                or not set(scopes) <= {"local", "asset"}:
            raise InvalidParameter("document.embedding_scope", "Use local and/or asset.")
        segmentation = spec.get("segmentation") or {}
        if not isinstance(segmentation, dict):
            raise InvalidParameter("document.segmentation", "It must be an object.")
        spatial = segmentation.get("spatial") or {}
        if isinstance(spatial, dict) and spatial.get("strategy") not in (None, "standard"):
            raise InvalidParameter("document.segmentation.spatial.strategy",
                                   "Only the standard strategy (one embedding per page) is available here.",
                                   code="parameter_not_supported")
        sequential = segmentation.get("sequential")
        chunks: SentenceChunks | None = None
        if sequential is not None:
            if not isinstance(sequential, dict) or sequential.get("strategy") != "sentence":
                raise InvalidParameter("document.segmentation.sequential.strategy", "Use sentence.")
            if "local" not in scopes:
                raise InvalidParameter("document.embedding_scope",
                                       "Sequential segmentation requires the local scope.")
            most, overlap = sequential.get("max_sentences"), sequential.get("overlap_sentences", 0)
            if isinstance(most, bool) or not isinstance(most, int) or not 1 <= most <= MAX_SENTENCES:
                raise InvalidParameter("document.segmentation.sequential.max_sentences",
                                       f"It must be an integer from 1 to {MAX_SENTENCES}.")
            if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < most:
                raise InvalidParameter("document.segmentation.sequential.overlap_sentences",
                                       "It must be an integer from 0 to max_sentences - 1.")
            chunks = SentenceChunks(most, overlap)
        return cls(list(dict.fromkeys(scopes)), chunks)

    def to_json(self) -> dict[str, Any]:
        sequential = self.sequential
        return {"scopes": self.scopes, "sequential": None if sequential is None else
                {"max_sentences": sequential.max_sentences, "overlap_sentences": sequential.overlap_sentences}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DocumentTaskOptions:
        sequential = data.get("sequential")
        return cls(list(data["scopes"]), None if not sequential else SentenceChunks(
            sequential.get("max_sentences", CHUNK_SENTENCES), sequential.get("overlap_sentences", 0)))


@dataclass(frozen=True)
class DocumentPiece:
    """One text embedding of a document task: of a PDF page (`page`), of a chunk of whole sentences of a text
    file (`chunk`), or of the whole file (`asset`)."""

    vector: FloatArray
    scope: str  # page | chunk | asset
    number: int | None = None  # the page's number (from 1) or the chunk's index (from 0)


def run_task(platform: Platform, tenant_id: str, options: DocumentTaskOptions, *, asset_id: str | None,
             path: Path, filename: str | None) -> list[DocumentPiece]:
    """The embeddings of a document task: the stored text of the ready document asset `asset_id`, else the
    document file at `path` (named `filename`): one per page or chunk (local scope), then the whole file's
    (asset scope), as `options` ask."""
    if asset_id:
        document = _stored_document(platform, tenant_id, asset_id, "document.media_source")
    else:
        try:  # junk bytes under a document's name are the upload's fault, told as such (not a failed job)
            kind = extract.detect(path, filename) or extract.detect(path, "document.txt")
            if kind is None:
                raise InvalidParameter("document", "The file is not a PDF, text or Markdown file.")
            document = extract.extract(path, kind, ocr=_ocr_reader(platform))
        except extract.DocumentRejected as exc:
            raise InvalidParameter("document", exc.message, code="document_file_broken") from exc
    sequential = options.sequential
    spans: list[tuple[str, int]] = []  # (scope, number) of each text
    texts: list[str] = []
    if document.kind == extract.PDF:
        if sequential:
            raise InvalidParameter("document.segmentation.sequential",
                                   "A PDF is divided by page; sequential segmentation applies to text files.")
        for page in document.pages:
            if page.text.strip():
                texts.append(page.text)
                spans.append(("page", page.number))
    else:
        most = sequential.max_sentences if sequential else CHUNK_SENTENCES
        overlap = sequential.overlap_sentences if sequential else 0
        text = "\n\n".join(p.text for p in document.pages)
        for i, chunk in enumerate(extract.sentence_chunks(text, most, overlap)[:MAX_CHUNKS]):
            texts.append(chunk)
            spans.append(("chunk", i))
    if not texts:
        raise InvalidParameter("document", "The document has no text to embed.", code="document_file_broken")
    vectors = np.concatenate([embed_texts(platform, texts[i : i + 64]) for i in range(0, len(texts), 64)])
    pieces: list[DocumentPiece] = []
    if "local" in options.scopes:
        pieces = [DocumentPiece(v, scope, number) for v, (scope, number) in zip(vectors, spans, strict=True)]
    if "asset" in options.scopes:
        pieces.append(DocumentPiece(mean_unit(vectors), "asset"))
    return pieces
