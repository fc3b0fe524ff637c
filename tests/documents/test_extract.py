"""Detection and extraction of documents on real files (no server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from framedex.ingest import documents as d
from tests.documents.pdfgen import text_pdf


def test_detect_by_content_and_case_insensitive_extension(tmp_path: Path) -> None:
    pdf = tmp_path / "x"
    pdf.write_bytes(text_pdf([["Hello there."]]))
    assert d.detect(pdf, "REPORT.PDF") == d.PDF and d.detect(pdf, None) == d.PDF
    with pytest.raises(d.DocumentRejected, match="does not match"):
        d.detect(pdf, "notes.txt")
    md = tmp_path / "m"
    md.write_text("# Title\n\nCafé au lait. Naïve résumé.", encoding="utf-8")
    assert d.detect(md, "NOTES.MD") == d.MARKDOWN
    assert d.detect(md, "clip.mp4") is None  # not claimed as a document: the media probe decides
    binary = tmp_path / "b"
    binary.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(d.DocumentRejected, match="not UTF-8"):
        d.detect(binary, "a.md")


def test_page_limit_and_dates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pdf = tmp_path / "p.pdf"
    pdf.write_bytes(text_pdf([["one"], ["two"], ["three"]]))
    monkeypatch.setattr(d, "MAX_PAGES", 2)
    with pytest.raises(d.DocumentRejected, match=r"Document \(3 pages\) exceeds maximum limit of 2 pages"):
        d.extract(pdf, d.PDF)
    assert d.parse_pdf_date("D:20240315120000+02'00'") == "2024-03-15T10:00:00Z"
    assert d.parse_pdf_date("garbage") is None


def test_sentence_chunks_overlap() -> None:
    assert d.sentence_chunks("A b. C d! E f? G h.", 2, 1) == ["A b. C d!", "C d! E f?", "E f? G h."]
    with pytest.raises(ValueError):
        d.sentence_chunks("A.", 2, 2)
