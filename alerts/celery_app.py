"""The Celery application: Redis broker, JSON, late acks, no results, a beat tick a minute."""

from __future__ import annotations

from celery import Celery

from alerts.config import Settings

DEFAULT_BROKER = "redis://127.0.0.1:6379/0"
QUEUE = "newsalerts"
# Each batch takes seconds; an hour leaves a wide margin before Redis redelivers it.
VISIBILITY_TIMEOUT_SECONDS = 3600
TICK_SECONDS = 60.0


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
        timezone="UTC",
        beat_schedule={
            "digest-tick": {"task": "newsalerts.tick", "schedule": TICK_SECONDS},
        },
    )
    return app
