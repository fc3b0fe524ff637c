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
from pathlib import Path
from typing import Any

import numpy as np

from framedex.domain_errors import InvalidParameter, NotFound, PayloadTooLarge
from framedex.ids import utcnow
from framedex.ingest import documents as extract
from framedex.ingest.keys import document_key
from framedex.models.base import FloatArray, ImageArray
from framedex.services.platform import Platform
from framedex.storage.tables import AssetRow

FILE_TYPE = "document"
# technical_metadata fields of the reference's TechnicalMetadata that documents fill in.
WIRE_FIELDS = ("document_page_count", "document_pdf_version", "document_page_width_pt", "document_page_height_pt",
               "document_is_tagged", "document_is_encrypted", "document_language", "document_title",
               "document_author", "document_subject", "document_keywords", "document_creator_tool",
               "document_producer", "document_creation_date", "document_modification_date")
SYNC_MAX_BYTES = 32 * 1024**2  # a media source of a synchronous /embed-v2 request (reference A.10)
# The text embedder reads about 256 word pieces; longer text is embedded in sentence chunks and averaged.
CHUNK_SENTENCES = 5
MAX_CHUNKS = 2000


def document_blob_key(asset_id: str) -> str:
    return document_key(asset_id)


def technical_fields(system_metadata: dict[str, Any] | None) -> dict[str, Any]:
    meta = system_metadata or {}
    return {k: meta[k] for k in WIRE_FIELDS if meta.get(k) is not None}


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


def load_document(platform: Platform, tenant_id: str, asset_id: str) -> dict[str, Any]:
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
    return data


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


def open_source(platform: Platform, tenant_id: str, source: dict[str, Any], name: str,
                tmp: Path, *, max_bytes: int) -> tuple[str, dict[str, Any]]:
    """(kind, extraction dict) of a document media source: a ready document asset's stored text, or
    base64 or URL bytes extracted here."""
    if source.get("asset_id"):
        try:
            data = load_document(platform, tenant_id, str(source["asset_id"]))
        except NotFound as exc:
            raise InvalidParameter(f"{name}.asset_id", "The document asset is not ready.",
                                   code="asset_unavailable") from exc
        return str(data["kind"]), data
    path = tmp / "document"
    filename: str | None = None
    if source.get("base64_string"):
        raw_text = str(source["base64_string"])
        if raw_text.startswith("data:") and "," in raw_text[:100]:
            raw_text = raw_text.split(",", 1)[1]
        if len(raw_text) * 3 // 4 > max_bytes + 3:
            raise PayloadTooLarge(f"The decoded document exceeds the limit of {max_bytes // 1024**2} MB.")
        try:
            path.write_bytes(base64.b64decode(raw_text, validate=False))
        except (binascii.Error, ValueError) as exc:
            raise InvalidParameter(name, "base64_string is not valid base64.") from exc
    elif source.get("url"):
        import httpx

        from framedex.ingest.fetch import FetchError, download
        from framedex.services.media import connection_failed

        url = str(source["url"])
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
    else:
        raise InvalidParameter(name, "Provide exactly one of base64_string, url or asset_id.")
    try:
        kind = extract.detect(path, filename)
        if kind is None:
            # Bytes with no name: UTF-8 without NUL bytes is plain text; anything else is not a document.
            kind = extract.detect(path, "document.txt")
        assert kind is not None
        document = extract.extract(path, kind, ocr=_ocr_reader(platform))
    except extract.DocumentRejected as exc:
        raise InvalidParameter(name, f"The document is not a readable PDF, text or Markdown file: {exc.message}",
                               code="document_file_broken") from exc
    return kind, document.as_dict()


