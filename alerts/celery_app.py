"""The Celery application: Redis broker, JSON, late acks, no results, a beat tick a minute."""

from __future__ import annotations

from celery import Celery, signals

from alerts.config import Settings
from alerts.queues import count_into, on_finish, on_publish

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
QUEUE = "newsalerts"
# Each batch takes seconds; an hour leaves a wide margin before Redis redelivers it.
VISIBILITY_TIMEOUT_SECONDS = 3600
TICK_SECONDS = 60.0


def _setup_logging(loglevel: int | str | None = None, **_: object) -> None:
    """Workers and the scheduler log through our configuration (JSON in production)."""
    from alerts.config import load_settings
    from alerts.logs import configure_logging

    configure_logging(load_settings(), level=loglevel or "INFO")


signals.setup_logging.connect(_setup_logging, weak=False)
# Stamp each task with its publishing time and count tasks in and out (see alerts.queues).
signals.before_task_publish.connect(on_publish, weak=False)
signals.task_postrun.connect(on_finish, weak=False)


def create_celery(settings: Settings) -> Celery:
    app = Celery(
        "newsalerts", broker=settings.redis_url or DEFAULT_BROKER, include=["alerts.tasks"]
    )
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUEUE,
        broker_transport_options={"visibility_timeout": VISIBILITY_TIMEOUT_SECONDS},
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        # A Redis blip must not cancel a batch mid-group (its rows would be "unknown").
        worker_cancel_long_running_tasks_on_connection_loss=False,
        timezone="UTC",
        beat_schedule={
            "digest-tick": {"task": "newsalerts.tick", "schedule": TICK_SECONDS},
            "feed-poll": {"task": "newsalerts.poll_feeds", "schedule": TICK_SECONDS},
        },
    )
    if settings.redis_url:
        count_into(settings.redis_url)
    return app
