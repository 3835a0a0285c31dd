"""Keyword alerts as it happens: who gets one, batching, the window, the daily cap shared
with breaking alerts, and never twice."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import event, select, update
from sqlalchemy.orm import Session

from alerts.digests.as_it_happens import COMMIT_MARGIN, alert_slot, plan_keyword_alerts
from alerts.digests.breaking import create_alert, plan_alert
from alerts.feeds.articles import ArticleInput, upsert_articles
from alerts.models import Delivery, DeliveryStatus, keyword_alert_edition
from subscribers.keywords import parse_keywords, set_keywords
from subscribers.models import ReaderKeyword, Subscriber, SubscriberStatus
from tests.factories import ledger, make_article, make_reader, utc

NOW = utc(2026, 11, 25, 9, 0)
MINUTES = 60


def _follow(
    session: Session, reader: Subscriber, *words: str, at: datetime = NOW - timedelta(days=1)
) -> None:
    """The reader follows `words` since `at`, with keyword alerts on since then."""
    set_keywords(session, reader, parse_keywords(list(words)))
    session.execute(
        update(ReaderKeyword).where(ReaderKeyword.subscriber_id == reader.id).values(added_at=at)
    )
    reader.keyword_alerts = True
    reader.keyword_alerted_through = at
    session.flush()


def _story(session: Session, slug: str, title: str, at: datetime, summary: str = "") -> int:
    item = ArticleInput(
        url=f"https://news.example.com/{slug}", title=title, summary=summary,
        topics=("Business",), published_at=at,
    )  # fmt: skip
    [article] = upsert_articles(session, [item], source=None, now=at).articles
    session.flush()
    return article.id


def _plan(session: Session, now: datetime, per_day: int = 3) -> list[int]:
    _, ids = plan_keyword_alerts(
        session, now=now, minutes=MINUTES, per_day=per_day, queued_until=now
    )
    session.commit()
    return ids


def _due_at(session: Session, reader: Subscriber) -> datetime | None:
    return session.scalar(select(Subscriber.keyword_alert_due_at).where(Subscriber.id == reader.id))


def _rows(session: Session) -> list[Delivery]:
    return [row for row in ledger(session) if row.edition.startswith("kw-")]


def test_readers_who_chose_it_get_the_stories_that_mention_their_words(session: Session) -> None:
    ada = make_reader(session, "ada")
    _follow(session, ada, '"Central Bank"', "reservoir")
    bram = make_reader(session, "bram")  # follows the words, did not ask for alerts
    set_keywords(session, bram, parse_keywords(["reservoir"]))
    cleo = make_reader(session, "cleo")  # paused
    _follow(session, cleo, "reservoir")
    cleo.paused_until = NOW + timedelta(days=7)
    dan = make_reader(session, "dan")  # unsubscribed
    _follow(session, dan, "reservoir")
    dan.status = SubscriberStatus.UNSUBSCRIBED
    eve = make_reader(session, "eve")  # bounced
    _follow(session, eve, "reservoir")
    eve.status = SubscriberStatus.BOUNCED
    fay = make_reader(session, "fay")  # other words
    _follow(session, fay, "lighthouse")
    session.commit()
    bank = _story(session, "cb", "Central Bank raises rates", NOW - timedelta(minutes=5))
    water = _story(session, "dry", "Dry summer", NOW - timedelta(minutes=3),
                   "<p>The reservoir is low.</p>")  # fmt: skip
    _story(session, "square", "A bank in the central square", NOW - timedelta(minutes=2))
    session.commit()

    ids = _plan(session, NOW)
    [row] = _rows(session)
    assert ids == [row.id]
    assert row.subscriber_id == ada.id
    assert row.article_ids == [water, bank]  # newest first, each once
    assert row.edition == keyword_alert_edition(alert_slot(NOW, MINUTES))
    assert row.status is DeliveryStatus.PENDING and row.alert_id is None


def test_one_email_per_window_batches_every_match_and_repeats_none(session: Session) -> None:
    ada = make_reader(session, "ada")
    _follow(session, ada, "reservoir", "drought")
    session.commit()
    first = _story(session, "one", "Reservoir half empty", NOW - timedelta(minutes=1))
    session.commit()
    _plan(session, NOW)
    assert [row.article_ids for row in _rows(session)] == [[first]]

    # Within the hour: stories wait, the first one is not repeated even when it matches
    # another of the reader's words later (its body changed).
    later = NOW + timedelta(minutes=10)
    second = _story(session, "two", "Drought spreads", later)
    third = _story(session, "three", "Reservoir rationing", later + timedelta(minutes=5))
    item = ArticleInput(url="https://news.example.com/one", title="Reservoir half empty",
                        summary="<p>The drought goes on.</p>", topics=("Business",),
                        published_at=NOW - timedelta(minutes=1))  # fmt: skip
    upsert_articles(session, [item], source=None, now=later + timedelta(minutes=6))
    session.commit()
    for minute in (11, 30, 59):
        assert _plan(session, NOW + timedelta(minutes=minute)) == []
    assert _due_at(session, ada) == NOW + timedelta(minutes=MINUTES)

    # The window opens: one email with both new stories, whether or not anything new came.
    ids = _plan(session, NOW + timedelta(minutes=MINUTES))
    assert len(ids) == 1
    assert [row.article_ids for row in _rows(session)] == [[first], [third, second]]
    assert _plan(session, NOW + timedelta(minutes=MINUTES + 1)) == []


def test_a_double_tick_and_a_racing_planner_write_one_row(session: Session) -> None:
    ada = make_reader(session, "ada")
    _follow(session, ada, "reservoir")
    session.commit()
    _story(session, "one", "Reservoir half empty", NOW - timedelta(minutes=1))
    session.commit()
    assert len(_plan(session, NOW)) == 1
    assert _plan(session, NOW) == []
    # Were the reader's mark lost (a planner that read it before the first one moved it),
    # the ledger's key (kw-<slot>, reader, local date) still refuses a second row.
    session.execute(
        update(Subscriber).where(Subscriber.id == ada.id).values(
            keyword_alerted_at=None, keyword_alerted_through=NOW - timedelta(days=1)
        )
    )  # fmt: skip
    session.commit()
    assert _plan(session, NOW + timedelta(seconds=20)) == []
    assert len(_rows(session)) == 1


def test_nothing_new_reads_no_reader(session: Session) -> None:
    ada = make_reader(session, "ada")
    _follow(session, ada, "reservoir")
    session.commit()
    _story(session, "one", "Reservoir half empty", NOW - COMMIT_MARGIN - timedelta(minutes=1))
    session.commit()
    _plan(session, NOW)
    statements: list[str] = []
    bind = session.get_bind()

    def seen(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(bind, "before_cursor_execute", seen)
    try:
        assert _plan(session, NOW + timedelta(minutes=1)) == []
    finally:
        event.remove(bind, "before_cursor_execute", seen)
    # The mark, the matches since it (none) and the held-back readers (none, by an index).
    assert not any("reader_keywords" in statement for statement in statements)
    readers = [statement for statement in statements if "FROM subscribers" in statement]
    assert len(readers) == 1 and "keyword_alert_due_at <=" in readers[0]


def test_the_daily_cap_counts_breaking_and_keyword_alerts_together(session: Session) -> None:
    ada = make_reader(session, "ada", timezone="Europe/Paris")
    _follow(session, ada, "reservoir")
    ada.breaking_alerts = True
    session.commit()
    breaking = make_article(session, "flood", published_at=NOW - timedelta(hours=3))
    alert = create_alert(session, article_id=breaking, created_by="cli", now=NOW)
    plan_alert(session, alert, now=NOW - timedelta(hours=2), per_day=2)
    session.commit()
    _story(session, "one", "Reservoir half empty", NOW - timedelta(minutes=1))
    session.commit()
    assert _plan(session, NOW, per_day=0) == []  # ALERTS_PER_DAY=0: none at all
    assert len(_plan(session, NOW, per_day=2)) == 1  # the second of the day
    later = NOW + timedelta(minutes=MINUTES)
    _story(session, "two", "Reservoir rationing", later - timedelta(minutes=1))
    session.commit()
    assert _plan(session, later, per_day=2) == []  # over the cap: waits for tomorrow
    midnight_paris = utc(2026, 11, 25, 23, 0)
    assert _due_at(session, ada) == midnight_paris
    assert _plan(session, midnight_paris - timedelta(minutes=1), per_day=2) == []
    ids = _plan(session, midnight_paris, per_day=2)
    assert len(ids) == 1
    row = session.get(Delivery, ids[0])
    assert row is not None and row.local_date.isoformat() == "2026-11-26"
    # A breaking alert the next morning sees the keyword alert counted against the cap.
    morning = utc(2026, 11, 26, 7, 0)
    other = make_article(session, "storm", published_at=morning)
    second = create_alert(session, article_id=other, created_by="cli", now=morning)
    assert plan_alert(session, second, now=morning, per_day=1)[0].over_cap == 1


def test_stories_from_before_a_keyword_was_followed_are_not_alerted(session: Session) -> None:
    bram = make_reader(session, "bram")  # follows it first: its matches are recorded
    set_keywords(session, bram, parse_keywords(["reservoir"]))
    session.commit()
    old = _story(session, "old", "Reservoir opened", NOW - timedelta(minutes=30))
    session.commit()
    ada = make_reader(session, "ada")
    _follow(session, ada, "reservoir", at=NOW - timedelta(minutes=10))
    ada.keyword_alerted_through = NOW - timedelta(days=1)  # alerts on long before
    session.commit()
    new = _story(session, "new", "Reservoir closed", NOW - timedelta(minutes=1))
    session.commit()
    _plan(session, NOW)
    [row] = _rows(session)
    assert row.article_ids == [new] and old not in row.article_ids
