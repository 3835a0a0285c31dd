"""Editions: the defaults, validation, audiences, schedules and subject lines."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy.orm import Session

from alerts.digests.planning import plan_digests
from alerts.editions.schedules import (
    EditionInput,
    create_edition,
    get_edition,
    list_editions,
    update_edition,
)
from alerts.editions.subjects import subject_line
from alerts.errors import EditionError, EditionNotFound
from alerts.models import DEFAULT_SUBJECT, Cadence
from subscribers.models import Frequency
from tests.factories import ledger, make_article, make_reader, utc

NOW = utc(2026, 3, 10, 8, 0)  # a Tuesday; 09:00 in Paris


def test_daily_and_weekly_exist_from_the_start(session: Session) -> None:
    editions = list_editions(session, now=NOW)
    assert [(e.slug, e.cadence) for e in editions] == [
        ("daily", Cadence.DAILY),
        ("weekly", Cadence.WEEKLY),
    ]
    assert list_editions(session, now=NOW) == editions  # not created twice
    assert get_edition(session, "daily") is editions[0]
    assert get_edition(session, str(editions[1].id)) is editions[1]
    with pytest.raises(EditionNotFound):
        get_edition(session, "nope")


@pytest.mark.parametrize(
    ("slug", "data", "field"),
    [
        ("Bad Slug", EditionInput(name="X"), "slug"),
        ("new", EditionInput(name="X"), "slug"),
        ("ok", EditionInput(name="  "), "name"),
        ("ok", EditionInput(name="X", cadence=Cadence.DAILY, weekday=2), "weekday"),
        ("ok", EditionInput(name="X", cadence=Cadence.WEEKLY, weekday=7), "weekday"),
        ("ok", EditionInput(name="X", send_hour=24), "send_hour"),
        ("ok", EditionInput(name="X", max_articles=0), "max_articles"),
        ("ok", EditionInput(name="X", summary_chars=-1), "summary_chars"),
        ("ok", EditionInput(name="X", summary_chars=2001), "summary_chars"),
        ("ok", EditionInput(name="X", subject_template="{{ lead"), "subject_template"),
        ("ok", EditionInput(name="X", subject_template="{{ nobody }}"), "subject_template"),
        ("ok", EditionInput(name="X", subject_template="{{ ''.__class__ }}"), "subject_template"),
        ("ok", EditionInput(name="X", subject_template="{{ lead / 2 }}"), "subject_template"),
        ("ok", EditionInput(name="X", topic_slugs=["no-such-topic"]), "topics"),
    ],
)
def test_bad_settings_name_the_field_and_store_nothing(
    session: Session, slug: str, data: EditionInput, field: str
) -> None:
    list_editions(session, now=NOW)
    with pytest.raises(EditionError) as raised:
        create_edition(session, slug=slug, data=data, now=NOW)
    assert raised.value.field == field
    assert [e.slug for e in list_editions(session, now=NOW)] == ["daily", "weekly"]


def test_a_slug_is_taken_once(session: Session) -> None:
    create_edition(session, slug="elections", data=EditionInput(name="Elections"), now=NOW)
    with pytest.raises(EditionError, match="exists already"):
        create_edition(session, slug="elections", data=EditionInput(name="Again"), now=NOW)


def test_subject_line_fills_the_variables_and_survives_a_broken_template() -> None:
    day = date(2026, 3, 10)
    assert (
        subject_line(
            DEFAULT_SUBJECT,
            edition="Daily",
            lead="Big news",
            count=3,
            local_date=day,
            site="Gazette",
        )
        == "Big news — and 2 more stories"
    )
    assert (
        subject_line(
            "{{ edition }} for {{ date }}: {{ lead }}",
            edition="Daily",
            lead="X",
            count=1,
            local_date=day,
            site="G",
        )
        == "Daily for Tuesday 10 March 2026: X"
    )
    # A template that passed the check but fails on real values falls back to the default.
    assert subject_line("{{ 10 // (count - 1) }}", edition="D", lead="Y", count=1,
                        local_date=day, site="G") == "Y"  # fmt: skip


def test_a_topic_edition_reaches_only_followers_and_carries_only_its_topics(
    session: Session,
) -> None:
    voter = make_reader(session, "voter", topics=["Election", "Sport"])
    make_reader(session, "fan", topics=["Sport"])
    everything = make_reader(session, "all")  # follows nothing: everything, but not topic editions
    make_article(session, "vote", published_at=NOW - timedelta(hours=1), topics=["Election"])
    make_article(session, "match", published_at=NOW - timedelta(hours=2), topics=["Sport"])
    create_edition(
        session,
        slug="election-daily",
        data=EditionInput(name="Election daily", topic_slugs=["election"]),
        now=NOW,
    )
    plan_digests(session, now=NOW, editions=[get_edition(session, "election-daily")])
    [row] = ledger(session)
    assert (row.subscriber_id, row.edition, len(row.article_ids)) == (voter.id, "election-daily", 1)
    assert everything.id != row.subscriber_id


def test_an_edition_at_a_fixed_hour_ignores_the_reader_hour(session: Session) -> None:
    make_reader(session, "early", send_hour=6, timezone="Europe/Paris")
    make_reader(session, "late", send_hour=20, timezone="Europe/Paris")
    make_article(session, "story", published_at=NOW - timedelta(hours=1))
    edition = create_edition(
        session, slug="morning", data=EditionInput(name="Morning", send_hour=10), now=NOW
    )
    assert plan_digests(session, now=NOW, editions=[edition]).due == 0  # 09:00 in Paris
    assert plan_digests(session, now=NOW + timedelta(hours=1), editions=[edition]).planned == 2


def test_a_weekly_edition_goes_on_its_weekday_only_and_late_the_same_day(
    session: Session,
) -> None:
    make_reader(session, "weekly", frequency=Frequency.WEEKLY, send_hour=7)
    make_article(session, "story", published_at=NOW - timedelta(hours=1))
    edition = create_edition(
        session,
        slug="friday",
        data=EditionInput(name="Friday round-up", cadence=Cadence.WEEKLY, weekday=4),
        now=NOW,
    )
    assert plan_digests(session, now=NOW, editions=[edition]).due == 0  # Tuesday
    friday_night = utc(2026, 3, 13, 22, 30)  # 23:30 in Paris: the scheduler was down all day
    make_article(session, "friday", published_at=friday_night - timedelta(hours=1))
    assert plan_digests(session, now=friday_night, editions=[edition]).planned == 1
    saturday = utc(2026, 3, 14, 8, 0)
    assert plan_digests(session, now=saturday, editions=[edition]).due == 0
    [row] = ledger(session)
    assert row.local_date == date(2026, 3, 13)


def test_an_inactive_edition_is_not_planned(session: Session) -> None:
    make_reader(session, "ada")
    make_article(session, "story", published_at=NOW - timedelta(hours=1))
    daily = get_edition(session, "daily") if list_editions(session, now=NOW) else None
    assert daily is not None
    update_edition(session, daily, data=EditionInput(name="Daily", active=False), now=NOW)
    assert plan_digests(session, now=NOW).due == 0
