"""Outbound HTTP that cannot be steered at private addresses and cannot outlive a wall-clock deadline.

Checking a URL's host and then letting the HTTP client resolve it again leaves a DNS-rebinding window:
a TTL-0 name can answer a public address to the check and ``127.0.0.1`` to the connect. Here the check
happens where the connection is made: :class:`GuardedBackend` (an httpcore network backend) resolves
the host once, refuses the whole name if any of its addresses is not public, and connects to the
validated IP itself. httpcore still sends the URL's ``Host`` header and does TLS with the URL's hostname
as SNI and for certificate verification, because only the TCP connect is replaced. Every new
connection, so every redirect hop, goes through the same check.

httpx timeouts bound each read, not the exchange: a server that sends one byte every 9 s never trips a
10 s read timeout. Every socket operation here is given ``min(timeout, time left)`` of a
:class:`Deadline`, so the whole exchange ends when the deadline does.

Name lookups are bounded too: ``socket.getaddrinfo`` has no timeout of its own, and a resolver that
does not answer (or answers after the resolv.conf retries, tens of seconds later) would hold the calling
thread past any deadline. :func:`getaddrinfo_within` runs the lookup on a daemon thread and waits at most
the time given; at most ``MAX_LOOKUPS`` lookups are in flight at once, so hung resolvers cannot pile up
threads either (a lookup that finds no free slot in its time fails like one that timed out).

Environment proxies are not used (``trust_env=False``): through a proxy the address connected to would
be the proxy's, and the check would mean nothing.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
import typing

import httpcore
import httpx

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


class BlockedAddress(httpx.ConnectError):
    """The host resolved to an address that outbound requests may not reach. Not worth a retry."""

    def __init__(self, host: str, address: str) -> None:
        super().__init__(f"the host {host[:100]!r} resolves to {address}, a private or local address, "
                         "which is not allowed")
        self.host, self.address = host, address


class Deadline:
    """A wall-clock limit for one whole exchange (connects, TLS, every read and write, redirects)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self._end - time.monotonic()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    def clamp(self, timeout: float | None, error: type[httpcore.TimeoutException]) -> float:
        """``timeout`` cut to the time left; ``error`` (an httpcore timeout, which httpx maps to its own)
        once none is left."""
        left = self.remaining()
        if left <= 0:
            raise error(f"the deadline of {self.seconds:g} s has passed")
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: Deadline) -> None:
        self._inner, self._deadline = inner, deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._deadline.clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._deadline.clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname,
                                      self._deadline.clamp(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


MAX_LOOKUPS = 16
_lookup_slots = threading.BoundedSemaphore(MAX_LOOKUPS)

AddrInfo = list[tuple[typing.Any, ...]]


class LookupTimeout(TimeoutError):
    """The resolver did not answer within the time given."""

    def __init__(self, host: str, seconds: float) -> None:
        super().__init__(f"the host {host[:100]!r} did not resolve within {max(seconds, 0):.3g} s")
        self.host = host


def getaddrinfo_within(host: str, port: int | None, seconds: float, **kwargs: typing.Any) -> AddrInfo:
    """``socket.getaddrinfo(host, port, **kwargs)``, waiting at most ``seconds``: :class:`LookupTimeout`
    after that, while the lookup itself finishes (or not) on its own daemon thread."""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    else:  # a literal address needs no resolver, so no thread
        return list(socket.getaddrinfo(host, port, **kwargs))
    ends = time.monotonic() + seconds
    if seconds <= 0 or not _lookup_slots.acquire(timeout=seconds):
        raise LookupTimeout(host, seconds)
    done = threading.Event()
    outcome: list[AddrInfo | BaseException] = []

    def lookup() -> None:
        try:
            outcome.append(list(socket.getaddrinfo(host, port, **kwargs)))
        except BaseException as exc:  # handed to the caller, whatever it is
            outcome.append(exc)
        finally:
            _lookup_slots.release()
            done.set()

    threading.Thread(target=lookup, name="dns-lookup", daemon=True).start()
    if not done.wait(max(0.0, ends - time.monotonic())):
        raise LookupTimeout(host, seconds)
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def resolve(host: str, port: int, *, allow_private: bool, seconds: float) -> list[str]:
    """The addresses to connect to for ``host``, in resolver order; all of them checked, once. The lookup
    gets at most ``seconds``."""
    try:
        infos = getaddrinfo_within(host, port, seconds, type=socket.SOCK_STREAM)
    except LookupTimeout as exc:
        raise httpcore.ConnectTimeout(str(exc)) from exc
    except (socket.gaierror, UnicodeError, ValueError) as exc:  # idna rejects empty or >63-char labels
        raise httpcore.ConnectError(f"the host {host[:100]!r} cannot be resolved") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not allow_private:
        # One private answer refuses the name: trying only the public ones would let a name with a
        # public address that never answers fall through to the private one.
        for address in addresses:
            if not is_public_address(address):
                raise BlockedAddress(host, address)
    return addresses


class GuardedBackend(httpcore.NetworkBackend):
    """Resolves once, checks every address, connects to a checked IP; every stream obeys ``deadline``."""

    def __init__(self, *, allow_private: bool, deadline: Deadline) -> None:
        self._allow_private, self._deadline = allow_private, deadline
        self._tcp = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: typing.Iterable[tuple[typing.Any, ...]] | None = None) -> httpcore.NetworkStream:
        addresses = resolve(host, port, allow_private=self._allow_private,
                            seconds=self._deadline.clamp(timeout, httpcore.ConnectTimeout))
        failure: Exception = httpcore.ConnectError(f"the host {host[:100]!r} has no address")
        for address in addresses:
            try:
                stream = self._tcp.connect_tcp(address, port, self._deadline.clamp(timeout, httpcore.ConnectTimeout),
                                               local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            return _DeadlineStream(stream, self._deadline)
        raise failure

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: typing.Iterable[tuple[typing.Any, ...]] | None = None
                            ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are not reachable from outbound requests")

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, min(seconds, self._deadline.remaining())))


class GuardedTransport(httpx.HTTPTransport):
    """An httpx transport whose connections go through :class:`GuardedBackend`."""

    def __init__(self, *, allow_private: bool, deadline: Deadline, ssl_context: ssl.SSLContext | None = None) -> None:
        super().__init__(trust_env=False)
        # HTTPTransport has no parameter for the network backend, so its pool is rebuilt with one.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context or httpx.create_ssl_context(trust_env=False),
            max_connections=4,
            max_keepalive_connections=0,  # one-shot clients: nothing to keep
            network_backend=GuardedBackend(allow_private=allow_private, deadline=deadline),
        )


def guarded_client(*, allow_private: bool, deadline: Deadline, timeout: float,
                   ssl_context: ssl.SSLContext | None = None) -> httpx.Client:
    """A client for one bounded exchange: no redirects followed (callers re-check each hop's URL), no
    environment proxies, ``timeout`` per socket operation and ``deadline`` for all of them together.
    ``ssl_context`` replaces the default trust store (certifi), e.g. with a private CA."""
    transport = GuardedTransport(allow_private=allow_private, deadline=deadline, ssl_context=ssl_context)
    return httpx.Client(transport=transport,
                        timeout=timeout, follow_redirects=False, trust_env=False)


def read_at_most(response: httpx.Response, limit: int) -> bytes:
    """Up to ``limit`` bytes of a streamed response's raw body; the rest is never read (closing the
    response then drops the connection)."""
    data = bytearray()
    for chunk in response.iter_raw():
        data += chunk
        if len(data) >= limit:
            break
    return bytes(data[:limit])
