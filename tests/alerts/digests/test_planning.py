"""Planning a run: the ledger rows plan_digests writes.

Every test runs on SQLite and on PostgreSQL (the `session` fixture) and asserts on the stored
Delivery rows: status, local date, window and the article ids in order.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import event, insert, select, text
from sqlalchemy.orm import ORMExecuteState, Session, object_session

from alerts.digests.planning import (
    PlanResult,
    digest_window,
    plan_digests,
    plan_in_chunks,
    selection_for,
    why_not_in_audience,
)
from alerts.editions.schedules import (
    EditionInput,
    create_edition,
    ensure_default_editions,
    get_edition,
)
from alerts.models import Cadence, Delivery, DeliveryStatus
from subscribers.editions import leave_edition
from subscribers.models import Frequency, Subscriber, SubscriberStatus
from subscribers.services import Origin
from tests.factories import ledger, make_article, make_reader, utc

# Tuesday 2026-03-10 06:00 UTC is 07:00 in Paris (CET): the default readers' send hour.
NOW = utc(2026, 3, 10, 6, 0)
DAY = timedelta(days=1)


def start_of(row: Delivery) -> object:
    """Where the row's window of articles starts, as the ledger says."""
    session = object_session(row)
    assert session is not None
    return digest_window(session, row)[0]


def row_summary(row: Delivery) -> tuple[object, ...]:
    return (
        row.edition,
        row.local_date,
        row.status,
        start_of(row),
        row.created_at,
        row.article_ids,
    )


# --- what a first digest holds --------------------------------------------------------------


def test_first_daily_digest_holds_the_last_24_hours_on_the_reader_topics(
    session: Session,
) -> None:
    reader = make_reader(session, "ada", topics=["Climate"])
    make_article(session, "at-start", published_at=NOW - DAY, topics=["Climate"])
    just_in = make_article(
        session, "just-in", published_at=NOW - DAY + timedelta(seconds=1), topics=["Climate"]
    )
    morning = make_article(
        session, "morning", published_at=NOW - timedelta(hours=2), topics=["Climate"]
    )
    at_now = make_article(session, "at-now", published_at=NOW, topics=["Climate"])
    make_article(session, "future", published_at=NOW + timedelta(minutes=1), topics=["Climate"])
    make_article(session, "two-days", published_at=NOW - 2 * DAY, topics=["Climate"])
    make_article(session, "sport", published_at=NOW - timedelta(hours=1), topics=["Sport"])

    result = plan_digests(session, now=NOW)

    assert result == PlanResult(due=1, planned=1, skipped_empty=0, already_planned=0)
    [row] = ledger(session)
    assert row.subscriber_id == reader.id
    assert row_summary(row) == (
        Cadence.DAILY,
        date(2026, 3, 10),
        DeliveryStatus.PENDING,
        NOW - DAY,
        NOW,
        [at_now, morning, just_in],
    )
    assert row.attempts == 0
    assert row.next_attempt_at is None


def test_first_weekly_digest_holds_the_last_7_days_under_the_monday_of_the_week(
    session: Session,
) -> None:
    make_reader(session, "bo", topics=["Climate"], frequency=Frequency.WEEKLY)
    make_article(session, "eight-days", published_at=NOW - 8 * DAY, topics=["Climate"])
    make_article(session, "at-start", published_at=NOW - 7 * DAY, topics=["Climate"])
    six_days = make_article(session, "six-days", published_at=NOW - 6 * DAY, topics=["Climate"])
    today = make_article(
        session, "today", published_at=NOW - timedelta(hours=1), topics=["Climate"]
    )

    result = plan_digests(session, now=NOW)

    assert (result.due, result.planned, result.skipped_empty) == (1, 1, 0)
    [row] = ledger(session)
    assert row_summary(row) == (
        Cadence.WEEKLY,
        date(2026, 3, 9),  # NOW is a Tuesday; the weekly slot is that week's Monday
        DeliveryStatus.PENDING,
        NOW - 7 * DAY,
        NOW,
        [today, six_days],
    )