def multi_input_vector(platform: Platform, tenant_id: str, model: str, source: dict[str, Any], name: str,
                       sources: list[Any], input_text: Any, usage_tokens: dict[str, int]) -> FloatArray:
    """One `document` media source of a synchronous `multi_input` request, with the reference's rules:
    Marengo 3.5 only; a PDF must be the only source, with no text; a text or Markdown document is
    all-text content unless an image, video or audio source comes with it."""
    if model != "marengo3.5":
        raise InvalidParameter(name, "Document media sources require marengo3.5.")
    others = [s for s in sources if s is not source]
    has_text = isinstance(input_text, str) and bool(input_text.strip())
    with tempfile.TemporaryDirectory(prefix="framedex-doc-") as tmp:
        src = {k: source.get(k) for k in ("base64_string", "url", "asset_id") if source.get(k)}
        if len(src) != 1:
            raise InvalidParameter(name, "Provide exactly one of base64_string, url or asset_id.")
        kind, data = open_source(platform, tenant_id, src, name, Path(tmp), max_bytes=SYNC_MAX_BYTES)
    if kind == extract.PDF and (others or has_text):
        raise InvalidParameter(name, "A PDF document must be the only media source, with no input_text.")
    if kind != extract.PDF and (others or has_text):
        media = [s for s in others if isinstance(s, dict) and s.get("media_type") in ("image", "video", "audio")]
        if not media:
            raise InvalidParameter(name, "A text document with input_text or other text documents is all-text "
                                         "content; send it alone or add an image, video or audio source.")
    text = "\n\n".join(str(p.get("text") or "") for p in data.get("pages") or [])
    vector = text_vector(platform, text)
    if vector is None:
        raise InvalidParameter(name, "The document has no text to embed.", code="document_file_broken")
    usage_tokens["document"] = usage_tokens.get("document", 0) + len(text.split())
    return vector


def guess_is_document(filename: str | None, content_type: str | None) -> bool:
    """An upload named or typed as a document (the content is checked against it when it is processed)."""
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    return extract.extension(filename) in extract.EXTENSIONS or mime in ("application/pdf", "text/markdown",
                                                                        "text/x-markdown")


# --- async embedding tasks (`POST /embed-v2/tasks`, input_type=document) -------------------------

MAX_TASK_BYTES = 512 * 1024**2  # documents by URL (reference A.11)
MAX_SENTENCES = 1000


def task_options(spec: dict[str, Any]) -> dict[str, Any]:
    """Validate a task's `document` object at request time; what the worker needs, as JSON."""
    options = spec.get("embedding_option") or ["visual", "text"]
    scopes = spec.get("embedding_scope") or ["local", "asset"]
    if not isinstance(options, list) or not set(options) <= {"visual", "text"}:
        raise InvalidParameter("document.embedding_option", "Use visual and/or text.")
    if "text" not in options:
        raise InvalidParameter("document.embedding_option", "Only text embeddings of documents are available here.",
                               code="parameter_not_supported")
    if not isinstance(scopes, list) or not scopes or not set(scopes) <= {"local", "asset"}:
        raise InvalidParameter("document.embedding_scope", "Use local and/or asset.")
    segmentation = spec.get("segmentation") or {}
    if not isinstance(segmentation, dict):
        raise InvalidParameter("document.segmentation", "It must be an object.")
    spatial = segmentation.get("spatial") or {}
    if isinstance(spatial, dict) and spatial.get("strategy") not in (None, "standard"):
        raise InvalidParameter("document.segmentation.spatial.strategy",
                               "Only the standard strategy (one embedding per page) is available here.",
                               code="parameter_not_supported")
    out: dict[str, Any] = {"scopes": list(dict.fromkeys(scopes)), "sequential": None}
    sequential = segmentation.get("sequential")
    if sequential is not None:
        if not isinstance(sequential, dict) or sequential.get("strategy") != "sentence":
            raise InvalidParameter("document.segmentation.sequential.strategy", "Use sentence.")
        if "local" not in scopes:
            raise InvalidParameter("document.embedding_scope", "Sequential segmentation requires the local scope.")
        most, overlap = sequential.get("max_sentences"), sequential.get("overlap_sentences", 0)
        if isinstance(most, bool) or not isinstance(most, int) or not 1 <= most <= MAX_SENTENCES:
            raise InvalidParameter("document.segmentation.sequential.max_sentences",
                                   f"It must be an integer from 1 to {MAX_SENTENCES}.")
        if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < most:
            raise InvalidParameter("document.segmentation.sequential.overlap_sentences",
                                   "It must be an integer from 0 to max_sentences - 1.")
        out["sequential"] = {"max_sentences": most, "overlap_sentences": overlap}
    return out


