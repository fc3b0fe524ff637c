"""Documents (PDF, plain text, Markdown): detection and bounded text extraction.

PDFs go through PDFium (pypdfium2): it is maintained (Chromium's PDF engine), BSD/Apache licensed, ships
manylinux wheels with no system dependency, and both reads the text layer and renders pages, which a
scanned page needs for OCR. Pure-Python readers (pypdf) cannot render.

Every input is bounded: the file's bytes, the page count, the characters kept per page and per document,
the pixels of a rendered page, the number of pages sent to OCR and the wall time of the whole extraction.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from framedex.models.base import ImageArray

PDF = "pdf"
TEXT = "text"
MARKDOWN = "markdown"
EXTENSIONS = {".pdf": PDF, ".txt": TEXT, ".text": TEXT, ".md": MARKDOWN, ".markdown": MARKDOWN}
MIME_TYPES = {PDF: "application/pdf", TEXT: "text/plain", MARKDOWN: "text/markdown"}
# Extensions of the media kinds the probe handles; anything else that is not a document is refused.
MAX_PAGES = 2000
MAX_TEXT_FILE_BYTES = 64 * 1024**2
MAX_PAGE_CHARS = 200_000
MAX_DOCUMENT_CHARS = 20_000_000
MAX_OCR_PAGES = 200
# A page whose text layer has fewer characters than this is treated as scanned and read by OCR.
MIN_TEXT_LAYER_CHARS = 16
# Rendered pages for OCR: about 200 dpi on A4, never more than this many pixels on the long side.
OCR_MAX_SIDE = 2200
EXTRACTION_SECONDS = 600.0

# PDFium is not thread-safe; every call into it holds this lock.
_PDFIUM_LOCK = threading.Lock()


class DocumentRejected(Exception):
    """The file is a document the server refuses (mismatched extension, unreadable, over a limit)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class Page:
    number: int  # from 1
    text: str
    source: str  # "text" (text layer or file), "ocr", or "none" (no text found or OCR skipped)


@dataclass
class Document:
    kind: str
    pages: list[Page]
    metadata: dict[str, Any] = field(default_factory=dict)  # technical_metadata `document_*` fields

    @property
    def text(self) -> str:
        return "\n\n".join(p.text for p in self.pages if p.text)

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "metadata": self.metadata,
                "pages": [{"number": p.number, "text": p.text, "source": p.source} for p in self.pages]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Document:
        """The document `as_dict` stored."""
        return cls(kind=str(data["kind"]), metadata=dict(data.get("metadata") or {}),
                   pages=[Page(int(p["number"]), str(p.get("text") or ""), str(p.get("source") or "none"))
                          for p in data.get("pages") or []])


def extension(filename: str | None) -> str:
    name = (filename or "").rsplit("/", 1)[-1]
    return ("." + name.rsplit(".", 1)[1].lower()) if "." in name else ""


def is_pdf_head(head: bytes) -> bool:
    # The PDF header may follow a little junk; readers look in the first kilobyte.
    return b"%PDF-" in head[:1024]


def detect(path: Path, filename: str | None) -> str | None:
    """The document kind of the file, None when it is not a document (video, audio, image, or junk).

    Raises DocumentRejected when the extension claims a document the content is not, or the content is
    a PDF under another document's extension (the reference: documents whose extensions don't match
    the detected content are rejected)."""
    ext = extension(filename)
    claimed = EXTENSIONS.get(ext)
    with path.open("rb") as fh:
        head = fh.read(4096)
    if is_pdf_head(head):
        if claimed not in (None, PDF):
            raise DocumentRejected(f"The file's extension {ext} does not match its content, which is a PDF.")
        return PDF
    if claimed == PDF:
        raise DocumentRejected("The file has the extension .pdf but its content is not a PDF.")
    if claimed in (TEXT, MARKDOWN):
        if b"\0" in head or not _utf8_prefix(head):
            raise DocumentRejected(f"The file has the extension {ext} but its content is not UTF-8 text.")
        return claimed
    return None


