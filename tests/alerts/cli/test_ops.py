"""`newsalerts ops status` and `ops retry` with messages that may have arrived (both backends,
a real SMTP server on loopback for what is sent again)."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.cli import main
from alerts.config import load_settings
from alerts.delivery.notices import queue_notice
from alerts.ledger.unknowns import UNKNOWN_OUTCOME, UNKNOWN_REPLY
from alerts.mail.notices import Notice
from alerts.models import Article, AuditEvent, Delivery, DeliveryStatus
from subscribers.database import utcnow
from tests.support.builders import articles, reader
from tests.support.smtp_server import RecordingSMTPServer


@pytest.fixture
def mail_env(env: dict[str, str], smtp_server: RecordingSMTPServer) -> dict[str, str]:
    return {
        **env,
        "SMTP_URL": smtp_server.url,
        "SECRET_KEY": "cli-test-secret-key-0123456789abcdef",
        "BASE_URL": "https://news.example.com",
        "COLUMNS": "200",  # wide enough that no reason is wrapped
    }


def _run(env: dict[str, str], *arguments: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(arguments), env=env, input=input)


def _seed(session: Session) -> dict[str, int]:
    """Two unknowns (one per cause), one temporary failure, at example.com."""
    now = utcnow()
    articles(session, now, ("flood", (), timedelta(minutes=5)))
    article = session.scalars(select(Article.id)).one()
    ids: dict[str, int] = {}
    for name, reply, error in [
        ("died", None, UNKNOWN_OUTCOME),
        ("no-reply", "421 4.4.2 timeout", f"{UNKNOWN_REPLY}: timed out"),
        ("temporary", "421 4.4.2 timeout", "421 4.4.2 timeout"),
    ]:
        subscriber = reader(session, f"{name}@example.com")
        session.flush()
        row = Delivery(edition="daily", subscriber_id=subscriber.id, local_date=date.today(),
                       status=DeliveryStatus.FAILED, article_ids=[article], smtp_reply=reply,
                       last_error=error, attempts=1, claimed_at=now,
                       created_at=now - timedelta(minutes=30))  # fmt: skip
        session.add(row)
        session.flush()
        ids[name] = row.id
    session.commit()
    return ids


def _statuses(session: Session) -> dict[int, DeliveryStatus]:
    session.rollback()  # read what the command committed
    return {
        row_id: status for row_id, status in session.execute(select(Delivery.id, Delivery.status))
    }


def test_status_fits_80_columns_and_cuts_no_name(
    session: Session, mail_env: dict[str, str]
) -> None:
    _seed(session)
    result = _run({**mail_env, "COLUMNS": "80"}, "ops", "status", "--no-workers", "--no-relays")
    assert result.exit_code == 0, result.output
    tables = [line for line in result.output.splitlines() if line[:1] in "┏┃┡│└"]
    assert max(len(line) for line in tables) <= 80, result.output
    assert "…" not in result.output, result.output  # a cell cut short hides what it names


def test_status_lists_what_may_have_arrived(session: Session, mail_env: dict[str, str]) -> None:
    _seed(session)
    result = _run(mail_env, "ops", "status", "--no-workers", "--no-relays")
    assert "May have arrived: 2 messages" in result.output, result.output
    assert "the worker stopped during the SMTP" in result.output
    assert "--include-unknown" in result.output
    # The failures table names the temporary failure only.
    failures = result.output.split("Failures, last 24 hours")[1].split("May have arrived")[0]
    assert "temporary" in failures and "unknown" not in failures


def test_retry_leaves_unknowns_alone(
    session: Session, mail_env: dict[str, str], smtp_server: RecordingSMTPServer
) -> None:
    ids = _seed(session)
    result = _run(mail_env, "ops", "retry")
    assert result.exit_code == 0, result.output
    assert "1 temporary failures queued again." in result.output
    assert "2 messages may have arrived and were not sent again" in result.output
    smtp_server.wait_for(1)
    assert [m.recipients for m in smtp_server.messages] == [["temporary@example.com"]]
    statuses = _statuses(session)
    assert statuses[ids["temporary"]] is DeliveryStatus.SENT
    assert statuses[ids["died"]] is statuses[ids["no-reply"]] is DeliveryStatus.FAILED


def test_include_unknown_asks_and_a_no_sends_nothing(
    session: Session, mail_env: dict[str, str], smtp_server: RecordingSMTPServer
) -> None:
    ids = _seed(session)
    result = _run(mail_env, "ops", "retry", "--include-unknown", input="n\n")
    assert result.exit_code == 1
    assert "2 messages may already have reached their readers" in result.output
    assert smtp_server.messages == []
    assert set(_statuses(session).values()) == {DeliveryStatus.FAILED}
    assert len(ids) == 3


@pytest.mark.parametrize("confirmation", [["--yes"], []])
def test_include_unknown_confirmed_sends_them_again_once(
    session: Session,
    mail_env: dict[str, str],
    smtp_server: RecordingSMTPServer,
    confirmation: list[str],
) -> None:
    ids = _seed(session)
    result = _run(mail_env, "ops", "retry", "--include-unknown", *confirmation, input="y\n")
    assert result.exit_code == 0, result.output
    assert "2 messages that may have arrived queued again." in result.output
    smtp_server.wait_for(3)
    assert sorted(r for m in smtp_server.messages for r in m.recipients) == [
        "died@example.com", "no-reply@example.com", "temporary@example.com",
    ]  # fmt: skip
    assert set(_statuses(session).values()) == {DeliveryStatus.SENT}
    events = session.execute(
        select(AuditEvent.actor, AuditEvent.action, AuditEvent.details).order_by(AuditEvent.id)
    ).all()
    assert [(actor, action) for actor, action, _ in events] == [
        ("cli", "deliveries.retry"), ("cli", "deliveries.resend-unknown"),
    ]  # fmt: skip
    assert events[1].details == {"rows": 2, "confirmed": True}
    # Nothing is left to send again.
    again = _run(mail_env, "ops", "retry", "--include-unknown", "--yes")
    assert "0 messages that may have arrived queued again." in again.output
    assert len(smtp_server.messages) == 3 and len(ids) == 3


def test_status_counts_the_notices(session: Session, mail_env: dict[str, str]) -> None:
    settings = load_settings(database_url=mail_env["DATABASE_URL"], _env_file=None)
    for number in range(2):
        subscriber = reader(session, f"new{number}@example.com", confirmed=False)
        session.flush()
        queue_notice(session, Notice.CONFIRM, subscriber.id, settings=settings, now=utcnow())
    session.commit()
    document = json.loads(
        _run(mail_env, "ops", "status", "--json", "--no-workers", "--no-relays").output
    )
    assert document["notices"] == {"pending": 2}
    text = _run(mail_env, "ops", "status", "--no-workers", "--no-relays").output
    assert "Confirmation and other notice emails, last 24 hours" in text
