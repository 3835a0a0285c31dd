"""The pure digest rules: who is due for which slot, over which window, with which articles."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from alerts.digests.selection import (
    FIRST_WINDOW,
    MAX_ARTICLES,
    due_date,
    first_due,
    next_due,
    select_articles,
    window_start,
)
from alerts.models import Cadence
from tests.factories import candidate, utc


def daily_slot(now: datetime, timezone: str, send_hour: int, force: bool = False) -> date | None:
    return due_date(now, timezone=timezone, send_hour=send_hour, cadence=Cadence.DAILY, force=force)


# --- constants ------------------------------------------------------------------------------


def test_first_window_is_a_day_for_daily_and_a_week_for_weekly_and_the_cap_is_25() -> None:
    assert FIRST_WINDOW[Cadence.DAILY] == timedelta(hours=24)
    assert FIRST_WINDOW[Cadence.WEEKLY] == timedelta(days=7)
    assert MAX_ARTICLES == 25


# --- due_date: the send hour ----------------------------------------------------------------


def test_not_due_before_the_local_send_hour() -> None:
    # 05:59:59 UTC is 06:59:59 in Paris (CET, UTC+1).
    assert daily_slot(utc(2026, 3, 10, 5, 59, 59), "Europe/Paris", 7) is None


def test_due_from_the_first_second_of_the_local_send_hour() -> None:
    assert daily_slot(utc(2026, 3, 10, 6, 0), "Europe/Paris", 7) == date(2026, 3, 10)


def test_still_due_later_the_same_local_day() -> None:
    # 22:59 UTC is 23:59 in Paris, the last minute of the local date.
    assert daily_slot(utc(2026, 3, 10, 22, 59), "Europe/Paris", 7) == date(2026, 3, 10)


def test_force_makes_a_reader_due_before_the_hour_for_their_local_date() -> None:
    # 04:00 UTC is 05:00 in Paris: before the hour, yet forced for the local date.
    assert daily_slot(utc(2026, 3, 10, 4, 0), "Europe/Paris", 7, force=True) == date(2026, 3, 10)


def test_send_hour_zero_is_due_from_local_midnight() -> None:
    assert daily_slot(utc(2026, 3, 10, 23, 0), "Europe/Paris", 0) == date(2026, 3, 11)
    assert daily_slot(utc(2026, 3, 10, 22, 59), "Europe/Paris", 0) == date(2026, 3, 10)


# --- due_date: time zones around midnight UTC -----------------------------------------------


@pytest.mark.parametrize(
    ("timezone", "send_hour", "expected"),
    [
        ("Asia/Tokyo", 7, date(2026, 3, 11)),  # 08:30 on 03-11 (UTC+9)
        ("America/Los_Angeles", 7, date(2026, 3, 10)),  # 16:30 on 03-10 (PDT, UTC-7)
        ("Pacific/Kiritimati", 7, date(2026, 3, 11)),  # 13:30 on 03-11 (UTC+14)
        ("Pacific/Pago_Pago", 7, date(2026, 3, 10)),  # 12:30 on 03-10 (UTC-11)
        ("Asia/Kolkata", 5, date(2026, 3, 11)),  # 05:00 on 03-11 (UTC+5:30), hour just reached
        ("Asia/Kolkata", 6, None),  # 05:00 local: hour 6 has not come
        ("Europe/Paris", 7, None),  # 00:30 on 03-11: hour 7 has not come
        ("America/New_York", 20, None),  # 19:30 on 03-10 (EDT): hour 20 has not come
        ("America/New_York", 19, date(2026, 3, 10)),
    ],
)
def test_local_date_and_hour_come_from_the_reader_zone(
    timezone: str, send_hour: int, expected: date | None
) -> None:
    slot = daily_slot(utc(2026, 3, 10, 23, 30), timezone, send_hour)
    assert slot == (None if expected is None else expected)


def test_one_instant_can_be_three_local_dates() -> None:
    now = utc(2026, 3, 10, 10, 30)
    assert daily_slot(now, "Pacific/Kiritimati", 0) == date(2026, 3, 11)
    assert daily_slot(now, "Asia/Tokyo", 0) == date(2026, 3, 10)
    assert daily_slot(now, "Pacific/Pago_Pago", 0) == date(2026, 3, 9)


# --- due_date: daylight saving time ---------------------------------------------------------


def test_paris_spring_forward_hour_two_is_reached_at_three_local() -> None:
    # 2026-03-29: 02:00 CET jumps to 03:00 CEST, so 02:xx never exists locally.
    assert daily_slot(utc(2026, 3, 29, 0, 59), "Europe/Paris", 2) is None  # 01:59 CET
    assert daily_slot(utc(2026, 3, 29, 1, 0), "Europe/Paris", 2) == date(2026, 3, 29)  # 03:00 CEST


def test_paris_spring_forward_hour_three_is_due_at_the_same_instant() -> None:
    assert daily_slot(utc(2026, 3, 29, 0, 59), "Europe/Paris", 3) is None
    assert daily_slot(utc(2026, 3, 29, 1, 0), "Europe/Paris", 3) == date(2026, 3, 29)


def test_paris_fall_back_hour_two_happens_twice_under_one_slot() -> None:
    # 2026-10-25: 03:00 CEST falls back to 02:00 CET, so 02:30 happens twice.
    before = daily_slot(utc(2026, 10, 24, 23, 59), "Europe/Paris", 2)  # 01:59 CEST
    first = daily_slot(utc(2026, 10, 25, 0, 30), "Europe/Paris", 2)  # 02:30 CEST
    second = daily_slot(utc(2026, 10, 25, 1, 30), "Europe/Paris", 2)  # 02:30 CET
    assert before is None
    assert first == second == date(2026, 10, 25)


def test_new_york_spring_forward_and_fall_back() -> None:
    # 2026-03-08: 02:00 EST jumps to 03:00 EDT (07:00 UTC).
    assert daily_slot(utc(2026, 3, 8, 6, 59), "America/New_York", 2) is None
    assert daily_slot(utc(2026, 3, 8, 7, 0), "America/New_York", 2) == date(2026, 3, 8)
    # 2026-11-01: 02:00 EDT falls back to 01:00 EST; 01:30 happens at 05:30 and 06:30 UTC.
    assert daily_slot(utc(2026, 11, 1, 4, 59), "America/New_York", 1) is None  # 00:59 EDT
    first = daily_slot(utc(2026, 11, 1, 5, 30), "America/New_York", 1)
    second = daily_slot(utc(2026, 11, 1, 6, 30), "America/New_York", 1)
    assert first == second == date(2026, 11, 1)


# --- due_date: weekly readers ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "expected_monday"),
    [
        (utc(2026, 3, 9, 6, 0), date(2026, 3, 9)),  # Monday 07:00 Paris
        (utc(2026, 3, 11, 12, 0), date(2026, 3, 9)),  # Wednesday
        (utc(2026, 3, 15, 22, 59), date(2026, 3, 9)),  # Sunday 23:59 Paris
        (utc(2026, 3, 16, 6, 0), date(2026, 3, 16)),  # the next Monday 07:00
    ],
)
def test_weekly_slot_is_the_monday_of_the_local_week(now: datetime, expected_monday: date) -> None:
    slot = due_date(now, timezone="Europe/Paris", send_hour=7, cadence=Cadence.WEEKLY)
    assert slot == expected_monday


def test_weekly_reader_is_not_due_on_monday_before_the_hour() -> None:
    # Monday 2026-03-16 06:59 in Paris.
    assert (
        due_date(
            utc(2026, 3, 16, 5, 59), timezone="Europe/Paris", send_hour=7, cadence=Cadence.WEEKLY
        )
        is None
    )


def test_weekly_monday_is_local_not_utc() -> None:
    # Sunday 2026-03-15 23:30 UTC is Monday 08:30 in Tokyo but Sunday 16:30 in Los Angeles.
    now = utc(2026, 3, 15, 23, 30)
    tokyo = due_date(now, timezone="Asia/Tokyo", send_hour=7, cadence=Cadence.WEEKLY)
    los_angeles = due_date(now, timezone="America/Los_Angeles", send_hour=7, cadence=Cadence.WEEKLY)
    assert tokyo == date(2026, 3, 16)
    assert los_angeles == date(2026, 3, 9)


# --- window_start ---------------------------------------------------------------------------

NOW = utc(2026, 3, 10, 6, 0)


def test_first_daily_window_is_the_last_24_hours() -> None:
    assert window_start(Cadence.DAILY, now=NOW, previous_end=None) == utc(2026, 3, 9, 6, 0)


def test_first_weekly_window_is_the_last_7_days() -> None:
    assert window_start(Cadence.WEEKLY, now=NOW, previous_end=None) == utc(2026, 3, 3, 6, 0)


@pytest.mark.parametrize("edition", list(Cadence))
def test_window_starts_at_the_end_of_the_previous_digest(edition: Cadence) -> None:
    previous_end = utc(2026, 3, 9, 6, 0, 17)
    assert window_start(edition, now=NOW, previous_end=previous_end) == previous_end


def test_window_follows_a_previous_digest_even_if_it_is_older_than_the_first_window() -> None:
    previous_end = utc(2026, 3, 1, 6, 0)  # nine days back: no articles are lost
    assert window_start(Cadence.DAILY, now=NOW, previous_end=previous_end) == previous_end


def test_window_never_starts_after_now() -> None:
    assert window_start(Cadence.DAILY, now=NOW, previous_end=NOW + timedelta(hours=1)) == NOW


# --- select_articles ------------------------------------------------------------------------

START = utc(2026, 3, 9, 6, 0)
END = utc(2026, 3, 10, 6, 0)


def test_window_is_open_at_the_start_and_closed_at_the_end() -> None:
    newest_first = [
        candidate(5, END + timedelta(seconds=1)),  # future-dated: excluded
        candidate(4, END),  # exactly now: included
        candidate(3, END - timedelta(hours=3)),
        candidate(2, START + timedelta(microseconds=1)),  # just inside
        candidate(1, START),  # exactly the start: already in the previous digest
    ]
    assert select_articles(newest_first, topic_ids=frozenset(), start=START, end=END) == [4, 3, 2]


def test_articles_older_than_the_start_are_excluded() -> None:
    newest_first = [candidate(2, END - timedelta(hours=1)), candidate(1, START - timedelta(days=1))]
    assert select_articles(newest_first, topic_ids=frozenset(), start=START, end=END) == [2]


def test_only_articles_sharing_a_topic_with_the_reader() -> None:
    at = END - timedelta(hours=1)
    newest_first = [
        candidate(6, at, {1}),  # one followed topic
        candidate(5, at - timedelta(minutes=1), {3}),  # a topic the reader does not follow
        candidate(4, at - timedelta(minutes=2), {2, 3}),  # overlap on one of two
        candidate(3, at - timedelta(minutes=3), set()),  # no topic at all
        candidate(2, at - timedelta(minutes=4), {1, 2}),
        candidate(1, at - timedelta(minutes=5), {4, 5}),
    ]
    chosen = select_articles(newest_first, topic_ids=frozenset({1, 2}), start=START, end=END)
    assert chosen == [6, 4, 2]


def test_a_reader_following_no_topic_gets_everything_in_the_window() -> None:
    at = END - timedelta(hours=1)
    newest_first = [
        candidate(3, at, {7}),
        candidate(2, at - timedelta(minutes=1), set()),
        candidate(1, at - timedelta(minutes=2), {8, 9}),
    ]
    assert select_articles(newest_first, topic_ids=frozenset(), start=START, end=END) == [3, 2, 1]


def test_at_most_25_newest_first() -> None:
    newest_first = [candidate(100 - i, END - timedelta(minutes=i)) for i in range(30)]
    chosen = select_articles(newest_first, topic_ids=frozenset(), start=START, end=END)
    assert chosen == list(range(100, 75, -1))
    assert len(chosen) == 25


def test_the_cap_counts_only_matching_articles() -> None:
    # 30 matching articles interleaved with 30 off-topic ones: still 25 matching, newest first.
    newest_first = [
        candidate(200 - i, END - timedelta(minutes=i), {1} if i % 2 == 0 else {2})
        for i in range(60)
    ]
    chosen = select_articles(newest_first, topic_ids=frozenset({1}), start=START, end=END)
    assert chosen == [200 - i for i in range(0, 50, 2)]


def test_explicit_limit() -> None:
    newest_first = [candidate(10 - i, END - timedelta(minutes=i)) for i in range(5)]
    assert select_articles(newest_first, topic_ids=frozenset(), start=START, end=END, limit=2) == [
        10,
        9,
    ]


def test_nothing_in_the_window_is_an_empty_selection() -> None:
    newest_first = [candidate(2, END + timedelta(hours=1)), candidate(1, START)]
    assert select_articles(newest_first, topic_ids=frozenset(), start=START, end=END) == []
    assert select_articles([], topic_ids=frozenset({1}), start=START, end=END) == []


@pytest.mark.parametrize(
    ("local_date", "zone", "hour", "cadence", "expected"),
    [
        # Daily: the reader's hour on the next local date.
        (date(2026, 11, 25), "UTC", 7, Cadence.DAILY, utc(2026, 11, 26, 7)),
        (date(2026, 11, 25), "America/New_York", 7, Cadence.DAILY, utc(2026, 11, 26, 12)),
        # Weekly: a week on.
        (date(2026, 11, 23), "UTC", 9, Cadence.WEEKLY, utc(2026, 11, 30, 9)),
        # The next day springs forward at 02:00 in Paris: 02:00 does not exist, and the
        # reader is due at the next hour that does (03:00 CEST, 01:00 UTC).
        (date(2027, 3, 27), "Europe/Paris", 2, Cadence.DAILY, utc(2027, 3, 28, 1)),
        # The next day falls back: 07:00 is an hour later in UTC than the day before.
        (date(2026, 10, 24), "Europe/Paris", 7, Cadence.DAILY, utc(2026, 10, 25, 6)),
    ],
)
def test_the_next_issue_is_due_at_the_readers_hour_a_day_or_a_week_on(
    local_date: date, zone: str, hour: int, cadence: Cadence, expected: datetime
) -> None:
    following = next_due(local_date, timezone=zone, send_hour=hour, cadence=cadence)
    assert following == expected
    # And `due_date` agrees: not due a second before, due from that moment.
    before = expected - timedelta(seconds=1)
    assert due_date(before, timezone=zone, send_hour=hour, cadence=cadence) is None
    assert due_date(expected, timezone=zone, send_hour=hour, cadence=cadence) is not None


# 2026-12-07 is a Monday; Europe/Paris is UTC+1 in December.
@pytest.mark.parametrize(
    ("now", "cadence", "weekday", "expected"),
    [
        # Confirmed after their 07:00: due at once, today's digest goes now.
        (utc(2026, 12, 7, 12, 40), Cadence.DAILY, None, utc(2026, 12, 7, 12, 40)),
        # Before it: their hour today.
        (utc(2026, 12, 7, 5, 0), Cadence.DAILY, None, utc(2026, 12, 7, 6, 0)),
        # A weekly edition on Thursdays: Thursday at their hour, whatever today is.
        (utc(2026, 12, 7, 12, 40), Cadence.WEEKLY, 3, utc(2026, 12, 10, 6, 0)),
        # On a Thursday after the hour: at once; on a Friday: next Thursday.
        (utc(2026, 12, 10, 12, 0), Cadence.WEEKLY, 3, utc(2026, 12, 10, 12, 0)),
        (utc(2026, 12, 11, 12, 0), Cadence.WEEKLY, 3, utc(2026, 12, 17, 6, 0)),
        # A weekly edition on no set day: any day of the week once the hour has come.
        (utc(2026, 12, 9, 5, 0), Cadence.WEEKLY, None, utc(2026, 12, 9, 6, 0)),
    ],
)
def test_first_due_is_when_the_scheduler_will_first_find_the_reader_due(
    now: datetime, cadence: Cadence, weekday: int | None, expected: datetime
) -> None:
    moment = first_due(now, timezone="Europe/Paris", send_hour=7, cadence=cadence, weekday=weekday)
    assert moment == expected
