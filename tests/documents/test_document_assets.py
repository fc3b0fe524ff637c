"""Document assets (PDF, text, Markdown) against a live server: SDK uploads, extracted text, OCR of a
scanned page, technical metadata, listing by type, clear failures, and document inputs to /embed-v2."""

from __future__ import annotations

import base64
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from twelvelabs import TwelveLabs

from tests.conftest import SHARED_MEDIA, serve_directory
from tests.documents.pdfgen import text_pdf

SCAN = SHARED_MEDIA / "real2" / "slides" / "doc_scan_huckleberry_finn_ch3_page.jpg"
WAIT_SECONDS = 180


def wait_asset(tl: TwelveLabs, asset_id: str) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        asset = tl.assets.retrieve(asset_id)
        if asset.status in ("ready", "failed"):
            return asset
        time.sleep(0.3)
    raise TimeoutError(f"asset {asset_id} is still processing")


@pytest.fixture(scope="module")
def docs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("docs")
    (root / "notes.md").write_text(
        "# Field Notes\n\nHumpback whales migrate across the Pacific Ocean every winter. "
        "They sing long songs.\n\nGlaciers carve deep valleys over thousands of years.\n", encoding="utf-8")
    (root / "report.pdf").write_bytes(text_pdf(
        [["Volcanoes erupt molten lava and ash.", "Magma rises through the crust."],
         ["Page two talks about glaciers and ice sheets."]],
        title="Earth Forces", author="Ada Lovelace"))
    # An image-only PDF: the scanned book page with no text layer.
    buf = io.BytesIO()
    Image.open(SCAN).convert("RGB").save(buf, format="PDF", resolution=100)
    (root / "scan.pdf").write_bytes(buf.getvalue())
    (root / "noise.bin").write_bytes(os.urandom(50_000))
    (root / "fake.pdf").write_bytes(os.urandom(20_000))
    return root


@pytest.fixture(scope="module")
def served(docs_dir: Path) -> Iterator[str]:
    with serve_directory(docs_dir) as url:
        yield url


@pytest.fixture(scope="module")
def pdf_asset(tl: TwelveLabs, docs_dir: Path) -> Any:
    with open(docs_dir / "report.pdf", "rb") as fh:
        created: Any = tl.assets.create(method="direct", file=fh, filename="report.pdf")
    return wait_asset(tl, created.id)


def test_pdf_direct_upload_is_ready_with_pages_and_metadata(tl: TwelveLabs, http: httpx.Client,
                                                            pdf_asset: Any) -> None:
    assert pdf_asset.status == "ready", pdf_asset
    assert pdf_asset.file_type == "document"
    tech = pdf_asset.technical_metadata
    assert tech.document_page_count == 2
    assert tech.document_title == "Earth Forces" and tech.document_author == "Ada Lovelace"
    assert tech.document_pdf_version == "1.4" and tech.document_page_width_pt == 612.0
    assert tech.file_mime_type == "application/pdf"
    body = http.get(f"/assets/{pdf_asset.id}/text").json()
    assert body["kind"] == "pdf" and body["page_count"] == 2
    assert "molten lava" in body["pages"][0]["text"] and body["pages"][0]["source"] == "text"
    assert "glaciers" in body["pages"][1]["text"] and "lava" not in body["pages"][1]["text"]


def test_markdown_by_url_is_ready(tl: TwelveLabs, http: httpx.Client, served: str) -> None:
    created: Any = tl.assets.create(method="url", url=f"{served}/notes.md")
    asset = wait_asset(tl, created.id)
    assert asset.status == "ready" and asset.file_type == "document", asset
    assert asset.technical_metadata.document_title == "Field Notes"
    body = http.get(f"/assets/{asset.id}/text").json()
    assert body["kind"] == "markdown"
    assert "Humpback whales migrate" in body["pages"][0]["text"]