def _utf8_prefix(head: bytes) -> bool:
    """The bytes decode as UTF-8, allowing a multi-byte character cut at the end of the sample."""
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"


def extract(path: Path, kind: str, *, ocr: Callable[[ImageArray], str] | None = None,
            deadline_seconds: float = EXTRACTION_SECONDS) -> Document:
    if kind == PDF:
        return extract_pdf(path, ocr=ocr, deadline_seconds=deadline_seconds)
    return extract_text_file(path, kind)


def extract_text_file(path: Path, kind: str) -> Document:
    size = path.stat().st_size
    if size > MAX_TEXT_FILE_BYTES:
        raise DocumentRejected(f"File size ({size / 1024**2:.1f} MB) exceeds maximum limit of "
                               f"{MAX_TEXT_FILE_BYTES // 1024**2} MB for text documents.")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentRejected(f"The file is not UTF-8 text (invalid byte at offset {exc.start}).") from exc
    if "\0" in text:
        raise DocumentRejected("The file is not plain text (it contains NUL bytes).")
    text = text.replace("\r\n", "\n")[:MAX_DOCUMENT_CHARS]
    meta: dict[str, Any] = {}
    if kind == MARKDOWN:
        heading = re.search(r"^#\s+(.+?)\s*#*\s*$", text, flags=re.MULTILINE)
        if heading:
            meta["document_title"] = heading.group(1)[:500]
    return Document(kind=kind, pages=[Page(1, text, "text" if text.strip() else "none")], metadata=meta)


_PDF_DATE = re.compile(r"^(?:D:)?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?([Zz+\-])?(\d{2})?'?(\d{2})?'?")


def parse_pdf_date(raw: str) -> str | None:
    """A PDF date (`D:YYYYMMDDHHmmSSOHH'mm'`) as RFC 3339 UTC, None when it does not parse."""
    m = _PDF_DATE.match(raw.strip())
    if not m:
        return None
    year, month, day, hour, minute, second, sign, oh, om = m.groups()
    try:
        when = dt.datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                           int(second or 0), tzinfo=dt.UTC)
    except ValueError:
        return None
    if sign in ("+", "-"):
        offset = dt.timedelta(hours=int(oh or 0), minutes=int(om or 0))
        when = when - offset if sign == "+" else when + offset
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


_INFO_FIELDS = {"Title": "document_title", "Author": "document_author", "Subject": "document_subject",
                "Keywords": "document_keywords", "Creator": "document_creator_tool",
                "Producer": "document_producer"}


