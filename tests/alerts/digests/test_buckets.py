"""Finding due readers by bucket: what a tick reads, and what a bucket's mark never hides.

A tick reads the buckets (time zone, hour) and their versions, reads the readers of due
buckets only, and skips a bucket marked as planned while its version holds. Every test
runs on SQLite and on PostgreSQL; the statements a tick sends are watched on the engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, event, func, insert, select, text
from sqlalchemy.orm import Session

from alerts.digests.planning import MARK_LIFETIME, plan_digests, plan_in_chunks
from alerts.editions.issues import cancel, issue_for
from alerts.editions.schedules import (
    EditionInput,
    create_edition,
    ensure_default_editions,
    get_edition,
)
from alerts.models import Delivery, PlannedBucket
from subscribers.buckets import buckets_of, fold_buckets
from subscribers.models import (
    Frequency,
    ReaderBucket,
    Subscriber,
    SubscriberStatus,
    Topic,
    subscriber_topics,
)
from tests.factories import ledger, make_article, make_reader, utc

# Tuesday 2026-03-10 06:00 UTC: 07:00 in Paris, 15:00 in Tokyo, 01:00 in New York, 11:30
# in Kolkata.
NOW = utc(2026, 3, 10, 6, 0)
MINUTE = timedelta(minutes=1)


@contextmanager
def statements(session: Session) -> Iterator[list[str]]:
    """The SQL the session's engine sends while the block runs, lower-cased, with its
    parameters."""
    sent: list[str] = []
    engine = session.get_bind()

    def watch(*args: Any) -> None:
        sent.append(f"{args[2]} -- {args[3]}".lower())

    event.listen(engine, "before_cursor_execute", watch)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", watch)


def _spread_readers(session: Session) -> None:
    for number in range(3):
        make_reader(session, f"paris{number}", topics=["Climate"])
        make_reader(session, f"tokyo{number}", timezone="Asia/Tokyo", topics=["Sport"])
        make_reader(session, f"ny{number}", timezone="America/New_York")
        make_reader(session, f"kolkata{number}", timezone="Asia/Kolkata", send_hour=12)
    make_article(session, "story", published_at=NOW - timedelta(hours=1), topics=["Climate"])


def test_a_tick_where_nobody_new_is_due_reads_no_reader_rows(session: Session) -> None:
    _spread_readers(session)
    assert plan_digests(session, now=NOW).due == 6  # Paris at 07:00 and Tokyo

    with statements(session) as sent:
        again = plan_digests(session, now=NOW + MINUTE)

    assert again.due == 0
    # The buckets' versions, and the readers whose pause ended (by an index of the paused
    # few): no other reader row, no ledger row.
    assert [sql for sql in sent if "from reader_buckets" in sql]
    readers = [sql for sql in sent if "from subscribers" in sql]
    assert readers and all("subscribers.paused_until >" in sql for sql in readers)
    assert not [sql for sql in sent if "deliveries" in sql]


def test_a_new_due_bucket_reads_only_its_own_readers(session: Session) -> None:
    _spread_readers(session)
    plan_digests(session, now=NOW)
    noon = NOW + 30 * MINUTE  # 12:00 in Kolkata

    with statements(session) as sent:
        result = plan_digests(session, now=noon)

    assert result.due == 3
    # The readers' query (the pause probe groups; the readers' query does not).
    [readers] = [
        sql for sql in sent
        if "from subscribers" in sql and "not (exists" in sql and "group by" not in sql
    ]  # fmt: skip
    assert "asia/kolkata" in readers  # the bucket, a bound parameter
    assert "europe/paris" not in readers and "asia/tokyo" not in readers
    assert {row.subscriber_id for row in ledger(session) if row.created_at == noon} == {
        _id(session, f"kolkata{number}") for number in range(3)
    }


def test_a_reader_who_joins_a_planned_bucket_is_planned_on_the_next_tick(
    session: Session,
) -> None:
    _spread_readers(session)
    plan_digests(session, now=NOW)
    late = make_reader(session, "late", topics=["Climate"])

    result = plan_digests(session, now=NOW + MINUTE)

    assert result.due == 1
    assert [(row.subscriber_id, row.local_date) for row in ledger(session)][-1] == (
        late.id,
        date(2026, 3, 10),
    )


def test_a_reader_who_moves_their_hour_into_a_planned_bucket_is_planned(
    session: Session,
) -> None:
    _spread_readers(session)
    plan_digests(session, now=NOW)
    [mover] = [r for r in _readers(session) if r.email == "ny0@example.com"]
    mover.timezone = "Europe/Paris"  # now in the bucket planned a minute ago
    session.flush()

    result = plan_digests(session, now=NOW + MINUTE)

    assert result.due == 1
    assert [row.subscriber_id for row in ledger(session) if row.created_at == NOW + MINUTE] == [
        mover.id
    ]


def test_a_reader_whose_pause_ends_after_the_hour_is_planned_that_day(
    session: Session,
) -> None:
    paused = make_reader(session, "paused")
    make_reader(session, "present")
    paused.paused_until = NOW + timedelta(minutes=30)
    session.flush()
    assert plan_digests(session, now=NOW).due == 1

    assert plan_digests(session, now=NOW + 10 * MINUTE).due == 0
    result = plan_digests(session, now=NOW + 31 * MINUTE)

    assert result.due == 1
    assert {row.subscriber_id for row in ledger(session)} == {paused.id, _id(session, "present")}


def test_a_reader_who_follows_a_topic_edition_after_its_bucket_was_planned_gets_it(
    session: Session,
) -> None:
    make_reader(session, "early", topics=["Climate"])
    late = make_reader(session, "late", topics=["Sport"])
    make_article(session, "story", published_at=NOW - timedelta(hours=1), topics=["Climate"])
    ensure_default_editions(session, now=NOW)
    topic_only = EditionInput(name="Climate desk", topic_slugs=["climate"])
    climate = create_edition(session, slug="climate-desk", data=topic_only, now=NOW)
    assert plan_digests(session, now=NOW, editions=[climate]).due == 1

    climate_id = _topic(session, "climate")
    session.execute(insert(subscriber_topics).values(subscriber_id=late.id, topic_id=climate_id))
    result = plan_digests(session, now=NOW + MINUTE, editions=[climate])

    assert result.due == 1
    assert [row.subscriber_id for row in ledger(session) if row.created_at == NOW + MINUTE] == [
        late.id
    ]


def test_the_bucket_figures_follow_readers_in_and_out_and_survive_a_fold(
    session: Session,
) -> None:
    first = make_reader(session, "first")
    make_reader(session, "second")
    make_reader(session, "pending", confirmed=False)
    make_reader(session, "weekly", frequency=Frequency.WEEKLY)
    paris, tokyo = ("Europe/Paris", 7), ("Asia/Tokyo", 9)
    assert _readers_in(session, "daily") == {paris: 2}
    assert _readers_in(session, "weekly") == {paris: 1}

    first.timezone, first.send_hour = tokyo
    session.flush()
    assert _readers_in(session, "daily") == {paris: 1, tokyo: 1}
    changes = buckets_of(session, "daily")[paris].changes

    assert fold_buckets(session) > 0
    assert session.scalar(select(func.count()).select_from(ReaderBucket)) == 3  # one a bucket
    assert _readers_in(session, "daily") == {paris: 1, tokyo: 1}
    assert buckets_of(session, "daily")[paris].changes == changes

    session.execute(delete(Subscriber).where(Subscriber.email == "second@example.com"))
    first.status = SubscriberStatus.UNSUBSCRIBED
    session.flush()
    assert _readers_in(session, "daily") == {}  # buckets left empty are not listed


def _readers_in(session: Session, frequency: str) -> dict[tuple[str, int], int]:
    return {bucket: found.readers for bucket, found in buckets_of(session, frequency).items()}


def _topic(session: Session, slug: str) -> int:
    return int(session.scalars(select(Topic.id).where(Topic.slug == slug)).one())


def test_a_mark_holds_only_for_its_lifetime(session: Session) -> None:
    # A change the mark cannot see (here: a ledger row removed behind the planner's back)
    # is found once the mark runs out.
    reader = make_reader(session, "ray")
    plan_digests(session, now=NOW)
    session.execute(delete(Delivery))

    assert plan_digests(session, now=NOW + MARK_LIFETIME - MINUTE).due == 0
    result = plan_digests(session, now=NOW + MARK_LIFETIME + MINUTE)

    assert result.due == 1
    assert [row.subscriber_id for row in ledger(session)] == [reader.id]


def test_buckets_of_a_cancelled_issue_are_not_marked(session: Session) -> None:
    make_reader(session, "held")
    ensure_default_editions(session, now=NOW)
    cancel(session, issue_for(session, get_edition(session, "daily"), date(2026, 3, 10), now=NOW),
           now=NOW)  # fmt: skip

    assert plan_digests(session, now=NOW).cancelled == 1
    assert plan_digests(session, now=NOW + MINUTE).cancelled == 1
    assert session.scalars(select(PlannedBucket)).all() == []


def test_due_readers_stream_while_the_caller_commits_each_chunk(session: Session) -> None:
    for number in range(7):
        make_reader(session, f"s{number}", topics=["Climate"] if number % 2 else ["Sport"])
    make_article(session, "climate", published_at=NOW - timedelta(hours=1), topics=["Climate"])
    make_article(session, "sport", published_at=NOW - timedelta(hours=2), topics=["Sport"])
    session.commit()

    planned = []
    for chunk in plan_in_chunks(session, now=NOW, chunk_size=2, committed=True):
        session.commit()  # would close a cursor of the session's own connection
        planned.append(chunk.result.planned)

    assert planned == [2, 2, 2, 1]
    rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
    digests = [tuple(row.article_ids) for row in rows]
    assert digests[:4] == [digests[0]] * 4 and digests[4:] == [digests[4]] * 3
    assert plan_digests(session, now=NOW + MINUTE).due == 0


def _readers(session: Session) -> list[Any]:
    from subscribers.models import Subscriber

    return list(session.scalars(select(Subscriber).order_by(Subscriber.id)))


def _id(session: Session, name: str) -> int:
    return next(r.id for r in _readers(session) if r.email == f"{name}@example.com")


def test_the_first_chunk_is_handed_over_before_the_rest_is_read(session: Session) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("a server-side cursor: SQLite reads the due readers in one query")
    for number in range(7):
        make_reader(session, f"f{number}")
    session.commit()

    chunks = plan_in_chunks(session, now=NOW, chunk_size=2, committed=True)
    first = next(chunks)
    session.commit()
    # The readers' cursor is still open on its own connection, fetched piece by piece.
    fetching = session.scalars(
        text(
            "SELECT query FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND state = 'idle in transaction'"
        )
    ).all()
    rest = [chunk.result.due for chunk in chunks]

    assert first.result.due == 2 and rest == [2, 2, 1]
    assert [query for query in fetching if query.upper().startswith("FETCH FORWARD 2")]
