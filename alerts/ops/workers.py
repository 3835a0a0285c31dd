"""The Celery workers: host, pid, queues, concurrency, tasks running and done.

Two sources, one set of figures. `present_workers` reads the key each worker renews in
Redis (alerts.tasks.presence): no broadcast and no waiting, for the console and anything
that refreshes often. `read_workers` asks the workers now, three broadcasts (`stats`,
`active`, `active_queues`) side by side, each waiting `timeout` seconds for replies, for
`newsalerts ops status`; no events and no Flower needed. What one look cannot tell — when
a worker last answered, and when its count of finished tasks last moved — is kept in one
Redis hash (`newsalerts:workers`), updated by whoever looks (the console, `ops status`). So:

- a worker that answered before and does not now is listed as not answering, with the time
  it was last seen (for a day);
- a worker that answers but has finished no task for `stall_seconds` while messages wait in
  a queue it consumes is flagged as stalled (hung in an SMTP exchange, or not consuming at
  all); a worker kept for urgent work (`-Q newsalerts.urgent`) is not stalled by a digest
  backlog. The clock starts when a worker is first seen, or at its start when it has
  finished nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery

from alerts.tasks.presence import read_presence

log = logging.getLogger(__name__)

SEEN_KEY = "newsalerts:workers"
STALL_SECONDS = 5 * 60.0
FORGET_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class WorkerFigures:
    name: str
    host: str
    pid: int | None
    concurrency: int | None
    running: int
    processed: int
    last_seen: float  # Unix seconds: the last time it answered
    answering: bool
    stalled: bool
    queues: tuple[str, ...] = ()  # those it consumes (unknown for one not answering)


def read_workers(
    app: Celery,
    client: redis.Redis,
    *,
    waiting: Mapping[str, int],
    now: float,
    timeout: float = 0.5,
    stall_seconds: float = STALL_SECONDS,
) -> list[WorkerFigures]:
    """Every worker that answers a broadcast now or answered in the last day, by name.
    `waiting`: messages waiting in each queue. For `newsalerts ops status`, which asks."""
    inspect = app.control.inspect(timeout=timeout)
    with ThreadPoolExecutor(max_workers=3) as executor:  # each waits `timeout`: side by side
        asked = [executor.submit(ask) for ask in (inspect.stats, inspect.active,
                                                   inspect.active_queues)]  # fmt: skip
        stats: Mapping[str, Any] = asked[0].result() or {}
        active: Mapping[str, Any] = asked[1].result() or {}
        consuming: Mapping[str, Any] = asked[2].result() or {}
    answers = {
        name: _Answer(
            pid=_int(figures.get("pid")),
            concurrency=_int((figures.get("pool") or {}).get("max-concurrency")),
            running=len(active.get(name) or ()),
            processed=sum(int(n) for n in (figures.get("total") or {}).values()),
            uptime=float(figures.get("uptime") or 0),
            queues=_queue_names(consuming.get(name)),
        )
        for name, figures in stats.items()
    }
    return _figures(client, answers, waiting=waiting, now=now, stall_seconds=stall_seconds)


def present_workers(
    client: redis.Redis,
    *,
    waiting: Mapping[str, int],
    now: float,
    stall_seconds: float = STALL_SECONDS,
) -> list[WorkerFigures]:
    """The same figures from the keys workers keep in Redis (alerts.tasks.presence): a
    worker whose key is alive answers. No broadcast, no waiting: for the console."""
    answers = {
        worker.name: _Answer(
            pid=worker.pid,
            concurrency=worker.concurrency,
            running=worker.running,
            processed=worker.processed,
            uptime=max(now - worker.started, 0.0) if worker.started is not None else 0.0,
            queues=worker.queues,
        )
        for worker in read_presence(client)
    }
    return _figures(client, answers, waiting=waiting, now=now, stall_seconds=stall_seconds)


@dataclass(frozen=True)
class _Answer:
    pid: int | None
    concurrency: int | None
    running: int
    processed: int
    uptime: float
    queues: tuple[str, ...]


def _figures(
    client: redis.Redis,
    answers: Mapping[str, _Answer],
    *,
    waiting: Mapping[str, int],
    now: float,
    stall_seconds: float,
) -> list[WorkerFigures]:
    try:
        remembered = {
            _text(name): json.loads(value) for name, value in client.hgetall(SEEN_KEY).items()
        }
    except (redis.RedisError, ValueError) as error:
        log.warning("could not read the workers' history: %s", error)
        remembered = {}
    found: list[WorkerFigures] = []
    updates: dict[str, str] = {}
    for name, answer in answers.items():
        processed = answer.processed
        before = remembered.get(name)
        if before is not None and before.get("processed") == processed:
            since = float(before["since"])
        elif before is None and processed == 0:
            since = now - answer.uptime  # idle since it started
        else:
            since = now
        queues = answer.queues
        # Without an answer about its queues, every waiting message counts.
        backlog = sum(waiting.get(queue, 0) for queue in queues or waiting)
        worker = WorkerFigures(
            name=name,
            host=name.partition("@")[2] or name,
            pid=answer.pid,
            concurrency=answer.concurrency,
            running=answer.running,
            processed=processed,
            last_seen=now,
            answering=True,
            stalled=backlog > 0 and now - since >= stall_seconds,
            queues=queues,
        )
        found.append(worker)
        updates[name] = json.dumps(
            {
                "processed": processed,
                "since": since,
                "last_seen": now,
                "pid": worker.pid,
                "concurrency": worker.concurrency,
            }
        )
    forget = []
    for name, before in remembered.items():
        if name in answers:
            continue
        last_seen = float(before.get("last_seen") or 0)
        if now - last_seen > FORGET_SECONDS:
            forget.append(name)
            continue
        found.append(
            WorkerFigures(
                name=name,
                host=name.partition("@")[2] or name,
                pid=_int(before.get("pid")),
                concurrency=_int(before.get("concurrency")),
                running=0,
                processed=int(before.get("processed") or 0),
                last_seen=last_seen,
                answering=False,
                stalled=False,
            )
        )
    _remember(client, updates, forget)
    return sorted(found, key=lambda worker: worker.name)


def _remember(client: redis.Redis, updates: dict[str, str], forget: list[str]) -> None:
    try:
        pipeline = client.pipeline(transaction=False)
        if updates:
            pipeline.hset(SEEN_KEY, mapping=updates)  # type: ignore[arg-type]
        if forget:
            pipeline.hdel(SEEN_KEY, *forget)
        pipeline.execute()
    except redis.RedisError as error:
        log.warning("could not note the workers' state: %s", error)


def _queue_names(reply: Sequence[Any] | None) -> tuple[str, ...]:
    """The queue names in a worker's `active_queues` reply."""
    return tuple(
        str(queue["name"]) for queue in reply or () if isinstance(queue, dict) and queue.get("name")
    )


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