def test_any_shared_topic_is_enough(session: Session) -> None:
    make_reader(session, "cy", topics=["Climate", "Energy"])
    both = make_article(
        session, "both", published_at=NOW - timedelta(hours=1), topics=["Energy", "Climate"]
    )
    energy = make_article(
        session, "energy", published_at=NOW - timedelta(hours=2), topics=["Energy", "Markets"]
    )
    make_article(session, "markets", published_at=NOW - timedelta(hours=3), topics=["Markets"])
    make_article(session, "untagged", published_at=NOW - timedelta(hours=4))

    plan_digests(session, now=NOW)

    [row] = ledger(session)
    assert row.article_ids == [both, energy]


def test_a_reader_following_no_topic_gets_every_new_article(session: Session) -> None:
    make_reader(session, "dee", topics=[])
    markets = make_article(
        session, "markets", published_at=NOW - timedelta(hours=3), topics=["Markets"]
    )
    untagged = make_article(session, "untagged", published_at=NOW - timedelta(hours=1))
    climate = make_article(
        session, "climate", published_at=NOW - timedelta(hours=2), topics=["Climate"]
    )
    make_article(session, "old", published_at=NOW - 2 * DAY, topics=["Climate"])

    plan_digests(session, now=NOW)

    [row] = ledger(session)
    assert row.article_ids == [untagged, climate, markets]


def test_at_most_25_articles_newest_first(session: Session) -> None:
    make_reader(session, "eve", topics=["Climate"])
    ids = [
        make_article(
            session, f"story-{i}", published_at=NOW - timedelta(minutes=10 * i), topics=["Climate"]
        )
        for i in range(30)
    ]

    plan_digests(session, now=NOW)

    [row] = ledger(session)
    assert row.article_ids == ids[:25]


def test_readers_with_the_same_topics_but_different_windows_get_their_own_articles(
    session: Session,
) -> None:
    returning = make_reader(session, "fay", topics=["Climate"])
    newcomer = make_reader(session, "gus", topics=["Climate"])
    session.add(
        Delivery(
            edition=Cadence.DAILY,
            subscriber_id=returning.id,
            local_date=date(2026, 3, 9),
            status=DeliveryStatus.SENT,
            created_at=NOW - timedelta(hours=3),
        )
    )
    early = make_article(
        session, "early", published_at=NOW - timedelta(hours=5), topics=["Climate"]
    )
    late = make_article(session, "late", published_at=NOW - timedelta(hours=1), topics=["Climate"])

    plan_digests(session, now=NOW)

    rows = {row.subscriber_id: row for row in ledger(session) if row.local_date == NOW.date()}
    assert (start_of(rows[returning.id]), rows[returning.id].article_ids) == (
        NOW - timedelta(hours=3),
        [late],
    )
    assert (start_of(rows[newcomer.id]), rows[newcomer.id].article_ids) == (
        NOW - DAY,
        [late, early],
    )


# --- nothing new: a skipped row, no email ---------------------------------------------------


def test_nothing_new_writes_a_skipped_row(session: Session) -> None:
    make_reader(session, "hal", topics=["Climate"])
    make_article(session, "sport", published_at=NOW - timedelta(hours=1), topics=["Sport"])
    make_article(session, "old", published_at=NOW - 2 * DAY, topics=["Climate"])

    result = plan_digests(session, now=NOW)

    assert result == PlanResult(due=1, planned=0, skipped_empty=1, already_planned=0)
    [row] = ledger(session)
    assert row_summary(row) == (
        Cadence.DAILY,
        date(2026, 3, 10),
        DeliveryStatus.SKIPPED,
        NOW - DAY,
        NOW,
        [],
    )


def test_counts_split_between_planned_and_skipped(session: Session) -> None:
    make_reader(session, "ida", topics=["Climate"])
    make_reader(session, "jon", topics=["Sport"])
    make_reader(session, "kim", topics=["Climate", "Sport"])
    make_reader(session, "lou", topics=["Opera"])
    make_article(session, "climate", published_at=NOW - timedelta(hours=1), topics=["Climate"])

    result = plan_digests(session, now=NOW)

    assert (result.due, result.planned, result.skipped_empty) == (4, 2, 2)
    assert [row.status for row in ledger(session)] == [
        DeliveryStatus.PENDING,
        DeliveryStatus.SKIPPED,
        DeliveryStatus.PENDING,
        DeliveryStatus.SKIPPED,
    ]


