"""Fetching media by URL, bounded and validated (no private addresses unless the operator allows them).

`validate_url` is the cheap request-time check (scheme, port, what the host resolves to now), so a bad URL
is a 400 at once. It is not what keeps a download off private addresses: a name can resolve differently
a moment later. `download` connects through :mod:`framedex.ingest.safe_http`, which checks the address it
actually connects to, on every redirect hop, and bounds the whole download by a wall-clock deadline.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

import httpx

from framedex.domain_errors import InvalidParameter
from framedex.ingest.safe_http import (
    BlockedAddress,
    Deadline,
    LookupTimeout,
    getaddrinfo_within,
    guarded_client,
    is_public_address,
)

log = logging.getLogger(__name__)

__all__ = ["MAX_REDIRECTS", "REFUSED", "FetchError", "download", "is_public_address", "validate_url"]

MAX_REDIRECTS = 5
REFUSED = "refused: the URL leads to a private or local address, which is not allowed"
# The most a request-time host check waits for the resolver: it runs on a request thread.
LOOKUP_SECONDS = 5.0


class FetchError(Exception):
    pass


def validate_url(url: str, *, allow_private: bool, deadline: Deadline | None = None) -> None:
    """Refuse a URL that is malformed or, unless ``allow_private``, whose host resolves to a private address
    now. The lookup waits at most ``LOOKUP_SECONDS``, and no longer than ``deadline`` has left."""
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
    seconds = LOOKUP_SECONDS if deadline is None else min(LOOKUP_SECONDS, deadline.remaining())
    try:
        infos = getaddrinfo_within(parts.hostname, port or (443 if parts.scheme == "https" else 80), seconds)
    except LookupTimeout as exc:
        raise InvalidParameter("video_url", f"The host {parts.hostname[:100]!r} did not resolve in time.") from exc
    except (socket.gaierror, UnicodeError, ValueError) as exc:  # idna rejects empty or >63-char labels
        raise InvalidParameter("video_url", f"The host {parts.hostname[:100]!r} cannot be resolved.") from exc
    for info in infos:
        if not is_public_address(str(info[4][0])):
            raise InvalidParameter(
                "video_url", "The URL points at a private or local address, which is not allowed."
            )


def download(url: str, out: BinaryIO, *, max_bytes: int, timeout: float, deadline: float, allow_private: bool,
             min_rate: float = 0.0) -> int:
    """Stream `url` into `out`, re-validating every redirect hop; return the byte count.

    `timeout` bounds each connect, read and write; `deadline` (seconds) bounds the whole download, redirects
    included, however the server paces its bytes. `min_rate` (bytes/s, 0 = none) stops a transfer whose
    average rate, once it has run `timeout` seconds, falls below it, so a drip fails long before the
    deadline. What the URL's owner controls (status, size, pace, a private address) raises `FetchError`
    with the reason; a network error raises httpx's error, since it may be worth a retry.
    """
    clock = Deadline(deadline)
    current = url
    try:
        with guarded_client(allow_private=allow_private, deadline=clock, timeout=timeout) as client:
            for _ in range(MAX_REDIRECTS + 1):
                validate_url(current, allow_private=allow_private, deadline=clock)
                with client.stream("GET", current) as response:
                    if response.is_redirect:
                        current = urljoin(current, response.headers.get("location", ""))
                        continue
                    if response.status_code != 200:
                        # Not the status itself: with it, URL uploads become a status and port scanner for
                        # other hosts (review #18). Only whether the fault is the URL's or the server's.
                        log.info("download of %s answered HTTP %d", current, response.status_code)
                        raise FetchError("the URL did not answer with the file" if response.status_code < 500
                                         else "the server at the URL failed to answer")
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > max_bytes:
                        raise FetchError(f"the file is larger than {max_bytes} bytes")
                    return _copy_body(response, out, max_bytes=max_bytes, clock=clock, grace=timeout,
                                      min_rate=min_rate)
    except BlockedAddress as exc:
        # Which address a name resolves to stays in the log: echoed, it would map this network's DNS.
        log.info("download of %s refused: %s", url, exc)
        raise FetchError(REFUSED) from exc
    except httpx.TimeoutException as exc:
        if clock.expired:  # not a slow moment but the whole budget: retrying would only repeat it
            raise FetchError(f"the download did not finish within {deadline:g} s") from exc
        raise
    raise FetchError("too many redirects")


def _copy_body(response: httpx.Response, out: BinaryIO, *, max_bytes: int, clock: Deadline, grace: float,
               min_rate: float) -> int:
    started = time.monotonic()
    size = 0
    # No chunk size: httpx would buffer up to it before yielding, and the checks below would wait with it.
    # Counting decoded bytes also caps what a small gzip body inflates to.
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"the file is larger than {max_bytes} bytes")
        out.write(chunk)
        if clock.expired:
            raise FetchError(f"the download did not finish within {clock.seconds:g} s")
        elapsed = time.monotonic() - started
        if min_rate and elapsed > grace and size < min_rate * elapsed:
            raise FetchError(f"the server sent {size} bytes in {elapsed:.0f} s, slower than the minimum "
                             f"of {min_rate:g} bytes/s")
    return size
