"""The Celery application: Redis broker, JSON, late acks, no results, a beat tick a minute.

Three queues. Breaking alerts, keyword alerts (and the tick that plans them), the notices
a sign-up sends (confirm, manage) and the sweep that recovers a dead worker's rows go to
URGENT_QUEUE; digest batches and the scheduler's tick to BULK_QUEUE; feed polling, which
waits on other people's servers, to FEEDS_QUEUE, under a time limit. Every worker consumes
all three unless told otherwise (`-Q`), in that order, so an alert waits for the batch a
worker has in hand, not for the morning's backlog, and a poll runs only when nothing else
waits. docker-compose gives polling a worker of its own, so a slow feed never holds a
worker the digests need.
"""

from __future__ import annotations

from typing import Any

from celery import Celery, signals
from celery.schedules import crontab
from kombu.entity import Queue

from alerts.config import Settings
from alerts.tasks.presence import on_worker_ready, on_worker_shutdown
from alerts.tasks.queues import count_into, on_finish, on_publish

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
BULK_QUEUE = "newsalerts"
URGENT_QUEUE = "newsalerts.urgent"
FEEDS_QUEUE = "newsalerts.feeds"
# The order a worker takes from them in (see _urgent_first).
QUEUES = (URGENT_QUEUE, BULK_QUEUE, FEEDS_QUEUE)

# Task names, the contract between publishers and workers (the tasks are in alerts.tasks.handlers).
# A batch's queue is chosen as it is published (alerts.tasks.publishing); a notice always goes to
# the urgent queue, whoever publishes it.
SEND_BATCH = "newsalerts.send_batch"
SEND_NOTICE = "newsalerts.send_notice"
TICK = "newsalerts.tick"
POLL_FEEDS = "newsalerts.poll_feeds"
SWEEP = "newsalerts.sweep"
PRUNE_LEDGER = "newsalerts.prune_ledger"
KEYWORD_ALERTS = "newsalerts.keyword_alerts"

# Each batch takes seconds; an hour leaves a wide margin before Redis redelivers it.
VISIBILITY_TIMEOUT_SECONDS = 3600
# A poll of every due feed: at the soft limit it stops after the feed in hand (each feed is
# committed on its own, so what was fetched stays); at the hard one its process is killed.
POLL_SOFT_TIME_LIMIT_SECONDS = 240
POLL_TIME_LIMIT_SECONDS = 300
TICK_SECONDS = 60.0
# A dead worker's rows come back within a heartbeat's TTL plus this (alerts.jobs.sweep).
SWEEP_SECONDS = 10.0


def _setup_logging(loglevel: int | str | None = None, **_: object) -> None:
    """Workers and the scheduler log through our configuration (JSON in production)."""
    from alerts.config import load_settings
    from alerts.logs import configure_logging

    configure_logging(load_settings(), level=loglevel or "INFO")


signals.setup_logging.connect(_setup_logging, weak=False)
# Stamp each task with its publishing time and count tasks in and out (see alerts.tasks.queues).
signals.before_task_publish.connect(on_publish, weak=False)
signals.task_postrun.connect(on_finish, weak=False)
# Each worker node keeps a key in Redis while it runs (see alerts.tasks.presence).
signals.worker_ready.connect(on_worker_ready, weak=False)
signals.worker_shutdown.connect(on_worker_shutdown, weak=False)


def queue_for(*, urgent: bool) -> str:
    return URGENT_QUEUE if urgent else BULK_QUEUE


def _urgent_first(instance: Any = None, **_: object) -> None:
    """`celeryd_after_setup`: whatever order `-Q` names the queues in, consume the urgent
    one first. With the "priority" queue order below, kombu asks Redis for the first
    queue's messages before the next one's (one BRPOP over the keys in this order)."""
    consuming = instance.app.amqp.queues.consume_from
    if URGENT_QUEUE in consuming and next(iter(consuming)) != URGENT_QUEUE:
        reordered = {URGENT_QUEUE: consuming[URGENT_QUEUE], **consuming}
        consuming.clear()
        consuming.update(reordered)


signals.celeryd_after_setup.connect(_urgent_first, weak=False)


def create_celery(settings: Settings) -> Celery:
    app = Celery(
        "newsalerts", broker=settings.redis_url or DEFAULT_BROKER, include=["alerts.tasks.handlers"]
    )
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=BULK_QUEUE,
        task_queues=[Queue(name) for name in QUEUES],  # type: ignore[no-untyped-call]
        task_routes={
            SEND_NOTICE: {"queue": URGENT_QUEUE},
            SWEEP: {"queue": URGENT_QUEUE},
            KEYWORD_ALERTS: {"queue": URGENT_QUEUE},
            POLL_FEEDS: {"queue": FEEDS_QUEUE},
        },
        broker_transport_options={
            "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS,
            # Strict order between a worker's queues, not kombu's default round robin.
            "queue_order_strategy": "priority",
        },
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        # A Redis blip must not cancel a batch mid-group (its rows would be "unknown").
        worker_cancel_long_running_tasks_on_connection_loss=False,
        timezone="UTC",
        beat_schedule={
            "digest-tick": {"task": TICK, "schedule": TICK_SECONDS},
            "feed-poll": {"task": POLL_FEEDS, "schedule": TICK_SECONDS},
            # Keyword alerts as it happens; one that nobody took within the minute is
            # dropped (the next one reads from where the last one stopped).
            "keyword-alerts": {
                "task": KEYWORD_ALERTS,
                "schedule": TICK_SECONDS,
                "options": {"expires": TICK_SECONDS},
            },
            # Sweeps nobody took within a minute are dropped, not piled up (a minute, not
            # one interval: the expiry is the publisher's clock read by another host's).
            # Once a day, at a quiet hour of most of the world's mornings' sends.
            "ledger-prune": {"task": PRUNE_LEDGER, "schedule": crontab(hour=3, minute=17)},
            "sweep": {
                "task": SWEEP,
                "schedule": SWEEP_SECONDS,
                "options": {"expires": 6 * SWEEP_SECONDS},
            },
        },
    )
    if settings.redis_url:
        count_into(settings.redis_url)
    return app
