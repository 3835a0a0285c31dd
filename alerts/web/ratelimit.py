"""Fixed-window rate limits, kept in Redis so they hold across web processes.

Without Redis (the embedded default, one process) the same limits are kept in memory.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

import redis


class RateLimiter(Protocol):
    def hit(self, key: str, *, limit: int, window_seconds: int) -> int | None:
        """Count one hit; return None if allowed, else the seconds until it would be."""
        ...


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
        count, _, ttl = pipeline.execute()
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
