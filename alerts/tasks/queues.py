"""The Celery queues as Redis holds them: depth, age of the oldest message, tasks in and out.

Depth is what kombu's Redis transport keeps: a list per queue plus one per priority level
(`queue\\x06\\x163`, `...6`, `...9`), and the `unacked` hash of messages taken by workers
and not yet acknowledged (prefetched or running).

Age: kombu pushes on the left and workers pop from the right, so the last element of each
list is the oldest message. Celery's headers carry no publishing time, so every message
published through our Celery app is stamped with one (`published_at`, Unix seconds) by a
`before_task_publish` handler; a message without it (published by something else) has
no age.

Tasks in and out are two counters in Redis that every process bumps: one when it publishes a
task, one when a worker finishes one (`task_postrun`, whatever the outcome). Each is a
running total (for Prometheus' `rate()`) and a count per minute kept two hours (for the
console's "per second", read from the last full minute). One pipelined round trip per task,
and a task carries a batch of up to BATCH_SIZE messages, so the cost does not show.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis

log = logging.getLogger(__name__)

# kombu's Redis transport keeps priorities in sub-queues named queue + "\x06\x16" + n.
PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
UNACKED = "unacked"
PUBLISHED_AT = "published_at"
COUNTER_PREFIX = "newsalerts:tasks:"
PUBLISHED, FINISHED = "published", "finished"
MINUTE_KEYS_KEPT_SECONDS = 2 * 3600


@dataclass(frozen=True)
class QueueFigures:
    name: str
    waiting: int
    oldest_waiting_seconds: float | None


@dataclass(frozen=True)
class BrokerFigures:
    queues: list[QueueFigures]
    unacked: int
    tasks_in_per_second: float
    tasks_out_per_second: float
    published_total: int
    finished_total: int

    @property
    def waiting(self) -> int:
        return sum(queue.waiting for queue in self.queues)


def read_broker(client: redis.Redis, *, queues: Sequence[str], now: float) -> BrokerFigures:
    """Every figure in two round trips. Raises redis.RedisError."""
    minute = int(now // 60) - 1  # the last full minute
    pipeline = client.pipeline(transaction=False)
    for queue in queues:
        for suffix in PRIORITY_SUFFIXES:
            pipeline.llen(queue + suffix)
            pipeline.lindex(queue + suffix, -1)
    pipeline.hlen(UNACKED)
    for direction in (PUBLISHED, FINISHED):
        pipeline.get(f"{COUNTER_PREFIX}{direction}:total")
        pipeline.get(f"{COUNTER_PREFIX}{direction}:{minute}")
    *per_list, unacked, in_total, in_minute, out_total, out_minute = pipeline.execute()
    figures = []
    step = 2 * len(PRIORITY_SUFFIXES)
    for index, queue in enumerate(queues):
        lists = per_list[index * step : (index + 1) * step]
        waiting = sum(int(length) for length in lists[0::2])
        stamps = [_published_at(raw) for raw in lists[1::2] if raw is not None]
        known = [stamp for stamp in stamps if stamp is not None]
        oldest = max(now - min(known), 0.0) if known else None
        figures.append(QueueFigures(queue, waiting, oldest))
    return BrokerFigures(
        queues=figures,
        unacked=int(unacked),
        tasks_in_per_second=int(in_minute or 0) / 60,
        tasks_out_per_second=int(out_minute or 0) / 60,
        published_total=int(in_total or 0),
        finished_total=int(out_total or 0),
    )


def _published_at(raw: bytes) -> float | None:
    try:
        message = json.loads(raw)
        stamp = message["headers"].get(PUBLISHED_AT)
        return float(stamp) if stamp is not None else None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


# -- the counters, bumped from Celery's signals ------------------------------------------

_clients: dict[str, redis.Redis] = {}
_broker_url: str | None = None


def count_into(broker_url: str) -> None:
    """Where this process counts the tasks it publishes (set when its Celery app is made)."""
    global _broker_url
    _broker_url = broker_url


def count_task(direction: str, broker_url: str | None, now: float | None = None) -> None:
    """Add one to the total and to this minute's count. Never raises: a lost count is
    better than a task that was not published because Redis hiccuped."""
    if not broker_url or not broker_url.startswith(("redis://", "rediss://", "unix://")):
        return
    client = _clients.get(broker_url)
    if client is None:
        client = _clients[broker_url] = redis.Redis.from_url(
            broker_url, socket_timeout=1, socket_connect_timeout=1
        )
    minute_key = f"{COUNTER_PREFIX}{direction}:{int((now or time.time()) // 60)}"
    try:
        pipeline = client.pipeline(transaction=False)
        pipeline.incr(f"{COUNTER_PREFIX}{direction}:total")
        pipeline.incr(minute_key)
        pipeline.expire(minute_key, MINUTE_KEYS_KEPT_SECONDS)
        pipeline.execute()
    except redis.RedisError as error:
        log.debug("could not count a %s task: %s", direction, error)


def on_publish(headers: dict[str, Any] | None = None, **_: object) -> None:
    """`before_task_publish`: stamp the message with its publishing time, count it."""
    if isinstance(headers, dict):
        headers.setdefault(PUBLISHED_AT, time.time())
    count_task(PUBLISHED, _broker_url)


def on_finish(sender: Any = None, **_: object) -> None:
    """`task_postrun`: a worker is done with a task (sent, failed or retrying)."""
    app = getattr(sender, "app", None)
    count_task(FINISHED, getattr(getattr(app, "conf", None), "broker_url", None))
