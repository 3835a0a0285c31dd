"""`newsalerts demo`: the whole job on the embedded default, in a fresh SQLite store.

Ingest the bundled site feed (its dates moved so the newest story is from a few minutes
ago), create sample readers, plan today's digests for everyone (regardless of their hour),
deliver them in-process into an outbox folder or a real SMTP server, and index the outbox.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from alerts.config import Settings, load_settings
from alerts.db import upgrade
from alerts.delivery.sending import BatchResult
from alerts.demo.outbox import prepare_outbox, write_index
from alerts.demo.readers import sample_readers
from alerts.feeds.articles import ArticleInput, upsert_articles
from alerts.feeds.reading import parse_feed
from alerts.jobs import plan_and_queue, send_queued_batch
from alerts.runtime import Runtime
from subscribers.database import utcnow
from subscribers.models import Frequency
from subscribers.services import Origin, add_subscriber

SAMPLE_FEED = Path(__file__).resolve().parent / "sample_data" / "site-feed.xml"
FRESHEST_STORY_AGE = timedelta(minutes=12)


@dataclass
class DemoResult:
    store: Path
    outbox: Path | None
    # The relays delivered to, by their names (`alerts.config.Relay.name`): never a URL,
    # which may carry a password.
    relays: tuple[str, ...]
    articles: int
    readers: int
    planned: int
    skipped_empty: int
    delivery: BatchResult
    seconds: float
    send_seconds: float


def rebased_sample_articles(now: datetime) -> list[ArticleInput]:
    """The bundled feed, shifted in time so its newest story was published just now."""
    items = parse_feed(SAMPLE_FEED.read_bytes(), source="bundled sample feed").articles
    newest = max(item.published_at for item in items if item.published_at is not None)
    shift = (now - FRESHEST_STORY_AGE) - newest
    return [
        dataclasses.replace(item, published_at=item.published_at + shift)
        if item.published_at is not None
        else item
        for item in items
    ]


def demo_settings(store: Path, outbox: Path | None, smtp_url: str | None) -> Settings:
    return load_settings(
        database_url=f"sqlite:///{store / 'newsalerts.db'}",
        smtp_url=smtp_url or f"file://{outbox}",
        redis_url=None,
    )


def run_demo(
    *,
    readers: int,
    out: Path,
    smtp_url: str | None = None,
    on_planned: Callable[[int], None] | None = None,
    on_message: Callable[[], None] | None = None,
) -> DemoResult:
    started = time.perf_counter()
    messages = None if smtp_url else prepare_outbox(out)
    store = Path(tempfile.mkdtemp(prefix="newsalerts-demo-"))
    settings = demo_settings(store, messages, smtp_url)
    upgrade(settings.database_url)
    runtime = Runtime.from_settings(settings)
    now = utcnow()
    try:
        with runtime.session() as session:
            ingested = upsert_articles(
                session, rebased_sample_articles(now), source="bundled sample feed", now=now,
                new_topics_public=True,
            )  # fmt: skip
            slugs = sorted(
                {topic.slug for article in ingested.articles for topic in article.topics}
            )
            origin = Origin(source="demo", details={"note": "invented sample reader"})
            for reader in sample_readers(readers, slugs):
                add_subscriber(
                    session,
                    email=reader.email,
                    name=reader.name,
                    topics=reader.topics,
                    frequency=Frequency(reader.frequency),
                    timezone=reader.timezone,
                    send_hour=reader.hour,
                    confirmed=True,
                    origin=origin,
                    hash_key=settings.secret_key,
                    now=now,
                )
            session.commit()
        # The demo's few readers are planned in full before sending, so the progress bar
        # knows its total (alerts/cli/digests.py sends each chunk as it is planned).
        planned: list[list[int]] = []
        run = plan_and_queue(
            runtime, now=now, force=True,
            publish=lambda batches, *, urgent: planned.extend(batches),
        )  # fmt: skip
        if on_planned is not None:
            on_planned(run.queued)
        delivery = BatchResult()
        sending = time.perf_counter()
        for batch in planned:
            delivery.add(send_queued_batch(runtime, batch, on_message=on_message))
        send_seconds = time.perf_counter() - sending
    finally:
        runtime.close()
    if not smtp_url:
        write_index(out, title=f"{settings.site_name} — demo outbox")
    return DemoResult(
        store=store,
        outbox=None if smtp_url else out,
        relays=tuple(relay.name for relay in settings.relays),
        articles=ingested.created + ingested.updated,
        readers=readers,
        planned=run.plan.planned,
        skipped_empty=run.plan.skipped_empty,
        delivery=delivery,
        seconds=time.perf_counter() - started,
        send_seconds=send_seconds,
    )