def _wire(vec: FloatArray, dim: int) -> list[float]:
    """Zero-padded to 512 (or cut to an explicit 256) and L2-normalised, as the embeddings API sends vectors."""
    v = np.asarray(vec, dtype=np.float32).reshape(-1)
    if v.size < dim:
        v = np.concatenate([v, np.zeros(dim - v.size, dtype=np.float32)])
    elif dim < 512:
        v = v[:dim]
    v = v / max(float(np.linalg.norm(v)), 1e-8)
    return [round(float(x), 7) for x in v]


def run_task(platform: Platform, tenant_id: str, source: dict[str, Any], path: Path | None,
             options: dict[str, Any], dim: int, input_url: str | None, input_filename: str | None
             ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(result, metadata) of a document embedding task: one text embedding per PDF page (`page`) or per
    chunk of whole sentences of a text file (`chunk`), and the whole file (`asset`)."""
    with tempfile.TemporaryDirectory(prefix="framedex-doc-") as tmp:
        if path is not None and not source.get("asset_id"):
            kind = extract.detect(path, input_filename) or extract.detect(path, "document.txt")
            if kind is None:
                raise InvalidParameter("document", "The file is not a PDF, text or Markdown file.")
            try:
                data = extract.extract(path, kind, ocr=_ocr_reader(platform)).as_dict()
            except extract.DocumentRejected as exc:
                raise InvalidParameter("document", exc.message, code="document_file_broken") from exc
        else:
            kind, data = open_source(platform, tenant_id, source, "document.media_source", Path(tmp),
                                     max_bytes=MAX_TASK_BYTES)
    pages = [(int(p["number"]), str(p.get("text") or "")) for p in data.get("pages") or []]
    sequential = options.get("sequential")
    entries: list[dict[str, Any]] = []
    texts: list[str] = []
    if kind == extract.PDF:
        if sequential:
            raise InvalidParameter("document.segmentation.sequential",
                                   "A PDF is divided by page; sequential segmentation applies to text files.")
        for number, text in pages:
            if text.strip():
                texts.append(text)
                entries.append({"embedding_scope": "page", "start_page_number": number,
                                "end_page_number": number})
    else:
        most = (sequential or {}).get("max_sentences", CHUNK_SENTENCES)
        overlap = (sequential or {}).get("overlap_sentences", 0)
        chunks = extract.sentence_chunks("\n\n".join(t for _, t in pages), most, overlap)[:MAX_CHUNKS]
        for i, chunk in enumerate(chunks):
            texts.append(chunk)
            entries.append({"embedding_scope": "chunk", "chunk_index": i})
    if not texts:
        raise InvalidParameter("document", "The document has no text to embed.", code="document_file_broken")
    vectors = np.concatenate([embed_texts(platform, texts[i : i + 64]) for i in range(0, len(texts), 64)])
    data_out: list[dict[str, Any]] = []
    if "local" in options["scopes"]:
        data_out = [{"embedding": _wire(v, dim), "embedding_option": "text", **e}
                    for v, e in zip(vectors, entries, strict=True)]
    if "asset" in options["scopes"]:
        data_out.append({"embedding": _wire(mean_unit(vectors), dim), "embedding_option": "text",
                         "embedding_scope": "asset"})
    meta = {"input_type": "document", "input_url": input_url, "input_filename": input_filename,
            "embedding_options": ["text"], "embedding_scopes": options["scopes"], "embedding_dimension": dim}
    return {"data": data_out}, meta
