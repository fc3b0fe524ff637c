"""Media inputs shared by services: the image size limit, query images by URL, and images bounded before
decoding. `MAX_IMAGE_BYTES` is the one definition of the real API's 32 MiB image limit (search queries, assets,
embeddings, uploads).

An image's header decides how many pixels decoding allocates: a 20 KB bilevel PNG can declare
13 000 x 13 000 (0.5 GB of RGB) or 20 000 x 20 000 (Pillow's own bomb check then raises an error no
caller expects, a 500). `check_image` reads only the header and refuses more than the real API's
per-image limit (16,777,216 px) with a 400 in the API's envelope, before a pixel is decoded;
`decode_image` is the bounded decoder every image input should go through.
"""

from __future__ import annotations

import io
import time
import warnings

import httpx
import numpy as np

from framedex.domain_errors import InvalidParameter
from framedex.ingest.fetch import FetchError, download, validate_url
from framedex.models.base import ImageArray
from framedex.services.platform import Platform

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


def fetch_query_images(platform: Platform, urls: list[str]) -> list[bytes]:
    # These run on a request thread: all of a request's URLs share one deadline, not one each.
    budget = platform.settings.url_download_timeout_seconds
    ends = time.monotonic() + budget
    images = []
    for url in urls:
        validate_url(url, allow_private=platform.settings.allow_private_urls)
        buf = io.BytesIO()
        try:
            left = ends - time.monotonic()
            if left <= 0:
                raise FetchError(f"the images did not download within {budget:g} s")
            download(url, buf, max_bytes=MAX_IMAGE_BYTES, timeout=budget, deadline=left,
                     allow_private=platform.settings.allow_private_urls)
        except (FetchError, httpx.HTTPError, OSError) as exc:
            raise InvalidParameter("query_media_url", f"The image could not be downloaded: {exc}.") from exc
        data = buf.getvalue()
        check_image(data, "query_media_url")
        images.append(data)
    return images
