"""The operator's picture: ledger progress, failures, queue depth, workers, service health."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text

from alerts.celery_app import QUEUE, create_celery
from alerts.models import Delivery, DeliveryStatus
from alerts.runtime import Runtime

# kombu's Redis transport keeps priorities in sub-queues named queue + "\x06\x16" + n.
PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
RECENT = timedelta(hours=24)


@dataclass
class OpsStatus:
    healthy: bool
    services: dict[str, str]
    deliveries: dict[str, int]
    oldest_pending_seconds: float | None
    failures: list[tuple[str, int]] = field(default_factory=list)
    queue_depth: int | None = None
    unacked: int | None = None
    workers: list[str] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _reason(reply: str | None, error: str | None) -> str:
    """Group failures by SMTP reply code, else by the first words of the error."""
    if reply and reply[:3].isdigit():
        return f"SMTP {reply[:3]}"
    return (error or "unknown")[:60]


def collect_status(runtime: Runtime, *, now: datetime, probe_workers: bool = True) -> OpsStatus:
    services: dict[str, str] = {}
    deliveries: dict[str, int] = {}
    oldest: float | None = None
    failures: list[tuple[str, int]] = []
    try:
        with runtime.session() as session:
            session.execute(text("SELECT 1"))
            services["database"] = "ok"
            since = now - RECENT
            counts = session.execute(
                select(Delivery.status, func.count())
                .where(Delivery.created_at >= since)
                .group_by(Delivery.status)
            )
            deliveries = {status.value: count for status, count in counts}
            first_pending = session.scalar(
                select(func.min(Delivery.created_at)).where(
                    Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.CLAIMED])
                )
            )
            if first_pending is not None:
                oldest = (now - first_pending).total_seconds()
            failed = session.execute(
                select(Delivery.smtp_reply, Delivery.last_error).where(
                    Delivery.status == DeliveryStatus.FAILED, Delivery.created_at >= since
                )
            )
            failures = Counter(_reason(reply, error) for reply, error in failed).most_common(10)
    except Exception as error:  # any failure to reach the database is what we report
        services["database"] = f"error: {type(error).__name__}: {error}"[:200]
    status = OpsStatus(False, services, deliveries, oldest, failures)
    if runtime.settings.redis_url:
        _broker(runtime, status, probe_workers)
    status.healthy = all(value == "ok" for value in services.values()) and not (
        status.queue_depth and not status.workers and probe_workers
    )
    return status


def _broker(runtime: Runtime, status: OpsStatus, probe_workers: bool) -> None:
    import redis

    assert runtime.settings.redis_url is not None
    client = redis.Redis.from_url(runtime.settings.redis_url, socket_timeout=3)
    try:
        status.queue_depth = sum(int(client.llen(QUEUE + suffix)) for suffix in PRIORITY_SUFFIXES)
        status.unacked = int(client.hlen("unacked"))
        status.services["redis"] = "ok"
    except redis.RedisError as error:
        status.services["redis"] = f"error: {error}"[:200]
        return
    finally:
        client.close()
    if probe_workers:
        app = create_celery(runtime.settings)
        try:
            replies = app.control.ping(timeout=1.0) or []
            status.workers = sorted(name for reply in replies for name in reply)
        finally:
            app.close()
