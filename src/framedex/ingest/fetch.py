"""Fetching media by URL, bounded and validated (no private addresses unless the operator allows them)."""

from __future__ import annotations

import ipaddress
import socket
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

import httpx

from framedex.services.errors import InvalidParameter

MAX_REDIRECTS = 5


class FetchError(Exception):
    pass


def validate_url(url: str, *, allow_private: bool) -> None:
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise InvalidParameter("video_url", "It is not a valid URL.") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParameter("video_url", "Only http and https URLs are supported.")
    if len(url) > 4096:
        raise InvalidParameter("video_url", "The URL is too long.")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except socket.gaierror as exc:
        raise InvalidParameter("video_url", f"The host {parts.hostname!r} cannot be resolved.") from exc
    for info in infos:
        addr = ipaddress.ip_address(info[4][0])
        if not addr.is_global:
            raise InvalidParameter(
                "video_url", "The URL points at a private or local address, which is not allowed."
            )


def download(url: str, out: BinaryIO, *, max_bytes: int, timeout: float, allow_private: bool) -> int:
    """Stream `url` into `out`, re-validating every redirect hop; return the byte count."""
    current = url
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            validate_url(current, allow_private=allow_private)
            with client.stream("GET", current) as response:
                if response.is_redirect:
                    current = urljoin(current, response.headers.get("location", ""))
                    continue
                if response.status_code != 200:
                    raise FetchError(f"the URL answered HTTP {response.status_code}")
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise FetchError(f"the file is larger than {max_bytes} bytes")
                size = 0
                for chunk in response.iter_bytes(1024 * 1024):
                    size += len(chunk)
                    if size > max_bytes:
                        raise FetchError(f"the file is larger than {max_bytes} bytes")
                    out.write(chunk)
                return size
    raise FetchError("too many redirects")
