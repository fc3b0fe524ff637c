"""Media inputs shared by services: media sources (asset id | URL | base64: `check_source`, `open_media`,
one base64 decoder), the image size limit, query images by URL, and images bounded before decoding.
`MAX_IMAGE_BYTES` is the one definition of the real API's 32 MiB image limit (search queries, assets,
embeddings, uploads).

An image's header decides how many pixels decoding allocates: a 20 KB bilevel PNG can declare
13 000 x 13 000 (0.5 GB of RGB) or 20 000 x 20 000 (Pillow's own bomb check then raises an error no
caller expects, a 500). `check_image` reads only the header and refuses more than the real API's
per-image limit (16,777,216 px) with a 400 in the API's envelope, before a pixel is decoded;
`decode_image` is the bounded decoder every image input should go through.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import logging
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from framedex.domain_errors import InvalidParameter, MissingParameter, PayloadTooLarge, ServiceError
from framedex.ingest.fetch import FetchError, download, validate_url
from framedex.ingest.safe_http import Deadline
from framedex.models.base import ImageArray
from framedex.services.platform import Platform

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 32 * 1024**2
# The real API's per-image limit (width x height), see reference A (analyze images).
MAX_IMAGE_PIXELS = 16_777_216
IMAGE_TOO_LARGE_CODE = "image_resolution_too_high"


def image_too_large(parameter: str, width: int | None, height: int | None) -> InvalidParameter:
    size = f"{width}x{height} " if width and height else ""
    return InvalidParameter(
        parameter, f"The image {size}exceeds the maximum of {MAX_IMAGE_PIXELS} pixels (width x height).",
        code=IMAGE_TOO_LARGE_CODE)


def check_image(data: bytes, parameter: str = "image", *, max_pixels: int = MAX_IMAGE_PIXELS) -> None:
    """Refuse an image whose header declares more than `max_pixels`, reading the header only.

    Bytes that are not an image pass: the caller's decoder reports those in its own words."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
    except Image.DecompressionBombError as exc:  # past twice Pillow's own limit: too large by far
        raise image_too_large(parameter, None, None) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return
    if width * height > max_pixels:
        raise image_too_large(parameter, width, height)


def decode_image(data: bytes, parameter: str = "image", *, max_side: int | None = None,
                 code: str = "parameter_invalid") -> ImageArray:
    """RGB uint8 (H, W, 3) from encoded image bytes, refusing images over MAX_IMAGE_PIXELS before
    decoding them (400 `image_resolution_too_high`). JPEGs are decoded at reduced scale when
    `max_side` allows; unreadable bytes are a 400 with `code`."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    check_image(data, parameter)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                if max_side is not None:
                    opened.draft("RGB", (max_side, max_side))
                picture: Image.Image = ImageOps.exif_transpose(opened) or opened
                rgb = picture.convert("RGB")
                if max_side is not None:
                    rgb.thumbnail((max_side, max_side))
                return np.asarray(rgb, dtype=np.uint8)
    except Image.DecompressionBombError as exc:
        raise image_too_large(parameter, None, None) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise InvalidParameter(parameter, "The file could not be read as an image.", code=code) from exc


def connection_failed(parameter: str, what: str, url: str, exc: BaseException,
                      code: str = "parameter_invalid") -> InvalidParameter:
    """A URL whose server refuses, drops or never answers the connection is the caller's input: a 400 that
    says so. The socket error's own words (errno, address, port, protocol state) go to the log only."""
    log.info("%s %s could not be downloaded: %r", what, url, exc)
    return InvalidParameter(parameter, f"The {what} could not be downloaded: the connection to its server failed.",
                            code=code)


def fetch_query_images(platform: Platform, urls: list[str]) -> list[bytes]:
    # These run on a request thread: all of a request's URLs share one deadline, not one each.
    budget = platform.settings.url_download_timeout_seconds
    clock = Deadline(budget)
    images = []
    for url in urls:
        validate_url(url, allow_private=platform.settings.allow_private_urls, deadline=clock)
        buf = io.BytesIO()
        try:
            left = clock.remaining()
            if left <= 0:
                raise FetchError(f"the images did not download within {budget:g} s")
            download(url, buf, max_bytes=MAX_IMAGE_BYTES, timeout=budget, deadline=left,
                     allow_private=platform.settings.allow_private_urls)
        except FetchError as exc:
            raise InvalidParameter("query_media_url", f"The image could not be downloaded: {exc}.") from exc
        except (httpx.HTTPError, OSError) as exc:  # refused, unreachable, reset: the caller's URL, so a 400
            raise connection_failed("query_media_url", "image", url, exc) from exc
        data = buf.getvalue()
        check_image(data, "query_media_url")
        images.append(data)
    return images


class ContentTooLarge(PayloadTooLarge):
    """413 on `POST /embed-v2`; the router renders it with the nested `{"error": {...}}` envelope."""

    code = "content_too_large"


# --- media sources (asset id | URL | base64) -----------------------------------------------------


@dataclass
class Media:
    path: Path
    input_url: str | None = None
    input_filename: str | None = None


