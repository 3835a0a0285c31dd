"""The scheduler's mark that it ticked: the time of the last completed tick, kept in Redis.

The tick task writes it; the `newsalerts_scheduler_last_tick_timestamp_seconds` metric and
the beat container's health check read it. It lives in Redis, not in a process, so any
process on any machine reads the same mark.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

import redis

log = logging.getLogger(__name__)

# Written by the scheduler's tick task (`record_tick`): Unix time of the last completed tick.
LAST_TICK_KEY = "newsalerts:last_tick"


def record_tick(redis_url: str | None, when: datetime) -> None:
    """Note that a scheduler tick completed (for the metric and the beat health check).

    Never raises: a missed note shows as a late tick, which is better than a failed one.
    """
    if not redis_url:
        return
    client = _client(redis_url)
    try:
        client.set(LAST_TICK_KEY, repr(when.timestamp()))
    except redis.RedisError as error:
        log.warning("could not record the scheduler tick in Redis: %s", error)
    finally:
        client.close()


def tick_is_recent(max_age_seconds: float = 300.0, redis_url: str | None = None) -> bool:
    """True when a tick completed in the last `max_age_seconds` (REDIS_URL by default)."""
    if redis_url is None:
        from alerts.config import load_settings

        redis_url = load_settings().redis_url
    if not redis_url:
        return False
    client = _client(redis_url)
    try:
        value = client.get(LAST_TICK_KEY)
    except redis.RedisError:
        return False
    finally:
        client.close()
    return value is not None and time.time() - float(value) <= max_age_seconds


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