def test_readers_of_one_digest_get_neighbouring_rows_across_chunks(session: Session) -> None:
    # Rows of one digest side by side land in the same batches: one worker renders it once.
    for number in range(6):
        make_reader(session, f"r{number}", topics=["Climate"] if number % 2 else ["Sport"])
    make_article(session, "climate", published_at=NOW - timedelta(hours=1), topics=["Climate"])
    make_article(session, "sport", published_at=NOW - timedelta(hours=2), topics=["Sport"])

    for _ in plan_in_chunks(session, now=NOW, chunk_size=4):
        pass

    rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
    digests = [tuple(row.article_ids) for row in rows]
    assert len(digests) == 6 and len(set(digests)) == 2
    assert digests[:3] == [digests[0]] * 3 and digests[3:] == [digests[3]] * 3


# --- one digest per local date, whatever runs twice -----------------------------------------


def test_planning_twice_at_the_same_instant_writes_one_row(session: Session) -> None:
    make_reader(session, "max", topics=["Climate"])
    story = make_article(
        session, "story", published_at=NOW - timedelta(hours=1), topics=["Climate"]
    )

    plan_digests(session, now=NOW)
    again = plan_digests(session, now=NOW)

    assert (again.planned, again.skipped_empty) == (0, 0)
    [row] = ledger(session)
    assert (row.local_date, row.created_at, row.article_ids) == (date(2026, 3, 10), NOW, [story])


def test_a_later_run_on_the_same_local_date_changes_nothing(session: Session) -> None:
    make_reader(session, "ned", topics=["Climate"])
    story = make_article(
        session, "story", published_at=NOW - timedelta(hours=1), topics=["Climate"]
    )
    plan_digests(session, now=NOW)
    make_article(session, "later", published_at=NOW + timedelta(hours=2), topics=["Climate"])

    # 22:59 UTC is 23:59 in Paris: still 2026-03-10 there.
    again = plan_digests(session, now=utc(2026, 3, 10, 22, 59))

    assert (again.planned, again.skipped_empty) == (0, 0)
    [row] = ledger(session)
    assert row_summary(row) == (
        Cadence.DAILY,
        date(2026, 3, 10),
        DeliveryStatus.PENDING,
        NOW - DAY,
        NOW,
        [story],
    )


def test_a_forced_run_twice_writes_one_row(session: Session) -> None:
    make_reader(session, "oli", topics=["Climate"])
    early = utc(2026, 3, 10, 3, 0)  # 04:00 in Paris, before the hour

    plan_digests(session, now=early, force=True)
    plan_digests(session, now=early + timedelta(minutes=5), force=True)
    plan_digests(session, now=NOW)  # the regular run at the reader's hour

    [row] = ledger(session)
    assert (row.local_date, row.created_at) == (date(2026, 3, 10), early)


def test_the_next_local_date_starts_where_the_previous_digest_ended(session: Session) -> None:
    make_reader(session, "pia", topics=["Climate"])
    first = make_article(
        session, "first", published_at=NOW - timedelta(hours=1), topics=["Climate"]
    )
    at_end = make_article(session, "at-end", published_at=NOW, topics=["Climate"])
    plan_digests(session, now=NOW)
    evening = make_article(
        session, "evening", published_at=NOW + timedelta(hours=12), topics=["Climate"]
    )
    tomorrow = NOW + DAY + timedelta(minutes=7)  # 07:07 in Paris on 2026-03-11

    result = plan_digests(session, now=tomorrow)

    assert (result.due, result.planned, result.skipped_empty) == (1, 1, 0)
    rows = ledger(session)
    assert [row_summary(row) for row in rows] == [
        (Cadence.DAILY, date(2026, 3, 10), DeliveryStatus.PENDING, NOW - DAY, NOW, [at_end, first]),
        (Cadence.DAILY, date(2026, 3, 11), DeliveryStatus.PENDING, NOW, tomorrow, [evening]),
    ]


