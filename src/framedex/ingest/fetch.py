"""Fetching media by URL, bounded and validated (no private addresses unless the operator allows them)."""

from __future__ import annotations

import ipaddress
import socket
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

import httpx

from framedex.domain_errors import InvalidParameter

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
    try:
        port = parts.port
    except ValueError as exc:  # a port that is not a number or is out of range
        raise InvalidParameter("video_url", "The URL has an invalid port.") from exc
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError, ValueError) as exc:  # idna rejects empty or >63-char labels
        raise InvalidParameter("video_url", f"The host {parts.hostname[:100]!r} cannot be resolved.") from exc
    for info in infos:
        if not is_public_address(str(info[4][0])):
            raise InvalidParameter(
                "video_url", "The URL points at a private or local address, which is not allowed."
            )


# IPv6 prefixes that carry an IPv4 address: NAT64 (RFC 6052), IPv4-compatible (deprecated), and the
# local-use NAT64 prefix (RFC 8215), whose embedding position varies, so it is refused outright.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_V4_COMPATIBLE = ipaddress.ip_network("::/96")
_LOCAL_NAT64 = ipaddress.ip_network("64:ff9b:1::/48")


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 transition address leads to (mapped, 6to4, Teredo, NAT64, compatible)."""
    out: list[ipaddress.IPv4Address] = []
    if addr.ipv4_mapped is not None:
        out.append(addr.ipv4_mapped)
    if addr.sixtofour is not None:
        out.append(addr.sixtofour)
    if addr.teredo is not None:
        out.extend(addr.teredo)
    if addr in _NAT64 or addr in _V4_COMPATIBLE:
        out.append(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
    return out


def is_public_address(text: str) -> bool:
    """Whether connecting to this address reaches the public internet only. `is_global` alone passes
    NAT64, 6to4 and IPv4-compatible forms of loopback and private IPv4 addresses."""
    try:
        addr = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    if not addr.is_global:
        return False
    if isinstance(addr, ipaddress.IPv6Address):
        if addr in _LOCAL_NAT64:
            return False
        return all(v4.is_global for v4 in _embedded_ipv4(addr))
    return True


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