def test_scanned_pdf_page_is_read_by_ocr(tl: TwelveLabs, http: httpx.Client, docs_dir: Path) -> None:
    with open(docs_dir / "scan.pdf", "rb") as fh:
        created: Any = tl.assets.create(method="direct", file=fh, filename="scan.pdf")
    asset = wait_asset(tl, created.id)
    assert asset.status == "ready", asset
    assert asset.technical_metadata.document_page_count == 1
    page = http.get(f"/assets/{asset.id}/text").json()["pages"][0]
    assert page["source"] == "ocr"
    text = page["text"].lower()
    assert "chapter" in text and "watson" in text, text


@pytest.mark.parametrize(("name", "reason"), [("noise.bin", "not a supported format"),
                                              ("fake.pdf", "not a PDF")])
def test_unsupported_file_fails_with_clear_reason(tl: TwelveLabs, docs_dir: Path, name: str, reason: str) -> None:
    with open(docs_dir / name, "rb") as fh:
        created: Any = tl.assets.create(method="direct", file=fh, filename=name)
    asset = wait_asset(tl, created.id)
    assert asset.status == "failed"
    assert reason in asset.error.message, asset.error.message


def test_list_by_asset_type_document(tl: TwelveLabs, pdf_asset: Any, media: Any) -> None:
    with open(media.silent_video, "rb") as fh:
        video: Any = tl.assets.create(method="direct", file=fh, filename="clip.mp4")
    assert wait_asset(tl, video.id).status == "ready"
    docs = {a.id: a for a in tl.assets.list(asset_types=["document"])}
    assert pdf_asset.id in docs and video.id not in docs
    assert all(a.file_type == "document" for a in docs.values())
    videos = {a.id for a in tl.assets.list(asset_types=["video"])}
    assert video.id in videos and pdf_asset.id not in videos


