"""Breaking alerts: who gets one, the daily cap, the email, and never twice."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from alerts.config import Settings
from alerts.digests.breaking import alert_key, create_alert, plan_alert
from alerts.errors import AlertError
from alerts.jobs import send_queued_batch, start_alert
from alerts.models import DeliveryStatus
from alerts.runtime import Runtime
from tests.factories import ledger, make_article, make_reader, utc
from tests.support.publishing import Published
from tests.support.smtp_server import RecordingSMTPServer

NOW = utc(2026, 3, 10, 8, 0)


def _opt_in(*readers: object) -> None:
    for reader in readers:
        reader.breaking_alerts = True  # type: ignore[attr-defined]


def test_alerts_go_to_opted_in_followers_once(session: Session) -> None:
    follower = make_reader(session, "follower", topics=["Election"])
    everything = make_reader(session, "everything")
    other = make_reader(session, "other", topics=["Sport"])
    make_reader(session, "digest-only", topics=["Election"])  # did not opt in
    _opt_in(follower, everything, other)
    article = make_article(session, "result", published_at=NOW, topics=["Election"])
    alert = create_alert(session, article_id=article, created_by="user:ed@example.com", now=NOW)
    plan, ids = plan_alert(session, alert, now=NOW, per_day=3)
    assert (plan.audience, plan.planned) == (2, 2)
    rows = ledger(session)
    assert {row.subscriber_id for row in rows} == {follower.id, everything.id}
    assert {row.edition for row in rows} == {alert_key(alert.id)}
    assert sorted(ids) == sorted(row.id for row in rows)
    again, more = plan_alert(session, alert, now=NOW + timedelta(minutes=1), per_day=3)
    assert (again.planned, more) == (0, [])
    with pytest.raises(AlertError, match="already"):
        create_alert(session, article_id=article, created_by="cli", now=NOW)
    with pytest.raises(AlertError, match="no article"):
        create_alert(session, article_id=999_999, created_by="cli", now=NOW)


def test_the_daily_cap_counts_per_local_day(session: Session) -> None:
    reader = make_reader(session, "ada", timezone="Europe/Paris")
    _opt_in(reader)
    planned = []
    for number in range(3):
        article = make_article(session, f"news-{number}", published_at=NOW)
        alert = create_alert(session, article_id=article, created_by="cli", now=NOW)
        plan, _ = plan_alert(session, alert, now=NOW, per_day=2)
        planned.append((plan.planned, plan.over_cap))
    assert planned == [(1, 0), (1, 0), (0, 1)]
    tomorrow = NOW + timedelta(days=1)
    article = make_article(session, "next-day", published_at=tomorrow)
    alert = create_alert(session, article_id=article, created_by="cli", now=tomorrow)
    assert plan_alert(session, alert, now=tomorrow, per_day=2)[0].planned == 1


def test_an_alert_email_reaches_the_reader(
    settings: Settings, smtp_server: RecordingSMTPServer
) -> None:
    runtime = Runtime.from_settings(settings.model_copy(update={"smtp_url": smtp_server.url}))
    published = Published()
    try:
        with runtime.session() as session:
            reader = make_reader(session, "ada", topics=["Election"])
            _opt_in(reader)
            article = make_article(session, "count-is-in", published_at=NOW, topics=["Election"])
            session.commit()
        started = start_alert(runtime, article_id=article, now=NOW, actor="cli",
                              publish=published)  # fmt: skip
        assert started.planned == started.queued == 1
        assert published.urgent == list(published) != []  # ahead of any digest backlog
        for batch in published:
            send_queued_batch(runtime, batch)
        [received] = smtp_server.messages
        message = received.message
        assert message["Subject"] == "Breaking: Count is in"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "https://news.example.com/count-is-in" in message.get_body(("plain",)).get_content()
        with runtime.session() as session:
            [row] = ledger(session)
            assert row.status is DeliveryStatus.SENT and row.alert_id == started.alert_id
    finally:
        runtime.close()
