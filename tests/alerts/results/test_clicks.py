"""Following tracked links and loading the open pixel, on real deliveries of a real send."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.config import Settings, load_settings
from alerts.models import Article, Click, Delivery, DeliveryStatus
from alerts.results.clicks import SCANNER_GRACE, follow_click, record_open, scanner_reason
from alerts.runtime import Runtime
from subscribers.database import utcnow
from subscribers.lifecycle import erase
from subscribers.models import Subscriber
from subscribers.services import Origin
from tests.support.sending import (
    add_reader,
    add_stories,
    recorded_clicks,
    send_issue,
    tracked_edition,
)
from tests.support.smtp_server import RecordingSMTPServer

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)
CUBOT = (
    "Mozilla/5.0 (Linux; Android 11; CUBOT P50) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)
SCANNERS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "BingPreview/1.0b",
    "Proofpoint URL Defense",
    "Mimecast-URL-Protect/1.0",
    "Barracuda Sentinel (EE)",
    "python-requests/2.32.3",
    "curl/8.5.0",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Go-http-client/1.1",
    "",
]
SENT = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize("agent", SCANNERS)
def test_scanner_agents_are_recognised(agent: str) -> None:
    later = SENT + timedelta(hours=1)
    assert scanner_reason(method="GET", user_agent=agent, sent_at=SENT, now=later) == "agent"


@pytest.mark.parametrize("agent", [CHROME, IPHONE, CUBOT])
def test_readers_browsers_are_not_scanners(agent: str) -> None:
    later = SENT + timedelta(hours=1)
    assert scanner_reason(method="GET", user_agent=agent, sent_at=SENT, now=later) is None
    assert scanner_reason(method="HEAD", user_agent=agent, sent_at=SENT, now=later) == "head"
    too_soon = SENT + SCANNER_GRACE - timedelta(seconds=1)
    assert scanner_reason(method="GET", user_agent=agent, sent_at=SENT, now=too_soon) == (
        "too soon"
    )
    assert scanner_reason(method="GET", user_agent=agent, sent_at=None, now=later) is None


# --- on a real send ----------------------------------------------------------------------


@pytest.fixture
def send_settings(database_url: str, smtp_server: RecordingSMTPServer, tmp_path: Path) -> Settings:
    return load_settings(
        database_url=database_url,
        smtp_url=smtp_server.url,
        secret_key="clicks-test-secret-key-0123456789abcdef",
        base_url="https://alerts.example.com",
        redis_url=None,
        _env_file=None,
    )


@pytest.fixture
def runtime(send_settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime.from_settings(send_settings)
    yield runtime
    runtime.close()


def _sent(
    runtime: Runtime, db: Session, *, clicks: bool = True, opens: bool = False
) -> tuple[Delivery, list[int], datetime]:
    """One reader sent today's issue of the three stories; their delivery, the stories, and
    a moment well after the send."""
    now = utcnow()
    tracked_edition(db, clicks=clicks, opens=opens, now=now)
    stories = add_stories(db, now=now)
    add_reader(db, "ada", now=now)
    started = send_issue(runtime, "morning", now=now)
    assert started.planned == 1
    delivery = db.scalars(select(Delivery)).one()
    assert delivery.status is DeliveryStatus.SENT and delivery.sent_at is not None
    return delivery, stories, delivery.sent_at + timedelta(minutes=5)


def test_a_readers_click_goes_to_the_article_at_that_position_and_is_recorded(
    runtime: Runtime, db: Session
) -> None:
    delivery, stories, later = _sent(runtime, db)
    assert sorted(delivery.article_ids) == sorted(stories)
    for position in (1, 2, 3, 2):
        followed = follow_click(
            db, delivery_id=delivery.id, position=position, method="GET", user_agent=CHROME,
            now=later,
        )  # fmt: skip
        assert followed is not None and followed.recorded
        article = db.get(Article, delivery.article_ids[position - 1])
        assert article is not None and followed.url == article.url
    db.commit()
    recorded = recorded_clicks(db)
    assert [(c.position, c.article_id) for c in recorded] == [
        (p, delivery.article_ids[p - 1]) for p in (1, 2, 3, 2)
    ]
    assert {c.issue_id for c in recorded} == {delivery.issue_id}
    assert {c.delivery_id for c in recorded} == {delivery.id}


def test_scanners_are_redirected_but_not_recorded(runtime: Runtime, db: Session) -> None:
    delivery, _stories, later = _sent(runtime, db)
    assert delivery.sent_at is not None
    hits = [
        ("GET", SCANNERS[0], later),
        ("HEAD", CHROME, later),
        ("GET", CHROME, delivery.sent_at + timedelta(seconds=3)),
    ]
    for method, agent, when in hits:
        followed = follow_click(
            db, delivery_id=delivery.id, position=1, method=method, user_agent=agent, now=when
        )
        assert followed is not None
        assert followed.url.startswith("https://news.example.com/")
        assert not followed.recorded and followed.scanner
    db.commit()
    assert recorded_clicks(db) == []


@pytest.mark.parametrize("position", [0, 4, -1, 10**6])
def test_positions_outside_the_digest_lead_nowhere(
    runtime: Runtime, db: Session, position: int
) -> None:
    delivery, _stories, later = _sent(runtime, db)
    assert (
        follow_click(
            db,
            delivery_id=delivery.id,
            position=position,
            method="GET",
            user_agent=CHROME,
            now=later,
        )
        is None
    )


@pytest.mark.parametrize("delivery_id", [0, -5, 999_999, 2**63, 10**30])
def test_unknown_deliveries_lead_nowhere(runtime: Runtime, db: Session, delivery_id: int) -> None:
    _sent(runtime, db)
    assert (
        follow_click(
            db, delivery_id=delivery_id, position=1, method="GET", user_agent=CHROME, now=utcnow()
        )
        is None
    )
    assert not record_open(db, delivery_id=delivery_id, method="GET", now=utcnow())


def test_without_click_tracking_links_still_lead_on_but_nothing_is_recorded(
    runtime: Runtime, db: Session
) -> None:
    delivery, _stories, later = _sent(runtime, db, clicks=False, opens=True)
    followed = follow_click(
        db, delivery_id=delivery.id, position=1, method="GET", user_agent=CHROME, now=later
    )
    assert followed is not None and not followed.recorded
    db.commit()
    assert recorded_clicks(db) == []


def test_an_open_is_recorded_once_and_only_when_the_edition_tracks_opens(
    runtime: Runtime, db: Session
) -> None:
    delivery, _stories, later = _sent(runtime, db, opens=True)
    assert not record_open(db, delivery_id=delivery.id, method="HEAD", now=later)
    assert record_open(db, delivery_id=delivery.id, method="GET", now=later)
    assert not record_open(db, delivery_id=delivery.id, method="GET", now=later + timedelta(1))
    db.commit()
    db.expire_all()
    assert db.get(Delivery, delivery.id).opened_at == later  # type: ignore[union-attr]


def test_opens_are_not_recorded_without_open_tracking(runtime: Runtime, db: Session) -> None:
    delivery, _stories, later = _sent(runtime, db, opens=False)
    assert not record_open(db, delivery_id=delivery.id, method="GET", now=later)
    db.commit()
    db.expire_all()
    assert db.get(Delivery, delivery.id).opened_at is None  # type: ignore[union-attr]


def test_clicks_go_with_the_reader_when_the_reader_is_erased(runtime: Runtime, db: Session) -> None:
    delivery, _stories, later = _sent(runtime, db)
    follow_click(db, delivery_id=delivery.id, position=1, method="GET", user_agent=CHROME,
                 now=later)  # fmt: skip
    db.commit()
    assert len(recorded_clicks(db)) == 1
    reader = db.get(Subscriber, delivery.subscriber_id)
    assert reader is not None
    erase(db, reader, hash_key="test-hash-key", origin=Origin("test"))
    db.commit()
    assert db.scalar(select(func.count()).select_from(Click)) == 0
    assert db.scalar(select(func.count()).select_from(Delivery)) == 0