def extract_pdf(path: Path, *, ocr: Callable[[ImageArray], str] | None = None,
                deadline_seconds: float = EXTRACTION_SECONDS) -> Document:
    import pypdfium2 as pdfium

    started = time.monotonic()
    with _PDFIUM_LOCK:
        try:
            pdf = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError as exc:
            reason = str(exc)
            if "password" in reason.lower():
                raise DocumentRejected("The PDF is encrypted with a password and cannot be read.") from exc
            raise DocumentRejected(f"The file is not a readable PDF ({reason}).") from exc
        try:
            count = len(pdf)
            if count == 0:
                raise DocumentRejected("The PDF has no pages.")
            if count > MAX_PAGES:
                raise DocumentRejected(f"Document ({count} pages) exceeds maximum limit of {MAX_PAGES} pages")
            meta = _pdf_metadata(pdf, count)
            texts: list[str] = []
            scanned: list[int] = []
            total = 0
            for i in range(count):
                if time.monotonic() - started > deadline_seconds:
                    raise DocumentRejected(f"Text extraction took longer than {deadline_seconds:.0f} seconds.")
                page = pdf[i]
                if i == 0:
                    width, height = page.get_size()
                    meta["document_page_width_pt"] = round(float(width), 2)
                    meta["document_page_height_pt"] = round(float(height), 2)
                textpage = page.get_textpage()
                text = _clean(textpage.get_text_range())[:MAX_PAGE_CHARS]
                textpage.close()
                page.close()
                if len(text.strip()) < MIN_TEXT_LAYER_CHARS:
                    scanned.append(i)
                total += len(text)
                if total > MAX_DOCUMENT_CHARS:
                    text = text[: max(0, len(text) - (total - MAX_DOCUMENT_CHARS))]
                texts.append(text)
            pages = [Page(i + 1, t, "text" if t.strip() else "none") for i, t in enumerate(texts)]
            if ocr is not None:
                for i in scanned[:MAX_OCR_PAGES]:
                    if time.monotonic() - started > deadline_seconds:
                        raise DocumentRejected(
                            f"Text extraction took longer than {deadline_seconds:.0f} seconds.")
                    image = _render(pdf, i)
                    # OCR runs outside the PDFium lock: it is the slow part and does not touch PDFium.
                    _PDFIUM_LOCK.release()
                    try:
                        read = _clean(ocr(image))[:MAX_PAGE_CHARS]
                    finally:
                        _PDFIUM_LOCK.acquire()
                    if len(read.strip()) > len(pages[i].text.strip()):
                        pages[i] = Page(i + 1, read, "ocr")
            meta["document_ocr_pages"] = sum(1 for p in pages if p.source == "ocr")
            return Document(kind=PDF, pages=pages, metadata=meta)
        finally:
            pdf.close()


def _clean(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    return re.sub(r"[ \t]+\n", "\n", text).strip()


def _render(pdf: Any, index: int) -> ImageArray:
    page = pdf[index]
    try:
        width, height = page.get_size()
        scale = min(200 / 72, OCR_MAX_SIDE / max(float(width), float(height), 1.0))
        bitmap = page.render(scale=scale)
        image = bitmap.to_pil().convert("RGB")
        bitmap.close()
    finally:
        page.close()
    return np.asarray(image, dtype=np.uint8)


def _pdf_metadata(pdf: Any, count: int) -> dict[str, Any]:
    meta: dict[str, Any] = {"document_page_count": count, "document_is_encrypted": False}
    version = pdf.get_version()
    if isinstance(version, int) and version > 0:
        meta["document_pdf_version"] = f"{version // 10}.{version % 10}"
    info = pdf.get_metadata_dict(skip_empty=True)
    for key, name in _INFO_FIELDS.items():
        value = info.get(key)
        if isinstance(value, str) and value.strip():
            meta[name] = value.strip()[:1000]
    for key, name in (("CreationDate", "document_creation_date"), ("ModDate", "document_modification_date")):
        value = info.get(key)
        parsed = parse_pdf_date(value) if isinstance(value, str) else None
        if parsed:
            meta[name] = parsed
    return meta


# --- segmentation for embeddings -----------------------------------------------------------------

_SENTENCE_END = re.compile(r"(?<=[.!?…。])\s+|\n{2,}")


def sentences(text: str) -> list[str]:
    """Whole sentences (and paragraphs without end punctuation), whitespace collapsed, empty ones dropped."""
    out = []
    for part in _SENTENCE_END.split(text):
        s = re.sub(r"\s+", " ", part).strip()
        if s:
            out.append(s)
    return out


def sentence_chunks(text: str, max_sentences: int, overlap: int = 0) -> list[str]:
    """Chunks of up to `max_sentences` whole sentences; the last `overlap` of one chunk start the next."""
    if max_sentences < 1 or not 0 <= overlap < max_sentences:
        raise ValueError("need max_sentences >= 1 and 0 <= overlap < max_sentences")
    items = sentences(text)
    chunks: list[str] = []
    start = 0
    while start < len(items):
        chunks.append(" ".join(items[start : start + max_sentences]))
        if start + max_sentences >= len(items):
            break
        start += max_sentences - overlap
    return chunks
