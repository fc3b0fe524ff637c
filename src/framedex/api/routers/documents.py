"""`GET /assets/{asset_id}/text`: the text framedex extracted from a document asset (a framedex extension;
the reference has no endpoint that returns a document's text)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from framedex.api.deps import PlatformDep, TenantDep
from framedex.services import documents

router = APIRouter(tags=["assets"])


class DocumentPage(BaseModel):
    page_number: int
    text: str
    # "text": the PDF's text layer or the text file; "ocr": read from the rendered page; "none": no text
    source: str


class DocumentText(BaseModel):
    asset_id: str
    kind: str  # pdf | text | markdown
    page_count: int
    pages: list[DocumentPage]


@router.get("/assets/{asset_id}/text", response_model=DocumentText)
def retrieve_document_text(asset_id: str, platform: PlatformDep, tenant: TenantDep) -> DocumentText:
    document = documents.load_document(platform, tenant, asset_id)
    pages = [DocumentPage(page_number=p.number, text=p.text, source=p.source) for p in document.pages]
    return DocumentText(asset_id=asset_id, kind=document.kind, page_count=len(pages), pages=pages)