@pytest.mark.parametrize(
    "status",
    [DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.SENT, DeliveryStatus.SKIPPED],
)
def test_previous_digest_in_any_live_status_bounds_the_next_window(
    session: Session, status: DeliveryStatus
) -> None:
    make_reader(session, "quin", topics=["Climate"])
    plan_digests(session, now=NOW)
    [previous] = ledger(session)
    previous.status = status
    session.flush()
    make_article(session, "covered", published_at=NOW - DAY / 2, topics=["Climate"])
    # After the previous digest ended but more than 24 hours before the next run: only a
    # window that starts at the previous end holds it.
    early = make_article(
        session, "early", published_at=NOW + timedelta(hours=1), topics=["Climate"]
    )
    late = make_article(session, "late", published_at=NOW + DAY, topics=["Climate"])
    next_run = NOW + DAY + timedelta(hours=2)  # 09:00 in Paris on 2026-03-11

    plan_digests(session, now=next_run)

    latest = ledger(session)[-1]
    assert (latest.local_date, start_of(latest), latest.article_ids) == (
        date(2026, 3, 11),
        NOW,
        [late, early],
    )


def test_each_window_starts_at_the_latest_previous_end(session: Session) -> None:
    make_reader(session, "ray", topics=["Climate"])
    runs = [
        utc(2026, 3, 9, 6, 10),  # 07:10 in Paris
        utc(2026, 3, 10, 9, 45),  # 10:45
        utc(2026, 3, 11, 6, 0),  # 07:00
        utc(2026, 3, 12, 21, 30),  # 22:30
    ]
    for run in runs:
        plan_digests(session, now=run)

    assert [(row.local_date, start_of(row), row.created_at) for row in ledger(session)] == [
        (date(2026, 3, 9), runs[0] - DAY, runs[0]),
        (date(2026, 3, 10), runs[0], runs[1]),
        (date(2026, 3, 11), runs[1], runs[2]),
        (date(2026, 3, 12), runs[2], runs[3]),
    ]


def test_a_failed_digest_does_not_count_as_the_previous_one(session: Session) -> None:
    make_reader(session, "rae", topics=["Climate"])
    monday = NOW - DAY
    plan_digests(session, now=monday)  # 2026-03-09: nothing yet, skipped
    monday_row = ledger(session)[0]
    assert monday_row.status is DeliveryStatus.SKIPPED
    missed = make_article(
        session, "missed", published_at=NOW - timedelta(hours=1), topics=["Climate"]
    )
    plan_digests(session, now=NOW)  # 2026-03-10: pending, then the send fails for good
    tuesday_row = ledger(session)[1]
    assert tuesday_row.article_ids == [missed]
    tuesday_row.status = DeliveryStatus.FAILED
    session.flush()
    fresh = make_article(
        session, "fresh", published_at=NOW + timedelta(hours=3), topics=["Climate"]
    )
    wednesday = NOW + DAY

    plan_digests(session, now=wednesday)

    rows = ledger(session)
    assert [(row.local_date, row.status) for row in rows] == [
        (date(2026, 3, 9), DeliveryStatus.SKIPPED),
        (date(2026, 3, 10), DeliveryStatus.FAILED),
        (date(2026, 3, 11), DeliveryStatus.PENDING),
    ]
    # The window reaches back to Monday's end, so the failed day's article comes again.
    assert (start_of(rows[2]), rows[2].created_at, rows[2].article_ids) == (
        monday,
        wednesday,
        [fresh, missed],
    )


