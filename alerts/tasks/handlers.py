"""Celery tasks: thin adapters that carry ids and call the digest run functions."""

from __future__ import annotations

import logging

from celery import current_app, shared_task
from sqlalchemy.exc import OperationalError

from alerts.delivery.notices import queue_notice, send_notice
from alerts.errors import LivenessLost
from alerts.feeds.polling import poll_due_sources
from alerts.jobs import (
    plan_and_queue,
    plan_keyword_alerts_and_queue,
    prune,
    send_queued_batch,
    sweep,
)
from alerts.mail.notices import Notice
from alerts.runtime import process_runtime
from alerts.tasks.app import (
    KEYWORD_ALERTS,
    POLL_FEEDS,
    POLL_SOFT_TIME_LIMIT_SECONDS,
    POLL_TIME_LIMIT_SECONDS,
    PRUNE_LEDGER,
    SEND_BATCH,
    SEND_NOTICE,
    SWEEP,
    TICK,
)
from alerts.tasks.beat import record_tick
from alerts.tasks.publishing import publisher_for
from subscribers.database import utcnow

log = logging.getLogger(__name__)

__all__ = [
    "KEYWORD_ALERTS",
    "POLL_FEEDS",
    "PRUNE_LEDGER",
    "SEND_BATCH",
    "SEND_NOTICE",
    "SWEEP",
    "TICK",
]

# A database that is briefly unreachable is worth a few short retries; the ledger makes
# the repeat harmless, and the scheduler re-queues anything still pending later anyway.
_RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": 5, "max_retries": 5}


@shared_task(
    name=SEND_BATCH,
    acks_late=True,
    ignore_result=True,
    # A worker that cannot reach Redis to prove it is alive claims nothing; try again.
    autoretry_for=(OperationalError, LivenessLost),
    retry_backoff=5,
    max_retries=5,
)
def send_batch_task(delivery_ids: list[int]) -> None:
    """A batch of a digest's or a breaking alert's rows (tasks.publishing chose its queue)."""
    send_queued_batch(process_runtime(), [int(i) for i in delivery_ids])


@shared_task(name=SEND_NOTICE, acks_late=True, ignore_result=True, **_RETRY)
def send_notice_task(notice_id: int | str, subscriber_id: int | None = None) -> None:
    """A notice of the outbox, by id: sent once, its outcome recorded; a temporary SMTP
    failure is retried by the tick at the row's retry time, not here.

    A message of the previous form, `[kind, subscriber id]` (published before an upgrade),
    is written to the outbox first, then sent the same way."""
    runtime = process_runtime()
    with runtime.session() as session:
        if subscriber_id is not None:
            notice_id = queue_notice(session, Notice(str(notice_id)), int(subscriber_id),
                                     settings=runtime.settings, now=utcnow())  # fmt: skip
            session.commit()
        send_notice(session, int(notice_id), sender=runtime.notice_sender())


@shared_task(name=TICK, acks_late=True, ignore_result=True, **_RETRY)
def tick() -> None:
    """Every minute: plan whoever's hour has come, queue every sendable row (a breaking
    alert's to the urgent queue)."""
    runtime = process_runtime()
    plan_and_queue(runtime, now=utcnow(), publish=publisher_for(current_app))
    record_tick(runtime.settings.redis_url, utcnow())


@shared_task(name=KEYWORD_ALERTS, acks_late=True, ignore_result=True, **_RETRY)
def keyword_alerts_task() -> None:
    """Every minute, on the urgent queue: plan the keyword alerts now due and queue them."""
    plan_keyword_alerts_and_queue(
        process_runtime(), now=utcnow(), publish=publisher_for(current_app)
    )


@shared_task(name=SWEEP, acks_late=True, ignore_result=True, **_RETRY)
def sweep_task() -> None:
    """Every few seconds: recover a dead worker's rows, notice a broker that lost its
    queues, queue what is ready."""
    sweep(process_runtime(), now=utcnow(), publish=publisher_for(current_app))


@shared_task(name=PRUNE_LEDGER, acks_late=True, ignore_result=True, **_RETRY)
def prune_ledger_task() -> None:
    """Once a day: delete the ledger rows older than LEDGER_KEEP_DAYS, a chunk at a time,
    drop the weekly partitions past it and make the weeks ahead on PostgreSQL (run twice,
    the second finds nothing left to do)."""
    prune(process_runtime(), now=utcnow())


@shared_task(
    name=POLL_FEEDS,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=POLL_SOFT_TIME_LIMIT_SECONDS,
    time_limit=POLL_TIME_LIMIT_SECONDS,
    **_RETRY,
)
def poll_feeds() -> None:
    """Every minute, on the feeds queue: fetch the feed sources whose polling interval has
    passed, within the poll's time limit (the next tick takes up what is left)."""
    runtime = process_runtime()
    poll_due_sources(
        runtime.session, now=utcnow(), allow_private=runtime.settings.feeds_allow_private,
        language=runtime.settings.default_language,
    )  # fmt: skip