def _embed(http: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return http.post("/embed-v2", json={"model_name": "marengo3.5", **body})


def _vector(response: httpx.Response) -> np.ndarray:
    assert response.status_code == 200, response.text
    return np.asarray(response.json()["data"][0]["embedding"], dtype=np.float32)


def test_embed_v2_document_source(http: httpx.Client, pdf_asset: Any) -> None:
    doc = _vector(_embed(http, {"input_type": "multi_input", "multi_input": {
        "media_sources": [{"media_type": "document", "asset_id": pdf_asset.id}]}}))
    assert doc.shape == (512,)
    near = _vector(_embed(http, {"input_type": "multi_input",
                                 "multi_input": {"input_text": "volcano eruption lava magma"}}))
    far = _vector(_embed(http, {"input_type": "multi_input",
                                "multi_input": {"input_text": "stock market interest rates banking"}}))
    assert float(doc @ near) > float(doc @ far) + 0.05
    # A PDF must be the only source, with no text (reference: MultiInputRequest).
    mixed = _embed(http, {"input_type": "multi_input", "multi_input": {
        "input_text": "volcano", "media_sources": [{"media_type": "document", "asset_id": pdf_asset.id}]}})
    assert mixed.status_code == 400 and mixed.json()["code"] == "parameter_invalid", mixed.text
    # Base64 bytes are extracted on the fly.

    b64 = base64.b64encode(text_pdf([["Volcanoes erupt molten lava."]])).decode()
    inline = _vector(_embed(http, {"input_type": "multi_input", "multi_input": {
        "media_sources": [{"media_type": "document", "base64_string": b64}]}}))
    assert float(inline @ near) > float(inline @ far)


def test_embed_v2_text_document_rules(http: httpx.Client, served: str) -> None:
    source = {"media_type": "document", "url": f"{served}/notes.md"}
    alone = _vector(_embed(http, {"input_type": "multi_input", "multi_input": {"media_sources": [source]}}))
    whales = _vector(_embed(http, {"input_type": "multi_input", "multi_input": {"input_text": "whales singing"}}))
    cars = _vector(_embed(http, {"input_type": "multi_input", "multi_input": {"input_text": "car engine repair"}}))
    assert float(alone @ whales) > float(alone @ cars)
    # With input_text it is all-text content (reference: MultiInputRequest): 400.
    with_text = _embed(http, {"input_type": "multi_input",
                              "multi_input": {"input_text": "whales", "media_sources": [source]}})
    assert with_text.status_code == 400 and "all-text" in with_text.json()["message"], with_text.text
    # Marengo 3.0 takes images only as media sources.
    old = http.post("/embed-v2", json={"model_name": "marengo3.0", "input_type": "multi_input",
                                       "multi_input": {"media_sources": [source]}})
    assert old.status_code == 400, old.text


def _task(http: httpx.Client, document: dict[str, Any]) -> dict[str, Any]:
    created = http.post("/embed-v2/tasks", json={"model_name": "marengo3.5", "input_type": "document",
                                                 "document": document})
    assert created.status_code == 202, created.text
    task_id = created.json()["_id"]
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        body: dict[str, Any] = http.get(f"/embed-v2/tasks/{task_id}").json()
        if body["status"] in ("ready", "failed"):
            return body
        time.sleep(0.3)
    raise TimeoutError(task_id)


def test_embed_task_pages_of_a_pdf(http: httpx.Client, pdf_asset: Any) -> None:
    body = _task(http, {"media_source": {"asset_id": pdf_asset.id}})
    assert body["status"] == "ready", body
    pages = [d for d in body["data"] if d["embedding_scope"] == "page"]
    assert [(d["start_page_number"], d["end_page_number"]) for d in pages] == [(1, 1), (2, 2)]
    assert [d["embedding_scope"] for d in body["data"]].count("asset") == 1
    lava = _vector(_embed(http, {"input_type": "multi_input", "multi_input": {"input_text": "lava and magma"}}))
    first, second = (np.asarray(d["embedding"], dtype=np.float32) for d in pages)
    assert float(first @ lava) > float(second @ lava)


def test_embed_task_sentence_chunks_of_markdown(http: httpx.Client, served: str) -> None:
    body = _task(http, {"media_source": {"url": f"{served}/notes.md"}, "embedding_option": ["text"],
                        "embedding_scope": ["local"],
                        "segmentation": {"sequential": {"strategy": "sentence", "max_sentences": 2,
                                                        "overlap_sentences": 1}}})
    assert body["status"] == "ready", body
    chunks = sorted(body["data"], key=lambda d: d["chunk_index"])
    # Field Notes | whales migrate. | They sing. | Glaciers carve: 4 sentences, 2 per chunk, overlap 1.
    assert [d["chunk_index"] for d in chunks] == [0, 1, 2]
    assert all(d["embedding_scope"] == "chunk" and d["embedding_option"] == "text" for d in chunks)
    bad = http.post("/embed-v2/tasks", json={"model_name": "marengo3.5", "input_type": "document", "document": {
        "media_source": {"url": f"{served}/notes.md"},
        "segmentation": {"sequential": {"strategy": "sentence", "max_sentences": 2, "overlap_sentences": 2}}}})
    assert bad.status_code == 400 and bad.json()["code"] == "parameter_invalid", bad.text


def test_embed_task_of_junk_bytes_fails_saying_why(http: httpx.Client) -> None:
    junk = base64.b64encode(b"\x00\x01\x02junk\xff" * 200).decode()
    body = _task(http, {"media_source": {"base64_string": junk}})
    assert body["status"] == "failed", body
    reason = str(body.get("error") or body)
    assert "UTF-8" in reason or "PDF" in reason, body  # the cause, not "internal error (job …)"
    assert "internal error" not in reason, body


@pytest.mark.parametrize("options", [{"embedding_option": [["text"]]}, {"embedding_scope": [{"local": 1}]},
                                     {"embedding_option": ["text", 3]}])
def test_embed_task_options_that_are_not_strings_are_a_400(http: httpx.Client, served: str,
                                                           options: dict[str, Any]) -> None:
    created = http.post("/embed-v2/tasks", json={"model_name": "marengo3.5", "input_type": "document", "document": {
        "media_source": {"url": f"{served}/notes.md"}, **options}})
    assert created.status_code == 400, created.text
    assert created.json()["code"] == "parameter_invalid" and "document.embedding_" in created.json()["message"]
