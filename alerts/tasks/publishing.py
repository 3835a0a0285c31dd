"""Publishing send batches to Celery workers, after their ledger rows are committed."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from celery import Celery

from alerts.config import Settings
from alerts.ledger.queue import Publish
from alerts.tasks.app import SEND_BATCH, create_celery, queue_for


def publisher_for(app: Celery) -> Publish:
    """A function that publishes batches (one task each, carrying ledger ids only) to the
    urgent queue or the bulk one."""

    def publish(batches: list[list[int]], *, urgent: bool) -> None:
        queue = queue_for(urgent=urgent)
        with app.producer_or_acquire() as producer:
            for batch in batches:
                app.send_task(SEND_BATCH, args=[batch], queue=queue, producer=producer)

    return publish


@contextmanager
def batch_publisher(settings: Settings) -> Iterator[Publish]:
    app = create_celery(settings)
    try:
        yield publisher_for(app)
    finally:
        app.close()


def publish_batches(settings: Settings, batches: Sequence[list[int]], *, urgent: bool) -> None:
    with batch_publisher(settings) as publish:
        publish(list(batches), urgent=urgent)
