"""Fixed-window rate limits, kept in Redis so they hold across web processes.

Without Redis (the embedded default, one process) the same limits are kept in memory.
`client_network` names the client a per-client limit counts.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from typing import Protocol

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

log = logging.getLogger(__name__)


class RateLimiter(Protocol):
    def hit(self, key: str, *, limit: int, window_seconds: int) -> int | None:
        """Count one hit; return None if allowed, else the seconds until it would be."""
        ...


def client_network(remote_addr: str | None) -> str:
    """The client a limit counts: an IPv4 address, or the /64 an IPv6 address is in (one
    host is usually given a whole /64, so counting single IPv6 addresses counts nothing)."""
    try:
        address = ipaddress.ip_address(remote_addr or "")
    except ValueError:
        return (remote_addr or "unknown")[:45]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def limiter_client(url: str) -> redis.Redis:
    """A client that gives up fast: a sign-up must not wait seconds on a Redis outage."""
    return redis.Redis.from_url(
        url, socket_timeout=0.5, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 1)
    )


class RedisRateLimiter:
    def __init__(self, client: redis.Redis, prefix: str = "newsalerts:limit:") -> None:
        self._client = client
        self._prefix = prefix

    def hit(self, key: str, *, limit: int, window_seconds: int) -> int | None:
        name = self._prefix + key
        pipeline = self._client.pipeline()
        pipeline.incr(name)
        pipeline.expire(name, window_seconds, nx=True)
        pipeline.ttl(name)
        try:
            count, _, ttl = pipeline.execute()
        except redis.RedisError as error:
            # Fail open: a Redis outage must not turn every sign-up into an error page;
            # double opt-in still stands between a bot and anyone's inbox.
            log.error("rate limiter unavailable, allowing %s: %s", key.split(":")[0], error)
            return None
        if int(count) <= limit:
            return None
        return max(int(ttl), 1)


class MemoryRateLimiter:
    """Fixed windows in a dict; windows that have ended are dropped as the dict grows, so
    a stream of distinct clients and addresses does not grow it without bound."""

    PRUNE_AT = 1024

    def __init__(self) -> None:
        # key -> (window start, hits, window length)
        self._windows: dict[str, tuple[float, int, int]] = {}
        self._lock = threading.Lock()
        self._prune_at = self.PRUNE_AT

    def __len__(self) -> int:
        """How many keys are kept."""
        return len(self._windows)

    def hit(self, key: str, *, limit: int, window_seconds: int) -> int | None:
        now = time.monotonic()
        with self._lock:
            started, count, _ = self._windows.get(key, (now, 0, window_seconds))
            if now - started >= window_seconds:
                started, count = now, 0
            self._windows[key] = (started, count + 1, window_seconds)
            if len(self._windows) >= self._prune_at:
                self._prune(now)
        if count + 1 <= limit:
            return None
        return max(int(window_seconds - (now - started)), 1)

    def _prune(self, now: float) -> None:
        self._windows = {
            key: window for key, window in self._windows.items() if now - window[0] < window[2]
        }
        # Next time when the live keys have doubled: pruning stays amortised O(1) per hit.
        self._prune_at = max(self.PRUNE_AT, 2 * len(self._windows))
