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
    def __init__(self) -> None:
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, *, limit: int, window_seconds: int) -> int | None:
        now = time.monotonic()
        with self._lock:
            started, count = self._windows.get(key, (now, 0))
            if now - started >= window_seconds:
                started, count = now, 0
            self._windows[key] = (started, count + 1)
        if count + 1 <= limit:
            return None
        return max(int(window_seconds - (now - started)), 1)