def test_a_reader_whose_only_digest_failed_gets_a_first_window_again(session: Session) -> None:
    make_reader(session, "sol", topics=["Climate"])
    failed_end = utc(2026, 3, 9, 2, 0)  # 03:00 in Paris on 2026-03-09, forced
    plan_digests(session, now=failed_end, force=True)
    ledger(session)[0].status = DeliveryStatus.FAILED
    session.flush()
    make_article(
        session, "between", published_at=NOW - DAY - timedelta(hours=1), topics=["Climate"]
    )

    plan_digests(session, now=NOW)

    latest = ledger(session)[-1]
    assert (latest.local_date, start_of(latest), latest.status, latest.article_ids) == (
        date(2026, 3, 10),
        NOW - DAY,
        DeliveryStatus.SKIPPED,
        [],
    )


# --- who is due -----------------------------------------------------------------------------


def test_not_due_before_the_send_hour_unless_forced(session: Session) -> None:
    reader = make_reader(session, "tom", topics=["Climate"])
    story = make_article(
        session, "story", published_at=NOW - timedelta(hours=3), topics=["Climate"]
    )
    early = NOW - timedelta(seconds=1)  # 06:59:59 in Paris

    unforced = plan_digests(session, now=early)
    assert unforced == PlanResult(due=0, planned=0, skipped_empty=0, already_planned=0)
    assert ledger(session) == []

    forced = plan_digests(session, now=early, force=True)

    assert (forced.due, forced.planned) == (1, 1)
    [row] = ledger(session)
    assert (row.subscriber_id, row.local_date, row.created_at, row.article_ids) == (
        reader.id,
        date(2026, 3, 10),
        early,
        [story],
    )


def test_pending_and_unsubscribed_readers_are_never_planned(session: Session) -> None:
    make_reader(session, "una", topics=["Climate"], confirmed=False)
    gone = make_reader(session, "vic", topics=["Climate"])
    gone.status = SubscriberStatus.UNSUBSCRIBED
    session.flush()
    active = make_reader(session, "wes", topics=["Climate"])
    make_article(session, "story", published_at=NOW - timedelta(hours=1), topics=["Climate"])

    normal = plan_digests(session, now=NOW)
    forced = plan_digests(session, now=NOW + DAY, force=True)

    assert (normal.due, forced.due) == (1, 1)
    assert [(row.subscriber_id, row.local_date) for row in ledger(session)] == [
        (active.id, date(2026, 3, 10)),
        (active.id, date(2026, 3, 11)),
    ]


def test_local_dates_around_midnight_utc(session: Session) -> None:
    now = utc(2026, 3, 10, 23, 30)
    tokyo = make_reader(session, "tokyo", timezone="Asia/Tokyo")  # 08:30 on 03-11
    los_angeles = make_reader(session, "la", timezone="America/Los_Angeles")  # 16:30 on 03-10
    kiritimati = make_reader(session, "kiri", timezone="Pacific/Kiritimati")  # 13:30 on 03-11
    make_reader(session, "paris", timezone="Europe/Paris")  # 00:30 on 03-11: not yet
    make_reader(session, "kolkata", timezone="Asia/Kolkata", send_hour=6)  # 05:00: not yet
    kolkata_early = make_reader(session, "kolkata5", timezone="Asia/Kolkata", send_hour=5)
    make_reader(session, "ny", timezone="America/New_York", send_hour=20)  # 19:30 EDT: not yet

    result = plan_digests(session, now=now)

    assert result.due == 4
    assert [(row.subscriber_id, row.local_date) for row in ledger(session)] == [
        (tokyo.id, date(2026, 3, 11)),
        (los_angeles.id, date(2026, 3, 10)),
        (kiritimati.id, date(2026, 3, 11)),
        (kolkata_early.id, date(2026, 3, 11)),
    ]


def test_one_run_can_plan_three_local_dates(session: Session) -> None:
    now = utc(2026, 3, 10, 10, 30)
    kiritimati = make_reader(session, "kiri", timezone="Pacific/Kiritimati", send_hour=0)
    tokyo = make_reader(session, "tokyo", timezone="Asia/Tokyo", send_hour=0)
    pago = make_reader(session, "pago", timezone="Pacific/Pago_Pago", send_hour=0)
    story = make_article(session, "story", published_at=now - timedelta(hours=1))

    plan_digests(session, now=now)
    plan_digests(session, now=now + timedelta(minutes=29))  # Pago Pago: still 03-09

    assert [(row.subscriber_id, row.local_date, row.article_ids) for row in ledger(session)] == [
        (kiritimati.id, date(2026, 3, 11), [story]),  # 00:30 on 03-11
        (tokyo.id, date(2026, 3, 10), [story]),  # 19:30 on 03-10
        (pago.id, date(2026, 3, 9), [story]),  # 23:30 on 03-09
    ]


