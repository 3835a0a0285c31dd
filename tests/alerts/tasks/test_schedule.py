"""The scheduler's tick under a controllable clock: DST days, downtime, send now, two ticks."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from alerts.config import Settings
from alerts.editions.schedules import EditionInput, create_edition
from alerts.jobs import plan_and_queue, send_now
from alerts.models import Cadence
from alerts.runtime import Runtime
from subscribers.models import Frequency
from tests.factories import ledger, make_article, make_reader, utc

NOW = utc(2026, 3, 9, 0, 0)


def _runtime(settings: Settings) -> Runtime:
    return Runtime.from_settings(settings)


def _tick_every(runtime: Runtime, start: datetime, end: datetime, step: timedelta) -> None:
    now = start
    while now < end:
        plan_and_queue(runtime, now=now)
        plan_and_queue(runtime, now=now)  # a doubled tick (two beats, a retry) is harmless
        now += step


def _seed(runtime: Runtime, start: datetime) -> dict[str, int]:
    with runtime.session() as session:
        readers = {
            "paris-2": make_reader(session, "p2", timezone="Europe/Paris", send_hour=2).id,
            "paris-7": make_reader(session, "p7", timezone="Europe/Paris", send_hour=7).id,
            "ny-1": make_reader(session, "ny1", timezone="America/New_York", send_hour=1).id,
            "tokyo-23": make_reader(session, "tk", timezone="Asia/Tokyo", send_hour=23).id,
        }
        hour = start
        while hour < start + timedelta(days=3):  # news all along, so nobody's digest is empty
            make_article(session, f"story-{hour:%d%H}", published_at=hour)
            hour += timedelta(hours=1)
        session.commit()
    return readers


def _dates_by_reader(session: Session) -> dict[int, list[date]]:
    found: dict[int, list[date]] = {}
    for row in ledger(session):
        found.setdefault(row.subscriber_id, []).append(row.local_date)
    return found


def test_ticks_across_the_autumn_change_send_once_per_local_day(settings: Settings) -> None:
    # 25 October 2026: Europe falls back (02:00-03:00 happens twice); New York on 1 November.
    start, end = utc(2026, 10, 24, 12, 0), utc(2026, 10, 26, 12, 0)
    runtime = _runtime(settings)
    try:
        readers = _seed(runtime, start - timedelta(days=1))
        _tick_every(runtime, start, end, timedelta(minutes=20))
        with runtime.session() as session:
            dates = _dates_by_reader(session)
            rows = ledger(session)
        assert all(count == 1 for count in Counter(
            (row.subscriber_id, row.local_date) for row in rows).values())  # fmt: skip
        assert date(2026, 10, 25) in dates[readers["paris-2"]]
        assert date(2026, 10, 25) in dates[readers["paris-7"]]
        # The hour-2 reader's digest on the change day left at the first 02:xx, in UTC 00:xx.
        change_day = next(
            row for row in rows
            if row.subscriber_id == readers["paris-2"] and row.local_date == date(2026, 10, 25)
        )  # fmt: skip
        assert change_day.created_at < utc(2026, 10, 25, 1, 0)
    finally:
        runtime.close()


def test_a_scheduler_down_for_hours_catches_up_the_same_local_day_never_the_next(
    settings: Settings,
) -> None:
    runtime = _runtime(settings)
    try:
        readers = _seed(runtime, utc(2026, 3, 9, 0, 0))
        # Down from 00:00 to 21:00 UTC on 10 March: Paris 7:00 is missed (sent at 22:00 Paris,
        # still 10 March); Tokyo 23:00 on 10 March was at 14:00 UTC: by 21:00 UTC it is
        # 06:00 on 11 March in Tokyo, so that digest is gone, not sent a day late.
        _tick_every(runtime, utc(2026, 3, 10, 21, 0), utc(2026, 3, 10, 22, 0),
                    timedelta(minutes=10))  # fmt: skip
        with runtime.session() as session:
            dates = _dates_by_reader(session)
        assert dates[readers["paris-7"]] == [date(2026, 3, 10)]
        assert readers["tokyo-23"] not in dates
    finally:
        runtime.close()


def test_send_now_then_the_reader_hour_sends_once(settings: Settings) -> None:
    runtime = _runtime(settings)
    try:
        readers = _seed(runtime, utc(2026, 3, 9, 0, 0))
        morning = utc(2026, 3, 10, 5, 0)  # 06:00 in Paris: nobody's hour yet
        started = send_now(runtime, edition="daily", local_date=date(2026, 3, 10), now=morning,
                           actor="cli", publish=None)  # fmt: skip
        assert started.planned == len(readers)
        _tick_every(runtime, morning, utc(2026, 3, 10, 12, 0), timedelta(minutes=30))
        with runtime.session() as session:
            rows = ledger(session)
        assert Counter(row.subscriber_id for row in rows) == Counter(readers.values())
        assert {row.issue_id for row in rows} == {started.issue_id}
    finally:
        runtime.close()


def test_a_forced_weekly_send_counts_as_that_week_issue(settings: Settings) -> None:
    runtime = _runtime(settings)
    try:
        with runtime.session() as session:
            make_reader(session, "weekly", frequency=Frequency.WEEKLY, timezone="Europe/Paris")
            create_edition(
                session, slug="friday",
                data=EditionInput(name="Friday", cadence=Cadence.WEEKLY, weekday=4), now=NOW,
            )  # fmt: skip
            for hour in range(0, 24 * 6, 6):
                make_article(
                    session, f"w-{hour}", published_at=utc(2026, 3, 9) + timedelta(hours=hour)
                )
            session.commit()
        monday = utc(2026, 3, 9, 10, 0)
        plan_and_queue(runtime, now=monday, force=True)  # `digest send --now` on a Monday
        _tick_every(runtime, utc(2026, 3, 13, 6, 0), utc(2026, 3, 13, 12, 0), timedelta(hours=1))
        with runtime.session() as session:
            rows = [row for row in ledger(session) if row.edition == "friday"]
        assert [row.local_date for row in rows] == [date(2026, 3, 13)]
    finally:
        runtime.close()
