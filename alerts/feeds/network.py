"""The network under a feed fetch: where it may connect, and until when.

A feed URL comes from an editor, an API token or a publisher's redirect, and newsalerts runs
next to services that trust their own network (an admin page on loopback, a cloud's metadata
address). So, unless `FEEDS_ALLOW_PRIVATE=true`, a fetch connects only to global addresses.
The check is made where the connection is opened, for every connection a fetch opens (each
redirect to a new host opens one): the host is resolved once, every address it resolves to
must be global, and the connection goes to an address just checked. Checking a name and then
letting the library resolve it again would let a DNS answer that changes in between (DNS
rebinding) through.

A fetch also has one deadline: every connect, write and read waits at most until it, so a
server that trickles a byte every few seconds is cut off when the fetch's time is up, not
when it stops sending. (Resolving a name is the system's and is bounded by its own timeouts.)
"""

from __future__ import annotations

import ipaddress
import math
import socket
import ssl
import time
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import httpcore
import httpx

ALLOW_PRIVATE_SETTING = "FEEDS_ALLOW_PRIVATE"


class RefusedAddress(httpcore.ConnectError):
    """A host that resolves to an address a feed fetch may not reach."""


def guarded_transport(*, deadline: float, allow_private: bool) -> httpx.HTTPTransport:
    """httpx's own HTTP transport over a `GuardedNetwork`: one per fetch (its deadline)."""
    return _GuardedTransport(GuardedNetwork(deadline=deadline, allow_private=allow_private))


class _GuardedTransport(httpx.HTTPTransport):
    def __init__(self, network: httpcore.NetworkBackend) -> None:
        # httpx takes no network backend of its own accord; its transport only ever uses
        # its connection pool, so the pool is made here around ours (and no other).
        self._pool = httpcore.ConnectionPool(ssl_context=_tls_context(), network_backend=network)


@lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    """The certificates httpx trusts by default; loading them is slow, so once a process."""
    return httpx.create_ssl_context()


class GuardedNetwork(httpcore.NetworkBackend):
    """Connects only to checked addresses (unless `allow_private`), and never past
    `deadline` (a `time.monotonic()` instant)."""

    def __init__(self, *, deadline: float, allow_private: bool) -> None:
        self._deadline = deadline
        self._allow_private = allow_private
        self._system = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        targets = [host] if self._allow_private else self._checked_addresses(host, port)
        problem: Exception | None = None
        for target in targets:
            try:
                stream = self._system.connect_tcp(
                    target,
                    port,
                    timeout=_within(timeout, self._deadline, httpcore.ConnectTimeout),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                problem = error  # the next address may answer
                continue
            return _DeadlineStream(stream, self._deadline)
        assert problem is not None  # there is always at least one target
        raise problem

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("feeds are fetched over TCP only")

    def sleep(self, seconds: float) -> None:
        self._system.sleep(seconds)

    def _checked_addresses(self, host: str, port: int) -> list[str]:
        """Every address `host` resolves to, if all are global; else RefusedAddress."""
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as error:
            raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in found))
        for address in addresses:
            if not is_public(address):
                shown = host if host == address else f"{host} ({address})"
                raise RefusedAddress(
                    f"{shown} is not a public address; set {ALLOW_PRIVATE_SETTING}=true to "
                    "fetch feeds from private networks"
                )
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}: no address")
        return addresses


def is_public(address: str) -> bool:
    """Whether an IP address is one of the Internet's: not loopback, link-local, private,
    shared (carrier NAT), reserved or multicast. An IPv6-mapped IPv4 address is judged as
    the IPv4 address it is."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # a zone (fe80::1%eth0) is local
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _within(timeout: float | None, deadline: float, expired: type[Exception]) -> float:
    """The wait allowed now: the step's own timeout, never past the deadline."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise expired("the fetch's time is up")
    return min(timeout if timeout is not None else math.inf, remaining)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, deadline: float) -> None:
        self._stream = stream
        self._deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(
            max_bytes, timeout=_within(timeout, self._deadline, httpcore.ReadTimeout)
        )

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, timeout=_within(timeout, self._deadline, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        secured = self._stream.start_tls(
            ssl_context,
            server_hostname=server_hostname,
            timeout=_within(timeout, self._deadline, httpcore.ConnectTimeout),
        )
        return _DeadlineStream(secured, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)