def test_tokyo_reader_next_local_date_comes_before_utc_midnight(session: Session) -> None:
    tokyo = make_reader(session, "tokyo", timezone="Asia/Tokyo")
    first = utc(2026, 3, 10, 22, 0)  # 07:00 on 03-11 in Tokyo
    plan_digests(session, now=first)
    plan_digests(session, now=utc(2026, 3, 11, 14, 59))  # 23:59 on 03-11: same local date
    second = utc(2026, 3, 11, 22, 0)  # 07:00 on 03-12

    plan_digests(session, now=second)

    assert [
        (row.subscriber_id, row.local_date, start_of(row), row.created_at)
        for row in ledger(session)
    ] == [
        (tokyo.id, date(2026, 3, 11), first - DAY, first),
        (tokyo.id, date(2026, 3, 12), first, second),
    ]


# --- daylight saving time -------------------------------------------------------------------


def test_paris_spring_forward_send_hour_two_is_planned_at_three_local(session: Session) -> None:
    make_reader(session, "dst", send_hour=2)
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST.
    before = plan_digests(session, now=utc(2026, 3, 29, 0, 59))  # 01:59 CET
    assert before.due == 0
    assert ledger(session) == []

    at_three = plan_digests(session, now=utc(2026, 3, 29, 1, 0))  # 03:00 CEST

    assert at_three.due == 1
    [row] = ledger(session)
    assert (row.local_date, row.created_at) == (date(2026, 3, 29), utc(2026, 3, 29, 1, 0))


def test_paris_fall_back_hour_two_twice_gives_one_digest(session: Session) -> None:
    make_reader(session, "dst", send_hour=2)
    # 2026-10-25: 03:00 CEST falls back to 02:00 CET, so 02:30 happens twice.
    assert plan_digests(session, now=utc(2026, 10, 24, 23, 59)).due == 0  # 01:59 CEST
    first = utc(2026, 10, 25, 0, 30)  # 02:30 CEST
    second = utc(2026, 10, 25, 1, 30)  # 02:30 CET

    plan_digests(session, now=first)
    again = plan_digests(session, now=second)

    assert (again.planned, again.skipped_empty) == (0, 0)
    [row] = ledger(session)
    assert (row.local_date, start_of(row), row.created_at) == (
        date(2026, 10, 25),
        first - DAY,
        first,
    )


def test_the_day_after_fall_back_starts_where_the_long_day_ended(session: Session) -> None:
    make_reader(session, "dst", send_hour=2)
    first = utc(2026, 10, 25, 0, 30)  # 02:30 CEST on the 25-hour day
    next_day = utc(2026, 10, 26, 1, 30)  # 02:30 CET on 10-26: 25 hours later

    plan_digests(session, now=first)
    plan_digests(session, now=next_day)

    assert [(row.local_date, start_of(row), row.created_at) for row in ledger(session)] == [
        (date(2026, 10, 25), first - DAY, first),
        (date(2026, 10, 26), first, next_day),
    ]


def test_new_york_spring_forward(session: Session) -> None:
    make_reader(session, "nyc", timezone="America/New_York", send_hour=2)
    # 2026-03-08: 02:00 EST jumps to 03:00 EDT at 07:00 UTC.
    assert plan_digests(session, now=utc(2026, 3, 8, 6, 59)).due == 0  # 01:59 EST

    plan_digests(session, now=utc(2026, 3, 8, 7, 0))

    [row] = ledger(session)
    assert row.local_date == date(2026, 3, 8)


# --- weekly readers -------------------------------------------------------------------------


