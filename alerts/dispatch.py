"""Publishing send batches to Celery workers, after the ledger rows are committed."""

from __future__ import annotations

from collections.abc import Sequence

from alerts.celery_app import create_celery
from alerts.config import Settings
from alerts.tasks import SEND_BATCH


def publish_batches(settings: Settings, batches: Sequence[list[int]]) -> None:
    """One task per batch; each carries ledger ids only."""
    app = create_celery(settings)
    try:
        with app.producer_or_acquire() as producer:
            for batch in batches:
                app.send_task(SEND_BATCH, args=[batch], producer=producer)
    finally:
        app.close()
