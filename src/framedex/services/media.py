"""Small media helpers shared by services (query images by URL)."""

from __future__ import annotations

import io

from framedex.ingest.fetch import FetchError, download, validate_url
from framedex.services.errors import InvalidParameter
from framedex.services.platform import Platform

MAX_IMAGE_BYTES = 32 * 1024 * 1024


def fetch_query_images(platform: Platform, urls: list[str]) -> list[bytes]:
    images = []
    for url in urls:
        validate_url(url, allow_private=platform.settings.allow_private_urls)
        buf = io.BytesIO()
        try:
            download(url, buf, max_bytes=MAX_IMAGE_BYTES, timeout=platform.settings.url_download_timeout_seconds,
                     allow_private=platform.settings.allow_private_urls)
        except FetchError as exc:
            raise InvalidParameter("query_media_url", f"The image could not be downloaded: {exc}.") from exc
        images.append(buf.getvalue())
    return images
