"""The ledger's weekly partitions on PostgreSQL: made ahead, a row for a week without one
kept in the default partition and moved when its week is made, whole weeks dropped by
retention with their clicks and reports while counts and results stay right; on SQLite
none of it exists and a deleted row's clicks still go with it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from alerts.cli import main
from alerts.db import make_engine, make_session_factory
from alerts.ledger.counts import state_counts
from alerts.ledger.partitions import (
    DEFAULT_PARTITION,
    drop_weeks_before,
    make_ahead,
    partitioned,
    week_of,
    weeks,
)
from alerts.ledger.retention import prune_ledger
from alerts.models import (
    Click,
    Delivery,
    DeliveryStatus,
    Edition,
    FeedbackEvent,
    FeedbackKind,
    Issue,
)
from alerts.results.tallies import issue_results
from subscribers.database import utcnow
from subscribers.models import Subscriber
from tests.support.builders import reader

# Dates of their own, years from the other tests' (partitions outlive a test's rows).
TODAY = date(2031, 3, 12)  # a Wednesday
AT = datetime(2031, 3, 12, 6, tzinfo=UTC)


@pytest.fixture
def pg(postgres_database: str) -> Iterator[Session]:
    engine = make_engine(postgres_database)
    with make_session_factory(engine)() as session:
        yield session
        # Tests here drop weeks far before their made-up dates, today's among them: the
        # database is shared by the run's later tests, so today's weeks come back.
        session.rollback()
        make_ahead(session, today=utcnow().date())
    engine.dispose()


def _issue(session: Session, day: date) -> Issue:
    edition = session.scalar(select(Edition)) or Edition(
        slug="daily", name="Daily briefing", click_tracking=True, created_at=AT, updated_at=AT
    )
    session.add(edition)
    session.flush()
    issue = Issue(edition_id=edition.id, local_date=day, pinned_ids=[], dropped_ids=[],
                  created_at=AT, updated_at=AT)  # fmt: skip
    session.add(issue)
    session.flush()
    return issue


def _sent(session: Session, day: date, *, name: str, issue: Issue | None = None) -> Delivery:
    """A sent row of `day` for a new reader, with a click and a bounce report."""
    subscriber = reader(session, f"{name}@example.com")
    session.flush()
    when = datetime.combine(day, AT.timetz())
    row = Delivery(edition="daily", subscriber_id=subscriber.id, local_date=day,
                   issue_id=issue.id if issue else None, status=DeliveryStatus.SENT,
                   article_ids=[7], attempts=1, created_at=when, sent_at=when)  # fmt: skip
    session.add(row)
    session.flush()
    session.add(Click(delivery_id=row.id, issue_id=row.issue_id, position=1, clicked_at=when))
    session.add(FeedbackEvent(report_key=f"report-{name}", delivery_id=row.id,
                              subscriber_id=subscriber.id, kind=FeedbackKind.SOFT_BOUNCE,
                              source="dsn", occurred_at=when))  # fmt: skip
    session.commit()
    return row


def _home(session: Session, delivery_id: int) -> str:
    """The partition that holds a row."""
    return str(
        session.scalar(
            text("SELECT tableoid::regclass::text FROM deliveries WHERE id = :id"),
            {"id": delivery_id},
        )
    )


def test_weeks_are_made_ahead_once(pg: Session) -> None:
    made = make_ahead(pg, today=TODAY, weeks_ahead=3)

    assert made == ["deliveries_w20310310", "deliveries_w20310317", "deliveries_w20310324",
                    "deliveries_w20310331"]  # fmt: skip
    assert make_ahead(pg, today=TODAY + timedelta(days=4), weeks_ahead=3) == []
    assert {week.name for week in weeks(pg)} >= set(made)
    # Monday to Sunday: a Sunday's row is in its Monday's week.
    assert week_of(date(2031, 3, 16)).name == "deliveries_w20310310"


def test_a_row_for_a_week_without_a_partition_is_kept_and_moved_when_its_week_comes(
    pg: Session,
) -> None:
    day = date(2032, 7, 14)
    issue = _issue(pg, day)
    row = _sent(pg, day, name="early", issue=issue)
    assert _home(pg, row.id) == DEFAULT_PARTITION
    before = state_counts(pg, issue_id=issue.id)

    assert make_ahead(pg, today=day, weeks_ahead=0) == ["deliveries_w20320712"]

    pg.expire_all()
    assert _home(pg, row.id) == "deliveries_w20320712"
    moved = pg.get(Delivery, row.id)
    assert moved is not None and moved.article_ids == [7] and moved.status == "sent"
    assert state_counts(pg, issue_id=issue.id) == before  # moving counts nothing twice
    assert pg.scalar(select(func.count()).select_from(Click).where(Click.delivery_id == row.id))
    # The week's next row goes straight to its partition.
    assert _home(pg, _sent(pg, day + timedelta(days=1), name="later").id) == (
        "deliveries_w20320712"
    )


def test_retention_drops_whole_weeks_and_results_still_count_their_sends(pg: Session) -> None:
    make_ahead(pg, today=TODAY - timedelta(days=120), weeks_ahead=20)
    ages = (0, 89, 93, 100, 110)  # cutoff: 89 days back, a Thursday; 93 is its Sunday
    issues = {back: _issue(pg, TODAY - timedelta(back)) for back in ages}
    rows = {back: _sent(pg, TODAY - timedelta(back), name=f"r{back}", issue=issues[back])
            for back in ages}  # fmt: skip
    results = {back: issue_results(pg, issues[back]) for back in ages}
    assert all(result.sent == 1 and result.clicks == 1 for result in results.values())

    pruned = prune_ledger(pg, today=TODAY, keep_days=90)

    # Weeks whose every date is older than the cutoff go whole; the cutoff's week stays.
    assert "deliveries_w20301202" in pruned.dropped  # the week of 100 and of 110 days back
    assert week_of(TODAY - timedelta(93)).name not in pruned.dropped
    assert pruned.deliveries == 0  # nothing deleted row by row
    kept = set(pg.scalars(select(Delivery.id)))
    assert kept == {rows[0].id, rows[89].id, rows[93].id}
    assert set(pg.scalars(select(Click.delivery_id))) == kept
    assert set(pg.scalars(select(FeedbackEvent.delivery_id))) == kept
    # A row kept past the cutoff with its week keeps its articles.
    pg.expire_all()
    assert [row.article_ids for row in pg.scalars(select(Delivery))] == [[7], [7], [7]]
    for back in ages:  # the sends of a dropped week still count on its issue's page
        assert issue_results(pg, issues[back]).sent == 1
        assert state_counts(pg, issue_id=issues[back].id)[DeliveryStatus.SENT] == 1
    assert prune_ledger(pg, today=TODAY, keep_days=90).dropped == []


def test_retention_deletes_the_default_partitions_old_rows_only(pg: Session) -> None:
    old = _sent(pg, date(2029, 1, 3), name="lost-week")  # no partition for that week
    assert _home(pg, old.id) == DEFAULT_PARTITION

    pruned = prune_ledger(pg, today=date(2029, 6, 1), keep_days=90)

    assert pruned.deliveries == 1
    assert pg.scalar(select(func.count()).select_from(Delivery)) == 0
    assert pg.scalar(select(func.count()).select_from(Click)) == 0


def test_sqlite_has_no_partitions_and_a_deleted_rows_clicks_go_with_it(
    session: Session, database_url: str
) -> None:
    row = _sent(session, TODAY, name="erased")
    if session.get_bind().dialect.name == "sqlite":
        assert not partitioned(session) and weeks(session) == []
        assert make_ahead(session, today=TODAY) == []

    # Erasing the reader cascades to the row, and a trigger to its click and report.
    session.execute(delete(Subscriber).where(Subscriber.id == row.subscriber_id))
    session.commit()

    assert session.scalar(select(func.count()).select_from(Click)) == 0
    assert session.scalar(select(func.count()).select_from(FeedbackEvent)) == 0


def test_inserts_never_fail_for_want_of_a_partition(pg: Session) -> None:
    far = date(2099, 12, 31)
    subscriber = reader(pg, "far@example.com")
    pg.flush()
    inserted = pg.execute(
        sa.insert(Delivery)
        .values(
            edition="daily",
            subscriber_id=subscriber.id,
            local_date=far,
            status=DeliveryStatus.PENDING,
            attempts=0,
            created_at=AT,
        )
        .returning(Delivery.id)
    ).scalar_one()
    pg.commit()
    assert _home(pg, inserted) == DEFAULT_PARTITION


def test_the_command_lists_and_makes_partitions(database_url: str) -> None:
    env = {"DATABASE_URL": database_url, "REDIS_URL": ""}

    result = CliRunner().invoke(main, ["ledger", "partitions", "--weeks-ahead", "6"], env=env)

    assert result.exit_code == 0, result.output
    if database_url.startswith("sqlite"):
        assert "plain table" in result.output
        return
    assert "weekly partitions" in result.output and "and a default one" in result.output
    sixth = week_of(utcnow().date() + timedelta(weeks=6)).name
    assert sixth in result.output  # the migration made four weeks ahead; this makes two more
    again = CliRunner().invoke(main, ["ledger", "partitions", "--weeks-ahead", "6"], env=env)
    assert "Made: none." in again.output
    refused = CliRunner().invoke(main, ["ledger", "partitions", "--weeks-ahead", "-1"], env=env)
    assert refused.exit_code == 2 and "Traceback" not in refused.output


def test_no_foreign_key_ties_a_week_or_a_selection_to_other_rows(session: Session) -> None:
    """A week's partition can be dropped, and a selection deleted, without the database
    looking for rows that reference them (clicks and reports go by trigger instead)."""
    inspector = sa.inspect(session.get_bind())
    for table in inspector.get_table_names():
        for key in inspector.get_foreign_keys(table):
            assert key["referred_table"] != "deliveries", table
    assert all(key["referred_table"] != "selections"
               for key in inspector.get_foreign_keys("deliveries"))  # fmt: skip


def test_a_week_held_by_a_long_transaction_is_left_for_the_next_run(
    pg: Session, postgres_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("alerts.ledger.partitions.LOCK_WAIT", "200ms")
    old = date(2028, 2, 7)
    make_ahead(pg, today=old, weeks_ahead=0)
    _sent(pg, old, name="held")
    other = make_engine(postgres_database)
    with other.connect() as reading:
        reading.execute(text("SELECT count(*) FROM deliveries_w20280207"))  # holds a lock

        assert "deliveries_w20280207" not in drop_weeks_before(pg, date(2028, 2, 14))

    other.dispose()
    assert "deliveries_w20280207" in drop_weeks_before(pg, date(2028, 2, 14))
