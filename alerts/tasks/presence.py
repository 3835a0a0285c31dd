"""Each Celery worker says it is there: a key in Redis renewed every few seconds.

A worker node (the main process of `celery worker`, not each pool child) writes
`newsalerts:worker:<node name>` as JSON — host, pid, the queues it consumes, its
concurrency, when it started, the tasks it holds and has taken — with a time to live of
PRESENCE_TTL_SECONDS, renewed every PRESENCE_SECONDS from a thread started when the worker
is ready, and deletes it when the worker shuts down. A worker that dies or loses Redis
drops out once its key expires.

So `/metrics` and the console learn which workers are up with one SCAN and one MGET,
without broadcasting to them and waiting for replies; the broadcast stays where an
operator asks for it (`newsalerts ops status`). Senders' own heartbeats, which fence a
batch and tell the sweeper whose rows to recover, are alerts.delivery.liveness.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

import redis

log = logging.getLogger(__name__)

PRESENCE_PREFIX = "newsalerts:worker:"
PRESENCE_SECONDS = 5.0
PRESENCE_TTL_SECONDS = 15


@dataclass(frozen=True)
class Presence:
    """A worker node as its own key describes it."""

    name: str
    host: str
    pid: int | None
    queues: tuple[str, ...]
    concurrency: int | None
    started: float | None  # Unix seconds
    running: int = 0  # tasks it holds now, as of its last renewal
    processed: int = 0  # tasks it has taken since it started


def read_presence(client: redis.Redis) -> list[Presence]:
    """Every worker whose key is alive, by name (one SCAN, one MGET)."""
    keys = sorted(client.scan_iter(match=PRESENCE_PREFIX + "*", count=500))
    if not keys:
        return []
    found: list[Presence] = []
    for key, raw in zip(keys, client.mget(keys), strict=True):
        if raw is None:  # expired between the two commands
            continue
        name = (key.decode() if isinstance(key, bytes) else str(key))[len(PRESENCE_PREFIX) :]
        found.append(_parse(name, raw))
    return found


def _parse(name: str, raw: bytes | str) -> Presence:
    try:
        facts: dict[str, Any] = json.loads(raw)
    except ValueError:
        facts = {}
    if not isinstance(facts, dict):
        facts = {}
    queues = facts.get("queues")
    return Presence(
        name=name,
        host=str(facts.get("host") or name.partition("@")[2] or name),
        pid=facts.get("pid") if isinstance(facts.get("pid"), int) else None,
        queues=tuple(str(queue) for queue in queues) if isinstance(queues, list) else (),
        concurrency=(
            facts.get("concurrency") if isinstance(facts.get("concurrency"), int) else None
        ),
        started=float(facts["started"]) if isinstance(facts.get("started"), int | float) else None,
        running=_count(facts.get("running")),
        processed=_count(facts.get("processed")),
    )


def _count(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


class PresenceBeat:
    """The renewing thread of one worker node."""

    def __init__(self, url: str, name: str, facts: dict[str, Any]) -> None:
        self.key = PRESENCE_PREFIX + name
        self.facts = facts
        self._client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="newsalerts-presence", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        try:
            self._client.delete(self.key)
        except redis.RedisError as error:
            log.debug("could not remove this worker's presence: %s", error)

    def _run(self) -> None:
        while True:
            try:
                value = json.dumps({**self.facts, **_tasks()})
                self._client.set(self.key, value, ex=PRESENCE_TTL_SECONDS)
            except redis.RedisError as error:
                log.debug("could not renew this worker's presence: %s", error)
            if self._stop.wait(PRESENCE_SECONDS):
                return


def _tasks() -> dict[str, int]:
    """Tasks this worker holds and has taken: Celery keeps both in the main process (the
    figures `inspect stats` and `inspect active` answer with)."""
    from celery.worker import state

    return {"running": len(state.active_requests), "processed": sum(state.total_count.values())}


_beat: PresenceBeat | None = None


def on_worker_ready(sender: Any = None, **_: object) -> None:
    """`worker_ready`: start renewing this node's key (only on a Redis broker)."""
    global _beat
    consumer = sender
    app = getattr(consumer, "app", None)
    url = str(getattr(getattr(app, "conf", None), "broker_url", "") or "")
    if not url.startswith(("redis://", "rediss://", "unix://")) or _beat is not None:
        return
    controller = getattr(consumer, "controller", None)
    name = str(getattr(consumer, "hostname", "") or f"worker@{socket.gethostname()}")
    # In the order it takes from them (alerts.tasks.app puts the urgent one first).
    queues = list(app.amqp.queues.consume_from) if app is not None else []
    concurrency = getattr(controller, "concurrency", None)
    _beat = PresenceBeat(url, name, {
        "host": socket.gethostname(), "pid": os.getpid(), "queues": list(queues),
        "concurrency": concurrency if isinstance(concurrency, int) else None,
        "started": time.time(),
    })  # fmt: skip
    _beat.start()


def on_worker_shutdown(**_: object) -> None:
    """`worker_shutdown`: remove the key at once rather than let it expire."""
    global _beat
    if _beat is not None:
        _beat.stop()
        _beat = None