def test_weekly_reader_gets_one_digest_per_local_week(session: Session) -> None:
    reader = make_reader(session, "wk", topics=["Climate"], frequency=Frequency.WEEKLY)
    monday = utc(2026, 3, 9, 6, 0)  # Monday 07:00 in Paris
    next_monday = utc(2026, 3, 16, 6, 0)
    week_story = make_article(session, "week", published_at=monday + 3 * DAY, topics=["Climate"])

    plan_digests(session, now=monday)
    for later in (
        utc(2026, 3, 10, 6, 0),  # Tuesday
        utc(2026, 3, 12, 18, 0),  # Thursday
        utc(2026, 3, 15, 22, 59),  # Sunday 23:59 in Paris
        utc(2026, 3, 16, 5, 59),  # next Monday 06:59: before the hour
    ):
        repeat = plan_digests(session, now=later)
        assert (repeat.planned, repeat.skipped_empty) == (0, 0)
    assert len(ledger(session)) == 1

    plan_digests(session, now=next_monday)

    assert [row_summary(row) for row in ledger(session)] == [
        (Cadence.WEEKLY, date(2026, 3, 9), DeliveryStatus.SKIPPED, monday - 7 * DAY, monday, []),
        (
            Cadence.WEEKLY,
            date(2026, 3, 16),
            DeliveryStatus.PENDING,
            monday,
            next_monday,
            [week_story],
        ),
    ]
    assert {row.subscriber_id for row in ledger(session)} == {reader.id}


def test_daily_and_weekly_readers_in_one_run(session: Session) -> None:
    daily = make_reader(session, "daily", topics=["Climate"])
    weekly = make_reader(session, "weekly", topics=["Climate"], frequency=Frequency.WEEKLY)
    three_days = make_article(session, "three", published_at=NOW - 3 * DAY, topics=["Climate"])
    today = make_article(
        session, "today", published_at=NOW - timedelta(hours=1), topics=["Climate"]
    )

    plan_digests(session, now=NOW)

    assert [
        (row.subscriber_id, row.edition, row.local_date, row.article_ids) for row in ledger(session)
    ] == [
        (daily.id, Cadence.DAILY, date(2026, 3, 10), [today]),
        (weekly.id, Cadence.WEEKLY, date(2026, 3, 9), [today, three_days]),
    ]


# --- editions a reader turned off -----------------------------------------------------------


def _turn_off(session: Session, reader: Subscriber, edition: str) -> None:
    assert leave_edition(session, reader, edition, origin=Origin("test"))
    session.flush()


def test_a_reader_who_turned_an_edition_off_is_not_planned_for_it(session: Session) -> None:
    ada = make_reader(session, "ada", topics=["Climate"])
    bo = make_reader(session, "bo", topics=["Climate"])
    ensure_default_editions(session, now=NOW)
    create_edition(
        session, slug="climate", now=NOW,
        data=EditionInput(name="Climate desk", topic_slugs=["climate"]),
    )  # fmt: skip
    wk = make_reader(session, "wk", topics=["Climate"], frequency=Frequency.WEEKLY)
    wl = make_reader(session, "wl", topics=["Climate"], frequency=Frequency.WEEKLY)
    make_article(session, "today", published_at=NOW - timedelta(hours=1), topics=["Climate"])
    _turn_off(session, ada, "daily")
    _turn_off(session, bo, "climate")
    _turn_off(session, wk, "weekly")

    plan_digests(session, now=NOW)

    assert sorted((row.edition, row.subscriber_id) for row in ledger(session)) == sorted(
        [("climate", ada.id), ("daily", bo.id), ("weekly", wl.id)]
    )
    climate = get_edition(session, "climate")
    assert why_not_in_audience(climate, bo, now=NOW) == (
        "they turned this edition off on their preferences page"
    )
    assert why_not_in_audience(climate, ada, now=NOW) is None


