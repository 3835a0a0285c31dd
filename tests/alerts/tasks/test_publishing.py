"""Which Celery queue each kind of work is published to, read back from a real Redis broker.
No worker runs here: every message stays where it was put."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import select

from alerts.config import Settings
from alerts.delivery.notices import queue_notice
from alerts.editions.schedules import ensure_default_editions
from alerts.jobs import plan_and_queue, send_now, start_alert
from alerts.mail.notices import Notice
from alerts.models import Article, Delivery
from alerts.runtime import Runtime
from alerts.tasks.app import BULK_QUEUE, SEND_BATCH, SEND_NOTICE, URGENT_QUEUE
from alerts.tasks.publishing import batch_publisher
from alerts.web.context import WebContext
from subscribers.models import Subscriber
from tests.factories import make_article, make_reader, utc

NOW = utc(2026, 3, 10, 8, 0)
BATCH = 2


@pytest.fixture
def broker_settings(settings: Settings, broker_url: str) -> Settings:
    return settings.model_copy(update={"redis_url": broker_url, "batch_size": BATCH})


@pytest.fixture
def runtime(broker_settings: Settings) -> Iterator[Runtime]:
    """Three readers who asked for alerts on "Election", two who did not, all due today's
    daily digest; a story on "Election"; a reader who has yet to confirm."""
    runtime = Runtime.from_settings(broker_settings)
    with runtime.session() as session:
        ensure_default_editions(session, now=NOW)
        for name in ("ada", "bo", "cy"):
            make_reader(session, name, topics=["Election"]).breaking_alerts = True
        for name in ("dee", "eve"):
            make_reader(session, name)
        make_reader(session, "fay", confirmed=False)
        make_article(session, "result", published_at=NOW - timedelta(hours=1),
                     topics=["Election"])  # fmt: skip
        session.commit()
    yield runtime
    runtime.close()


def waiting(broker_url: str, queue: str) -> list[tuple[str, list[Any]]]:
    """The (task, args) of each message waiting in `queue`, oldest first."""
    client = redis.Redis.from_url(broker_url)
    try:
        raw = client.lrange(queue, 0, -1)
    finally:
        client.close()
    found = []
    for message in map(json.loads, reversed(raw)):  # kombu pushes left, workers pop right
        args, _, _ = json.loads(base64.b64decode(message["body"]))
        found.append((message["headers"]["task"], args))
    return found


def story(runtime: Runtime) -> int:
    with runtime.session() as session:
        found = session.scalar(select(Article.id))
    assert found is not None
    return found


def rows(runtime: Runtime, *, alerts: bool) -> list[int]:
    with runtime.session() as session:
        kind = Delivery.alert_id.is_not(None) if alerts else Delivery.alert_id.is_(None)
        return list(session.scalars(select(Delivery.id).where(kind).order_by(Delivery.id)))


def batches_of(ids: list[int]) -> list[tuple[str, list[Any]]]:
    return [(SEND_BATCH, [ids[i : i + BATCH]]) for i in range(0, len(ids), BATCH)]


def test_alerts_and_notices_go_to_the_urgent_queue_digests_to_the_bulk_one(
    runtime: Runtime, broker_settings: Settings, broker_url: str
) -> None:
    with batch_publisher(broker_settings) as publish:
        alert = start_alert(runtime, article_id=story(runtime), now=NOW, actor="test",
                            publish=publish)  # fmt: skip
        digest = send_now(runtime, edition="daily", local_date=None, now=NOW, actor="test",
                          publish=publish)  # fmt: skip
    assert (alert.queued, digest.queued) == (3, 5)
    with runtime.session() as session:
        fay = session.scalar(select(Subscriber.id).where(Subscriber.email == "fay@example.com"))
        assert fay is not None
        notice = queue_notice(session, Notice.CONFIRM, fay, settings=runtime.settings, now=NOW)
        session.commit()
    # The sign-up form's notifier, as the web app builds it with a broker: the outbox row's id.
    WebContext.build(runtime).notify(notice)

    alert_rows, digest_rows = rows(runtime, alerts=True), rows(runtime, alerts=False)
    assert waiting(broker_url, URGENT_QUEUE) == [
        *batches_of(alert_rows),
        (SEND_NOTICE, [notice]),
    ]
    assert waiting(broker_url, BULK_QUEUE) == batches_of(digest_rows)


def test_rows_queued_again_go_by_send_an_alerts_to_the_urgent_queue(
    runtime: Runtime, broker_settings: Settings, broker_url: str
) -> None:
    """The scheduler's tick queues again rows whose message was lost: in batches of one send
    each (the alert's last row and the digest's first would otherwise share one), and the
    alert's to the urgent queue."""
    start_alert(runtime, article_id=story(runtime), now=NOW, actor="test", publish=None)
    send_now(runtime, edition="daily", local_date=None, now=NOW, actor="test", publish=None)
    assert waiting(broker_url, URGENT_QUEUE) == waiting(broker_url, BULK_QUEUE) == []

    lost = NOW + timedelta(seconds=broker_settings.requeue_seconds + 1)
    with batch_publisher(broker_settings) as publish:
        run = plan_and_queue(runtime, now=lost, publish=publish)

    alert_rows, digest_rows = rows(runtime, alerts=True), rows(runtime, alerts=False)
    assert (len(alert_rows), len(digest_rows), run.plan.planned) == (3, 5, 0)
    assert waiting(broker_url, URGENT_QUEUE) == batches_of(alert_rows)
    assert waiting(broker_url, BULK_QUEUE) == batches_of(digest_rows)
    handed = [args[0] for _, args in batches_of(alert_rows) + batches_of(digest_rows)]
    assert (run.batches, run.queued) == (len(handed), sum(map(len, handed)))