@dataclass(frozen=True)
class MediaSource:
    """One media source, checked: exactly one of a base64 string, a URL or an asset id. (An embedding task
    whose bytes are stored keeps an empty one: see `open_media`'s ``blob_key``.)"""

    base64_string: str | None = None
    url: str | None = None
    asset_id: str | None = None

    @classmethod
    def from_body(cls, body: Mapping[str, Any], parameter: str) -> MediaSource:
        """The source of a wire ``media_source`` object; ``parameter`` names it in the error."""
        given = {k: str(body[k]) for k in ("base64_string", "url", "asset_id") if body.get(k)}
        if len(given) != 1:
            raise InvalidParameter(parameter, "Provide exactly one of base64_string, url or asset_id.")
        return cls(**given)

    @classmethod
    def of_field(cls, raw: Any, name: str) -> MediaSource:
        """The source of the input object ``name``'s ``media_source`` field (``raw``, which must be an object)."""
        if not isinstance(raw, dict):
            raise MissingParameter(f"{name}.media_source")
        return cls.from_body(raw, f"{name}.media_source")


def decode_base64(data: str, name: str, max_bytes: int, *, pad: bool = False,
                  too_large: ServiceError | None = None, invalid: str = "base64_string is not valid base64.",
                  empty: str = "base64_string is empty.") -> bytes:
    """The bytes of a ``base64_string`` media source (a ``data:...;base64,`` prefix is dropped), refused before
    decoding when they would exceed ``max_bytes``. The error wording is the calling endpoint's (the real API
    words them differently): ``too_large`` (default `ContentTooLarge`), ``invalid``, ``empty``; ``pad`` accepts
    unpadded input."""
    if "," in data[:100] and data.startswith("data:"):
        data = data.split(",", 1)[1]
    if len(data) * 3 // 4 > max_bytes + 3:
        raise too_large or ContentTooLarge(f"The decoded {name} exceeds the limit of {max_bytes // 1024**2} MB.")
    try:
        raw = base64.b64decode(data + "=" * (-len(data) % 4) if pad else data, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise InvalidParameter(name, invalid) from exc
    if not raw:
        raise InvalidParameter(name, empty)
    return raw


def check_source(platform: Platform, tenant_id: str, source: MediaSource, name: str) -> None:
    """The cheap request-time checks of a media source against stored state: a URL's scheme and host, an
    asset's existence and status. ``name`` is the input object the source belongs to."""
    if source.url:
        from framedex.ingest.fetch import validate_url

        validate_url(source.url, allow_private=platform.settings.allow_private_urls)
    elif source.asset_id:
        from framedex.services.assets import get_asset

        with platform.store.session() as s:
            asset = get_asset(s, tenant_id, source.asset_id)
            if asset.status == "failed":
                raise InvalidParameter(f"{name}.media_source", "The asset failed processing.",
                                       code="asset_unavailable")


@contextlib.contextmanager
def open_media(platform: Platform, tenant_id: str, source: MediaSource, name: str, *,
               max_bytes: int, base64_max: int | None = None, blob_key: str | None = None) -> Iterator[Media]:
    """A local file with the media's bytes (a temp file for base64 and URLs, removed afterwards)."""
    from framedex.ingest.fetch import FetchError, download
    from framedex.services.assets import asset_blob_key, get_asset

    if blob_key is not None:  # bytes stored with an async task
        yield Media(platform.blobs.local_path(blob_key), None, None)
        return
    if source.asset_id:
        with platform.store.session() as s:
            asset = get_asset(s, tenant_id, source.asset_id)
            key, url, filename = asset.blob_key or asset_blob_key(asset.id), asset.source_url, asset.filename
        if platform.blobs.exists(key):
            yield Media(platform.blobs.local_path(key), url, filename)
            return
        if not url:
            raise InvalidParameter(f"{name}.media_source", "The asset has no media yet.", code="asset_unavailable")
        source = MediaSource(url=url)
    with tempfile.TemporaryDirectory(prefix="framedex-embed-") as tmp:
        path = Path(tmp) / "media"
        if source.base64_string:
            raw = decode_base64(source.base64_string, name, base64_max or max_bytes)
            path.write_bytes(raw)
            yield Media(path, None, None)
            return
        url = str(source.url)
        settings = platform.settings
        with path.open("wb") as out:
            try:
                download(url, out, max_bytes=max_bytes, timeout=settings.url_download_timeout_seconds,
                         deadline=settings.url_download_deadline_seconds,
                         min_rate=settings.url_download_min_bytes_per_second,
                         allow_private=settings.allow_private_urls)
            except FetchError as exc:
                raise InvalidParameter(f"{name}.media_source", f"The media could not be downloaded: {exc}.",
                                       code="media_unavailable") from exc
            except httpx.HTTPError as exc:
                raise connection_failed(f"{name}.media_source", "media", url, exc,
                                        code="media_unavailable") from exc
        yield Media(path, url, url.rsplit("/", 1)[-1].split("?")[0] or None)


def load_image(data: bytes | Path) -> ImageArray:
    """RGB uint8 (H, W, 3) from encoded image bytes (JPEG, PNG, WebP, BMP, GIF's first frame); an image bomb is
    refused from its header before it is decoded."""
    rgb = decode_image(data.read_bytes() if isinstance(data, Path) else data, "image", code="image_file_broken")
    if rgb.ndim != 3 or min(rgb.shape[:2]) < 8:
        raise InvalidParameter("image", "The image is too small.", code="image_file_broken")
    return rgb