def test_turning_an_edition_off_after_a_tick_is_seen_by_the_next(session: Session) -> None:
    """A bucket marked as planned is looked at again when one of its readers turns the
    edition off (its audience changed), and the reader is planned no more from then on."""
    ada = make_reader(session, "ada", topics=["Climate"])
    bo = make_reader(session, "bo", topics=["Climate"])
    make_article(session, "today", published_at=NOW - timedelta(hours=1), topics=["Climate"])
    assert plan_digests(session, now=NOW).due == 2
    _turn_off(session, ada, "daily")

    tomorrow = plan_digests(session, now=NOW + DAY)

    assert tomorrow.due == 1
    assert [r.subscriber_id for r in ledger(session) if r.local_date == date(2026, 3, 11)] == [
        bo.id
    ]


# --- previews -------------------------------------------------------------------------------


def test_selection_for_matches_the_plan_and_writes_nothing(session: Session) -> None:
    reader = make_reader(session, "pre", topics=["Climate"])
    story = make_article(
        session, "story", published_at=NOW - timedelta(hours=1), topics=["Climate"]
    )
    make_article(session, "sport", published_at=NOW - timedelta(hours=1), topics=["Sport"])

    ensure_default_editions(session, now=NOW)
    daily = get_edition(session, "daily")
    preview = selection_for(session, reader.id, edition=daily, now=NOW)

    assert preview == [story]
    assert ledger(session) == []
    plan_digests(session, now=NOW)
    assert ledger(session)[0].article_ids == preview


# --- counts when another planner wrote first ------------------------------------------------


def test_a_row_written_first_by_another_planner_is_counted_as_already_planned(
    session: Session,
) -> None:
    reader = make_reader(session, "race", topics=["Climate"])
    make_article(session, "story", published_at=NOW - timedelta(hours=1), topics=["Climate"])
    rival_end = NOW - timedelta(seconds=30)

    # Another planner commits the same ledger key after this run read the ledger and just
    # before it inserts: simulated by writing the row right before the insert runs.
    rival_done: list[bool] = []

    def rival_writes_first(state: ORMExecuteState) -> None:
        statement = state.statement
        if rival_done:
            return
        # The ledger's INSERT: a Core insert (SQLite) or SQL over unnest() (PostgreSQL).
        written = getattr(statement, "text", "").startswith("INSERT INTO deliveries") or (
            statement.is_insert and statement.table.name == Delivery.__tablename__  # type: ignore[attr-defined]
        )
        if written:
            rival_done.append(True)
            state.session.execute(
                insert(Delivery).values(
                    edition=Cadence.DAILY,
                    subscriber_id=reader.id,
                    local_date=date(2026, 3, 10),
                    status=DeliveryStatus.PENDING,
                    attempts=0,
                    created_at=rival_end,
                )
            )

    event.listen(session, "do_orm_execute", rival_writes_first)
    try:
        result = plan_digests(session, now=NOW)
    finally:
        event.remove(session, "do_orm_execute", rival_writes_first)

    assert rival_done == [True]

    [row] = ledger(session)
    assert row.created_at == rival_end  # the rival's row stands; ours was dropped
    assert (result.planned, result.skipped_empty, result.already_planned) == (0, 0, 1)


# --- statistics -----------------------------------------------------------------------------


def test_a_big_plan_refreshes_the_ledgers_statistics_as_it_goes(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("PostgreSQL's planner statistics")
    monkeypatch.setattr("alerts.digests.planning._LedgerStatistics.FIRST", 2)
    for number in range(12):
        make_reader(session, f"reader{number}", topics=["Climate"])
    make_article(session, "a", published_at=NOW - timedelta(hours=1), topics=["Climate"])
    session.commit()

    before = _times_analyzed(session)
    analyzed = []
    for _ in plan_in_chunks(session, now=NOW, chunk_size=2):
        session.commit()
        analyzed.append(_times_analyzed(session) - before)

    # After 2 rows, then after 4 x 2 = 8: never per chunk.
    assert analyzed == [0, 1, 1, 1, 2, 2]


def _times_analyzed(session: Session) -> int:
    session.execute(text("SELECT pg_stat_clear_snapshot()"))
    count = session.scalar(
        text("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'deliveries'")
    )
    session.rollback()
    return int(count or 0)
