"""The web playground: one HTML page at `/` and its ES modules and stylesheet under `/static/{version}/`.

No build step: the files in `api/static/` are served as they are. They are read once; `version` is a hash
of all of them, so an asset URL names its exact content and can be cached for a year (`immutable`),
while the page itself is revalidated (`no-cache` + ETag) and so picks up a new version at once. Module
imports are relative, so they stay inside the versioned folder without rewriting.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Header, Response

from framedex.domain_errors import NotFound

router = APIRouter(include_in_schema=False)

IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".html": "text/html; charset=utf-8", ".svg": "image/svg+xml", ".json": "application/json"}
# Media and thumbnails come from signed URLs, which FRAMEDEX_PUBLIC_URL may put on another origin.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data: blob: http: https:; media-src 'self' blob: http: https:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    content_type: str
    etag: str


@dataclass(frozen=True)
class Bundle:
    version: str
    files: dict[str, Asset]


def _asset(name: str, body: bytes) -> Asset:
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    content_type = _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
    compressible = content_type.startswith(("text/", "image/svg", "application/json"))
    # mtime=0: the same bytes every start, so ETags hold across restarts and replicas.
    gzipped = gzip.compress(body, 9, mtime=0) if compressible and len(body) > 512 else None
    return Asset(body, gzipped, content_type, '"' + hashlib.sha256(body).hexdigest()[:24] + '"')


@cache
def bundle() -> Bundle:
    root = resources.files("framedex.api") / "static"
    raw: dict[str, bytes] = {}

    def walk(folder: resources.abc.Traversable, prefix: str) -> None:
        for entry in folder.iterdir():
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
            elif not entry.name.startswith("."):
                raw[prefix + entry.name] = entry.read_bytes()

    walk(root, "")
    digest = hashlib.sha256()
    for name in sorted(raw):
        digest.update(name.encode() + b"\0" + raw[name] + b"\0")
    version = digest.hexdigest()[:12]
    files = {name: _asset(name, body) for name, body in raw.items() if name != "index.html"}
    page = raw["index.html"].replace(b"{{VERSION}}", version.encode())
    files["index.html"] = _asset("index.html", page)
    return Bundle(version, files)


def _send(asset: Asset, cache_control: str, if_none_match: str | None, accept_encoding: str | None,
          extra: dict[str, str] | None = None) -> Response:
    headers = {"Cache-Control": cache_control, "ETag": asset.etag, "Vary": "Accept-Encoding",
               "X-Content-Type-Options": "nosniff", **(extra or {})}
    if if_none_match and asset.etag in [t.strip().removeprefix("W/") for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    if asset.gzipped is not None and "gzip" in (accept_encoding or "").lower():
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type=asset.content_type, headers=headers)
    return Response(asset.body, media_type=asset.content_type, headers=headers)


@router.get("/")
def page(if_none_match: Annotated[str | None, Header()] = None,
         accept_encoding: Annotated[str | None, Header()] = None) -> Response:
    # no-referrer: signed media URLs must not leak to other sites through the Referer header.
    return _send(bundle().files["index.html"], REVALIDATE, if_none_match, accept_encoding,
                 {"Content-Security-Policy": _CSP, "Referrer-Policy": "no-referrer"})


@router.get("/static/{version}/{path:path}")
def static(version: str, path: str, if_none_match: Annotated[str | None, Header()] = None,
           accept_encoding: Annotated[str | None, Header()] = None) -> Response:
    current = bundle()
    asset = current.files.get(path) if path != "index.html" else None
    if asset is None:
        raise NotFound("file", path)
    # An old page asking for its version gets today's file, but must not cache it under the old name.
    return _send(asset, IMMUTABLE if version == current.version else REVALIDATE, if_none_match, accept_encoding)
