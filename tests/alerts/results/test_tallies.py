"""Results of an issue and an alert, and which stories readers chose, after a real send.

Four readers get today's issue of a tracked edition: ada all three stories, bob two, cat
one, and dan's address is refused by the relay. Then readers click (and a scanner does),
bounces and a complaint come back, and two readers unsubscribe — one within the 7 days
that count, one after them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from alerts.config import Settings, load_settings
from alerts.editions.issues import find_issue, issue_for
from alerts.models import (
    Article,
    BreakingAlert,
    Delivery,
    Edition,
    FeedbackEvent,
    FeedbackKind,
    Issue,
)
from alerts.results.clicks import follow_click, record_open
from alerts.results.tallies import (
    Tally,
    alert_results,
    clicks_per_day,
    issue_results,
    issue_summaries,
    reader_choices,
    recent_alerts,
    sent_issues,
)
from alerts.runtime import Runtime
from subscribers.database import utcnow
from subscribers.lifecycle import unsubscribe
from subscribers.models import ConsentEvent, ConsentKind, Subscriber
from subscribers.services import Origin
from tests.support.sending import (
    add_reader,
    add_stories,
    delivery_of,
    send_alert,
    send_issue,
    tracked_edition,
)
from tests.support.smtp_server import RecordingSMTPServer

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0"


@pytest.fixture
def runtime(
    database_url: str, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> Iterator[Runtime]:
    settings: Settings = load_settings(
        database_url=database_url,
        smtp_url=smtp_server.url,
        secret_key="results-test-secret-key-0123456789abcdef",
        base_url="https://alerts.example.com",
        redis_url=None,
        _env_file=None,
    )
    runtime = Runtime.from_settings(settings)
    yield runtime
    runtime.close()


@dataclass
class Sent:
    issue: Issue
    later: datetime  # a moment after the send, when readers click
    titles: dict[int, str]  # article id -> slug-like title


def _click(db: Session, email: str, position: int, later: datetime, agent: str = CHROME) -> None:
    delivery = delivery_of(db, email)
    followed = follow_click(
        db, delivery_id=delivery.id, position=position, method="GET", user_agent=agent, now=later
    )
    assert followed is not None


def _feedback(db: Session, email: str, kind: FeedbackKind) -> None:
    delivery = delivery_of(db, email)
    db.add(
        FeedbackEvent(
            report_key=f"{email}-{kind}",
            delivery_id=delivery.id,
            subscriber_id=delivery.subscriber_id,
            kind=kind,
            source="test",
        )
    )


def _unsubscribe(db: Session, email: str, *, at: datetime) -> None:
    reader = db.scalar(select(Subscriber).where(Subscriber.email == email))
    assert reader is not None
    assert unsubscribe(db, reader, origin=Origin("test"), now=at)
    db.flush()
    db.execute(
        update(ConsentEvent)
        .where(
            ConsentEvent.subscriber_id == reader.id, ConsentEvent.kind == ConsentKind.UNSUBSCRIBE
        )
        .values(occurred_at=at)
    )


@pytest.fixture
def sent(runtime: Runtime, db: Session, smtp_server: RecordingSMTPServer) -> Sent:
    now = utcnow()
    tracked_edition(db, clicks=True, opens=True, now=now)
    stories = add_stories(db, now=now)
    add_reader(db, "ada", now=now)
    add_reader(db, "bob", topics=("Markets", "Storms"), now=now)
    add_reader(db, "cat", topics=("Football",), now=now)
    add_reader(db, "dan", now=now)
    smtp_server.refuse("dan@example.org", "550 5.1.1 no such user")
    started = send_issue(runtime, "morning", now=now)
    assert started.planned == 4
    assert len(smtp_server.messages) == 3
    issue = db.get(Issue, started.issue_id)
    assert issue is not None
    ada = delivery_of(db, "ada@example.org")
    assert ada.sent_at is not None
    later = ada.sent_at + timedelta(minutes=5)
    assert [db.get(Article, i).title for i in ada.article_ids] == [  # type: ignore[union-attr]
        "Markets rally", "Storm warning", "Cup final",
    ]  # fmt: skip
    assert len(delivery_of(db, "bob@example.org").article_ids) == 2
    assert len(delivery_of(db, "cat@example.org").article_ids) == 1
    _click(db, "ada@example.org", 1, later)
    _click(db, "ada@example.org", 1, later + timedelta(minutes=1))
    _click(db, "ada@example.org", 3, later)
    _click(db, "ada@example.org", 2, later, agent="Mimecast-URL-Protect/1.0")  # not counted
    _click(db, "bob@example.org", 2, later)
    _click(db, "cat@example.org", 1, later)
    record_open(db, delivery_id=ada.id, method="GET", now=later)
    _feedback(db, "bob@example.org", FeedbackKind.HARD_BOUNCE)
    _feedback(db, "cat@example.org", FeedbackKind.SOFT_BOUNCE)
    _feedback(db, "ada@example.org", FeedbackKind.COMPLAINT)
    _unsubscribe(db, "ada@example.org", at=ada.sent_at + timedelta(days=2))
    _unsubscribe(db, "bob@example.org", at=ada.sent_at + timedelta(days=8))
    db.commit()
    titles = {i: db.get(Article, i).title for i in stories}  # type: ignore[union-attr]
    return Sent(issue=issue, later=later, titles=titles)


def test_an_issues_counts(db: Session, sent: Sent) -> None:
    results = issue_results(db, sent.issue)
    assert (results.sent, results.failed, results.to_send) == (3, 1, 0)
    # The reports are written straight into the table here, so bob's row stays `sent`; a
    # hard bounce through the policy makes it `bounced` (tests/alerts/feedback).
    assert (results.hard_bounced, results.soft_bounced, results.bounced) == (1, 1, 0)
    assert results.complained == 1
    assert results.unsubscribed == 1  # ada within 7 days; bob after 8 is not counted
    assert (results.clicks, results.readers_clicked) == (5, 3)
    assert results.click_rate == 1.0
    assert results.opens == 1


def test_clicks_per_article_with_their_rates(db: Session, sent: Sent) -> None:
    articles = issue_results(db, sent.issue).articles
    assert [(a.title, a.position, a.tally.recipients, a.tally.clicks, a.tally.readers)
            for a in articles] == [
        ("Cup final", 1, 2, 2, 2),  # ada had it third, cat first: a tie, the higher place
        ("Markets rally", 1, 2, 2, 1),
        ("Storm warning", 2, 2, 1, 1),
    ]  # fmt: skip
    assert [a.tally.rate for a in articles] == [1.0, 0.5, 0.5]
    assert articles[0].section == "Sport" and articles[0].topics == ("Football",)


def test_clicks_per_position_count_readers_who_had_that_position(db: Session, sent: Sent) -> None:
    positions = issue_results(db, sent.issue).positions
    assert positions == [
        Tally("1", recipients=3, clicks=3, readers=2),
        Tally("2", recipients=2, clicks=1, readers=1),
        Tally("3", recipients=1, clicks=1, readers=1),
    ]


def test_opens_are_none_when_not_tracked(db: Session, sent: Sent) -> None:
    edition = db.get(Edition, sent.issue.edition_id)
    assert edition is not None
    edition.open_tracking = False
    db.commit()
    db.expire_all()
    issue = db.get(Issue, sent.issue.id)
    assert issue is not None
    assert issue_results(db, issue).opens is None
    assert issue_summaries(db, [issue])[0].opens is None


def test_the_overview_line_of_each_issue(db: Session, sent: Sent) -> None:
    edition = db.get(Edition, sent.issue.edition_id)
    assert edition is not None
    # An issue nobody was sent is not listed.
    issue_for(db, edition, sent.issue.local_date + timedelta(days=1), now=utcnow())
    db.commit()
    issues = sent_issues(db, edition)
    assert [issue.id for issue in issues] == [sent.issue.id]
    [line] = issue_summaries(db, issues)
    assert (line.sent, line.failed, line.clicks, line.readers_clicked, line.opens) == (
        3, 1, 5, 3, 1,
    )  # fmt: skip
    assert line.click_rate == 1.0


def test_which_stories_readers_chose(db: Session, sent: Sent) -> None:
    edition = db.get(Edition, sent.issue.edition_id)
    assert edition is not None
    choices = reader_choices(db, edition, last=10, top=2)
    assert [issue.id for issue in choices.issues] == [sent.issue.id]
    assert [(t.label, t.clicks) for t in choices.positions] == [("1", 3), ("2", 1), ("3", 1)]
    assert choices.sections == [
        Tally("Sport", recipients=2, clicks=2, readers=2),
        Tally("Business", recipients=2, clicks=2, readers=1),
        Tally("Weather", recipients=2, clicks=1, readers=1),
    ]
    assert [(t.label, t.readers) for t in choices.topics] == [
        ("Football", 2), ("Markets", 1), ("Storms", 1),
    ]  # fmt: skip
    assert [a.title for a in choices.top_articles[sent.issue.id]] == [
        "Cup final", "Markets rally",
    ]  # fmt: skip


def test_clicks_per_day_over_the_last_30_days(db: Session, sent: Sent) -> None:
    edition = db.get(Edition, sent.issue.edition_id)
    assert edition is not None
    days = clicks_per_day(db, edition, now=sent.later + timedelta(minutes=5), days=30)
    assert len(days) == 30
    assert days[-1].label == (sent.later + timedelta(minutes=5)).date().isoformat()
    assert sum(day.clicks for day in days) == 5
    assert days[-1].clicks == 5 or days[-2].clicks + days[-1].clicks == 5
    # A day later in a zone far west, the clicks still fall on one local day.
    western = clicks_per_day(
        db, edition, now=sent.later + timedelta(days=1), days=30, timezone="America/Los_Angeles"
    )
    assert sum(day.clicks for day in western) == 5


def test_an_issue_with_nothing_sent_has_zero_counts(db: Session, sent: Sent) -> None:
    edition = db.get(Edition, sent.issue.edition_id)
    assert edition is not None
    empty = issue_for(db, edition, sent.issue.local_date - timedelta(days=1), now=utcnow())
    db.commit()
    results = issue_results(db, empty)
    assert (results.sent, results.clicks, results.unsubscribed) == (0, 0, 0)
    assert results.articles == [] and results.positions == []
    assert find_issue(db, edition.id, empty.local_date) is not None


def test_an_alerts_counts(runtime: Runtime, db: Session, sent: Sent) -> None:
    now = utcnow()
    add_reader(db, "eve", now=now, alerts=True)
    [story_id, *_] = sent.titles
    started = send_alert(runtime, story_id, now=now)
    assert started.planned == 1
    eve = delivery_of(db, "eve@example.org")
    assert eve.sent_at is not None
    _unsubscribe(db, "eve@example.org", at=eve.sent_at + timedelta(hours=1))
    db.commit()
    alert = db.get(BreakingAlert, started.alert_id)
    assert alert is not None
    results = alert_results(db, alert)
    assert (results.sent, results.failed, results.unsubscribed, results.clicks) == (1, 0, 1, 0)
    assert results.opens is None and not results.click_tracking
    assert recent_alerts(db) == [alert]
    # The alert's unsubscribe is not the morning issue's: eve never received it.
    assert issue_results(db, sent.issue).unsubscribed == 1
    assert db.scalar(select(Delivery.id).where(Delivery.alert_id == alert.id)) == eve.id
