"""Retention: rows of old local dates go, with their clicks, reports and selections; the
rest stays (both backends; the command line too)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.cli import main
from alerts.ledger.retention import ledger_cutoff, prune_ledger
from alerts.models import (
    Click,
    Delivery,
    DeliveryStatus,
    FeedbackEvent,
    FeedbackKind,
    Selection,
    legacy_message_ids,
)
from subscribers.database import utcnow
from tests.support.builders import reader

TODAY = date(2026, 6, 30)
AT = datetime(2026, 6, 30, 6, tzinfo=UTC)


def _ledger(session: Session, days_back: list[int], today: date = TODAY) -> dict[int, int]:
    """A sent row per reader and per local date `days_back` days before `today`, each with a
    selection of its own, a click and a bounce report on each; their ids by days back."""
    ids: dict[int, int] = {}
    for back in days_back:
        subscriber = reader(session, f"reader{back}@example.com")
        session.flush()
        delivery = Delivery(
            edition="daily", subscriber_id=subscriber.id, local_date=today - timedelta(back),
            status=DeliveryStatus.SENT, article_ids=[back + 1], attempts=1,
            created_at=AT - timedelta(back), sent_at=AT - timedelta(back),
        )  # fmt: skip
        session.add(delivery)
        session.flush()
        session.add(Click(delivery_id=delivery.id, position=1, clicked_at=AT))
        session.add(FeedbackEvent(report_key=f"report-{back}", delivery_id=delivery.id,
                                  subscriber_id=subscriber.id, kind=FeedbackKind.SOFT_BOUNCE,
                                  source="dsn", occurred_at=AT))  # fmt: skip
        ids[back] = delivery.id
    session.commit()
    return ids


def _count(session: Session, model: type[object]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_rows_older_than_the_days_kept_go_with_their_clicks_reports_and_selections(
    session: Session,
) -> None:
    ids = _ledger(session, [0, 1, 89, 90, 91, 400])
    # Two rows sent before revision 0028, which stored their Message-IDs.
    for back in (1, 400):
        stored = f"<digest.{ids[back]}.0123@example.com>"
        session.execute(
            legacy_message_ids.insert().values(delivery_id=ids[back], message_id=stored)
        )
    session.commit()

    pruned = prune_ledger(session, today=TODAY, keep_days=90, chunk=2)

    assert (pruned.cutoff, pruned.deliveries, pruned.selections) == (TODAY - timedelta(89), 3, 3)
    assert ledger_cutoff(TODAY, 90) == TODAY - timedelta(89)
    kept = set(session.scalars(select(Delivery.id)))
    assert kept == {ids[0], ids[1], ids[89]}
    assert set(session.scalars(select(Click.delivery_id))) == kept
    assert set(session.scalars(select(FeedbackEvent.delivery_id))) == kept
    assert _count(session, Selection) == 3
    assert list(session.scalars(select(legacy_message_ids.c.delivery_id))) == [ids[1]]
    assert {tuple(row.article_ids) for row in session.scalars(select(Delivery))} == {
        (1,), (2,), (90,)
    }  # fmt: skip


def test_a_second_prune_finds_nothing_more(session: Session) -> None:
    _ledger(session, [0, 120])
    prune_ledger(session, today=TODAY, keep_days=90)

    again = prune_ledger(session, today=TODAY, keep_days=90)

    assert (again.deliveries, again.selections) == (0, 0)
    assert _count(session, Delivery) == 1


def test_the_command_prunes_and_says_what_it_deleted(session: Session, database_url: str) -> None:
    _ledger(session, [0, 3, 4], today=utcnow().date())
    env = {"DATABASE_URL": database_url, "REDIS_URL": ""}

    result = CliRunner().invoke(main, ["ledger", "prune", "--keep-days", "1"], env=env)

    assert result.exit_code == 0, result.output
    assert "deleted 2 ledger rows and 2 selections" in result.output
    refused = CliRunner().invoke(main, ["ledger", "prune", "--keep-days", "0"], env=env)
    assert refused.exit_code == 2 and "Traceback" not in refused.output
