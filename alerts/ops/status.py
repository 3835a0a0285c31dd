"""The operator's picture, in one object: health, queues, workers, sends, failures, feedback.

`/ops`, `/ops/status.json` and `newsalerts ops status [--json]` all show what
`collect_status` returns; `OpsStatus.as_dict()` is the documented JSON (docs/operations.md).
Nothing here raises for a service that does not answer: that is what it reports.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import redis

from alerts.ledger.counts import ledger_counts
from alerts.ledger.notices import notice_counts
from alerts.ops.console import SendInProgress, feedback_per_day, oldest_pending, sends_in_progress
from alerts.ops.failures import dead_letters, failure_groups, unknowns
from alerts.ops.health import OK, check_services, relay_activity
from alerts.ops.workers import STALL_SECONDS, present_workers, read_workers
from alerts.runtime import Runtime
from alerts.tasks.app import QUEUES, create_celery
from alerts.tasks.queues import PRIORITY_SUFFIXES, read_broker

__all__ = ["PRIORITY_SUFFIXES", "RECENT", "OpsStatus", "collect_status"]

RECENT = timedelta(hours=24)
JSON_VERSION = 2


@dataclass
class OpsStatus:
    now: datetime
    healthy: bool = True
    problems: list[str] = field(default_factory=list)
    services: dict[str, str] = field(default_factory=dict)
    queues: list[dict[str, Any]] | None = None
    unacked: int | None = None
    tasks_in_per_second: float | None = None
    tasks_out_per_second: float | None = None
    workers: list[dict[str, Any]] | None = None
    deliveries: dict[str, int] = field(default_factory=dict)
    # Confirmation and other notice emails of the last 24 hours, by state (their outbox).
    notices: dict[str, int] = field(default_factory=dict)
    oldest_pending_seconds: float | None = None
    sends: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    # Failed rows whose message may have arrived: count, newest_id, rows (newest 50).
    unknowns: dict[str, Any] = field(
        default_factory=lambda: {"count": 0, "newest_id": None, "rows": []}
    )
    feedback: list[dict[str, Any]] = field(default_factory=list)

    @property
    def queue_depth(self) -> int | None:
        return None if self.queues is None else sum(q["waiting"] for q in self.queues)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["now"] = self.now.isoformat()
        return {"version": JSON_VERSION, **data}


def collect_status(
    runtime: Runtime,
    *,
    now: datetime,
    probe_workers: bool = True,
    ask_workers: bool = True,
    worker_timeout: float = 1.0,
    probe_relays: bool = True,
    judge_relays: bool = False,
    stall_seconds: float = STALL_SECONDS,
) -> OpsStatus:
    """The operator's picture. `ask_workers`: broadcast to the workers and wait for their
    answers (`newsalerts ops status`), else read the keys they keep in Redis (the console,
    which refreshes every few seconds). `probe_relays`: connect to each relay;
    `judge_relays`, without probing: judge each by what its last messages met
    (alerts.ops.health.relay_activity), as the console does."""
    status = OpsStatus(now=now)
    status.services = check_services(runtime, relays=probe_relays)
    if status.services.get("database") == OK:
        _ledger(runtime, status, relays_from_counts=judge_relays and not probe_relays)
    if runtime.settings.redis_url and status.services.get("redis") == OK:
        timeout = worker_timeout if ask_workers else None
        _broker(runtime, status, probe_workers, timeout, stall_seconds)
    _judge(status, probe_workers)
    return status


def _ledger(runtime: Runtime, status: OpsStatus, *, relays_from_counts: bool) -> None:
    now = status.now
    since = now - RECENT
    relays = [relay.name for relay in runtime.settings.relays]
    with runtime.session() as session:
        recent: dict[str, int] = {}
        counts = ledger_counts(session, recent_from=since)  # the ledger's running counts
        for count in counts:
            if count.recent_rows:
                recent[count.status.value] = recent.get(count.status.value, 0) + count.recent_rows
        status.deliveries = recent
        if relays_from_counts:
            for name, seen in relay_activity(counts, relays).items():
                status.services[name] = seen.state()
        status.notices = notice_counts(session, since=since)
        first = oldest_pending(session)
        if first is not None:
            status.oldest_pending_seconds = max((now - first).total_seconds(), 0.0)
        status.sends = [_send(send, now) for send in sends_in_progress(session, now=now)]
        status.failures = [
            {**asdict(group), "reply_class": group.reply_class, "retryable": group.retryable}
            for group in failure_groups(session, since=since, relays=relays)
        ]
        status.dead_letters = [
            {**asdict(letter), "failed_at": _iso(letter.failed_at)}
            for letter in dead_letters(session, since=since)
        ]
        found = unknowns(session, since=since)
        status.unknowns = {
            "count": found.count,
            "newest_id": found.newest_id,
            "rows": [{**asdict(row), "attempted_at": _iso(row.attempted_at)} for row in found.rows],
        }
        status.feedback = [
            {
                **asdict(day),
                "day": day.day.isoformat(),
                "bounce_rate": day.bounce_rate,
                "complaint_rate": day.complaint_rate,
            }
            for day in feedback_per_day(session, now=now)
        ]


def _send(send: SendInProgress, now: datetime) -> dict[str, Any]:
    progress = send.progress
    oldest = progress.oldest_pending
    return {
        "kind": send.kind,
        "id": send.id,
        "label": send.label,
        "status": send.status,
        "total": progress.total,
        "sent": progress.sent,
        "pending": progress.pending,
        "sending": progress.sending,
        "failed": progress.failed,
        "suppressed": progress.suppressed,
        "cancelled": progress.cancelled,
        "skipped": progress.skipped,
        "per_minute": progress.per_minute,
        "minutes_left": progress.minutes_left,
        "oldest_pending_seconds": None if oldest is None else (now - oldest).total_seconds(),
    }


def _broker(
    runtime: Runtime, status: OpsStatus, probe_workers: bool, timeout: float | None, stall: float
) -> None:
    """Queues and tasks; the workers, asked with a broadcast when there is a `timeout`."""
    assert runtime.settings.redis_url is not None
    client = redis.Redis.from_url(
        runtime.settings.redis_url, socket_timeout=3, socket_connect_timeout=3
    )
    try:
        broker = read_broker(client, queues=QUEUES, now=status.now.timestamp())
        status.queues = [asdict(queue) for queue in broker.queues]
        status.unacked = broker.unacked
        status.tasks_in_per_second = broker.tasks_in_per_second
        status.tasks_out_per_second = broker.tasks_out_per_second
        waiting = {queue.name: queue.waiting for queue in broker.queues}
        if probe_workers and timeout is None:
            workers = present_workers(client, waiting=waiting, now=time.time(), stall_seconds=stall)
            status.workers = [asdict(worker) for worker in workers]
        elif probe_workers and timeout is not None:
            app = create_celery(runtime.settings)
            try:
                workers = read_workers(app, client, waiting=waiting, now=time.time(),
                                       timeout=timeout, stall_seconds=stall)  # fmt: skip
            finally:
                app.close()
            status.workers = [asdict(worker) for worker in workers]
    except redis.RedisError as error:
        status.services["redis"] = f"error: {type(error).__name__}: {error}"[:200]
    finally:
        client.close()


def _judge(status: OpsStatus, probe_workers: bool) -> None:
    for name, state in status.services.items():
        if state != OK and state.startswith("error"):  # not "no message sent through it yet"
            status.problems.append(f"{name}: {state}")
    waiting = (status.queue_depth or 0) + (status.unacked or 0)
    if probe_workers and status.workers is not None:
        answering = [worker for worker in status.workers if worker["answering"]]
        if waiting and not answering:
            status.problems.append(f"{waiting} tasks are queued and no worker answers")
        for worker in answering:
            if worker["stalled"]:
                status.problems.append(
                    f"worker {worker['name']} answers but has finished no task for a while "
                    "although tasks are waiting"
                )
    status.healthy = not status.problems


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
