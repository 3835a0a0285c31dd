"""Bounces seen while sending, through a real send into a real SMTP server on loopback.

A relay that says during the SMTP exchange that an address does not exist (`550 5.1.1` and
its kin) gets the reader suppressed just as a DSN hard bounce does; a DSN that comes back
after the relay accepted the message (a 250) makes the row `bounced`, counted once as such
by the results, the metrics and the failures page.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, event, select
from sqlalchemy.orm import Session

from alerts.config import load_settings
from alerts.feedback import Outcome, no_such_recipient, process_message
from alerts.ledger.states import progress
from alerts.models import DeliveryStatus, Issue
from alerts.ops.failures import dead_letters, failure_groups
from alerts.ops.metrics import render_metrics
from alerts.results.tallies import issue_results
from alerts.runtime import Runtime
from subscribers.database import utcnow
from subscribers.models import Subscriber, SubscriberStatus, Suppression
from subscribers.services import is_suppressed
from tests.alerts.feedback.test_bounces import SECRET, sample
from tests.alerts.ops.test_metrics import sample_values
from tests.support.sending import add_reader, add_stories, delivery_of, send_issue, tracked_edition
from tests.support.smtp_server import RecordingSMTPServer


@pytest.fixture
def runtime(
    database_url: str, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> Iterator[Runtime]:
    settings = load_settings(
        database_url=database_url,
        smtp_url=smtp_server.url,
        secret_key=SECRET,
        base_url="https://alerts.example.com",
        redis_url=None,
        _env_file=None,
    )
    runtime = Runtime.from_settings(settings)
    yield runtime
    runtime.close()


@pytest.fixture
def db(runtime: Runtime) -> Iterator[Session]:
    with runtime.session() as session:
        yield session


def _reader(db: Session, email: str) -> Subscriber:
    db.expire_all()
    found = db.scalar(select(Subscriber).where(Subscriber.email == email))
    assert found is not None
    return found


@pytest.mark.parametrize(
    "reply",
    [
        "550 5.1.1 <gone@example.org>: Recipient address rejected: User unknown",
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
        "550 5.1.2 Host or domain name not found",
        "553 5.1.3 Bad recipient address syntax",
    ],
)
def test_a_refusal_saying_the_address_does_not_exist_suppresses_as_a_hard_bounce(
    runtime: Runtime, db: Session, smtp_server: RecordingSMTPServer, reply: str
) -> None:
    now = utcnow()
    tracked_edition(db, now=now)
    add_stories(db, now=now)
    add_reader(db, "ada", now=now)
    add_reader(db, "gone", now=now)
    smtp_server.refuse("gone@example.org", reply)

    send_issue(runtime, "morning", now=now)

    row = delivery_of(db, "gone@example.org")
    assert row.status is DeliveryStatus.FAILED  # permanently: no retry time
    assert row.next_attempt_at is None
    assert row.smtp_reply == reply
    # The reader as a DSN hard bounce leaves them (test_bounces): bounced, suppressed
    # under the hard bounce's reason.
    assert _reader(db, "gone@example.org").status is SubscriberStatus.BOUNCED
    assert is_suppressed(db, "gone@example.org", hash_key=SECRET)
    assert db.scalars(select(Suppression.reason)).all() == ["hard_bounce"]
    assert _reader(db, "ada@example.org").status is SubscriberStatus.ACTIVE

    # The next day's digest goes to ada only: the dead address is not tried again.
    tomorrow = now + timedelta(days=1)
    add_stories(db, now=tomorrow, stories=(("late-news", "News", "Markets"),))
    send_issue(runtime, "morning", now=tomorrow)
    addresses = [address for m in smtp_server.messages for address in m.recipients]
    assert addresses == ["ada@example.org", "ada@example.org"]


def test_the_reader_is_suppressed_in_the_commit_that_records_the_refusal(
    runtime: Runtime, db: Session, smtp_server: RecordingSMTPServer
) -> None:
    # A worker killed between two commits must not leave the refusal recorded and the
    # reader still active (tried again every day): at every commit, either both or none.
    now = utcnow()
    tracked_edition(db, now=now)
    add_stories(db, now=now)
    add_reader(db, "gone", now=now)
    smtp_server.refuse("gone@example.org", "550 5.1.1 User unknown")
    seen: list[tuple[str, str]] = []

    def check(connection: Connection) -> None:  # just before COMMIT, after every flush
        found = connection.exec_driver_sql(
            "SELECT d.status, s.status FROM deliveries d JOIN subscribers s"
            " ON s.id = d.subscriber_id WHERE s.email = 'gone@example.org'"
        ).first()
        if found is not None:
            seen.append((str(found[0]), str(found[1])))

    event.listen(runtime.engine, "commit", check)
    try:
        send_issue(runtime, "morning", now=now)
    finally:
        event.remove(runtime.engine, "commit", check)
    assert ("failed", "bounced") in seen
    assert not [pair for pair in seen if pair[0] == "failed" and pair[1] != "bounced"], seen


def test_a_refusal_for_another_reason_does_not_suppress(
    runtime: Runtime, db: Session, smtp_server: RecordingSMTPServer
) -> None:
    now = utcnow()
    tracked_edition(db, now=now)
    add_stories(db, now=now)
    add_reader(db, "blocked", now=now)
    smtp_server.refuse("blocked@example.org", "550 5.7.1 Message rejected as spam")

    send_issue(runtime, "morning", now=now)

    assert delivery_of(db, "blocked@example.org").status is DeliveryStatus.FAILED
    assert _reader(db, "blocked@example.org").status is SubscriberStatus.ACTIVE
    assert not is_suppressed(db, "blocked@example.org", hash_key=SECRET)


@pytest.mark.parametrize(
    ("reply", "no_such"),
    [
        ("550 5.1.1 No such user", True),
        ("550-5.1.1 The email account that you tried to reach does not exist", True),
        ("550 5.1.10 RESOLVER.ADR.RecipientNotFound", True),
        ("553 5.1.3 Bad address syntax", True),
        ("550 5.1.12 something else", False),
        ("550 5.1.7 Bad sender mailbox", False),  # about our sender, not the reader
        ("550 5.7.1 Policy rejection", False),
        ("552 5.2.2 Mailbox full", False),
        ("450 4.1.1 Recipient verification failed for now", False),
        ("250 2.1.5 OK", False),
        ("", False),
        (None, False),
    ],
)
def test_which_replies_say_the_address_does_not_exist(reply: str | None, no_such: bool) -> None:
    assert no_such_recipient(reply) is no_such


def test_a_hard_bounce_after_the_relay_accepted_is_counted_once_as_bounced(
    runtime: Runtime, db: Session, smtp_server: RecordingSMTPServer
) -> None:
    now = utcnow()
    tracked_edition(db, now=now)
    add_stories(db, now=now)
    add_reader(db, "ada", now=now)
    add_reader(db, "bob", now=now)
    started = send_issue(runtime, "morning", now=now)
    bob = delivery_of(db, "bob@example.org")
    assert bob.status is DeliveryStatus.SENT and bob.sent_at is not None and bob.smtp_reply is None

    # Bob's mailbox provider took the message, then found no such mailbox and said so.
    bounced = process_message(
        db, sample("dsn-hard-bounce.eml", bob), secret=SECRET, now=now + timedelta(minutes=10)
    )
    db.commit()

    assert bounced.outcome is Outcome.SUPPRESSED
    bob = delivery_of(db, "bob@example.org")
    assert bob.status is DeliveryStatus.BOUNCED
    assert _reader(db, "bob@example.org").status is SubscriberStatus.BOUNCED
    # Results: sent, failed and bounced each count bob once at most — as bounced.
    issue = db.get(Issue, started.issue_id)
    assert issue is not None
    results = issue_results(db, issue)
    assert (results.sent, results.failed, results.bounced, results.to_send) == (1, 0, 1, 0)
    assert results.hard_bounced == 1
    sends = progress(db, now=utcnow(), issue_id=issue.id)
    assert (sends.sent, sends.failed, sends.bounced, sends.done) == (1, 0, 1, 2)
    # The failures page lists nothing to retry, and no dead letter.
    since = now - timedelta(days=1)
    assert failure_groups(db, since=since, relays=[runtime.settings.smtp_url]) == []
    assert dead_letters(db, since=since) == []
    # Metrics: counters of what happened, so both messages count as accepted (sent, 2xx),
    # and bob's once more as bounced; none failed.
    samples = sample_values(render_metrics(runtime, workers=False)[0])

    def messages(result: str, reply: str) -> float:
        return sum(
            count
            for (name, labels), count in samples.items()
            if name == "newsalerts_messages_total"
            and ("result", result) in labels
            and ("reply_class", reply) in labels
        )

    assert messages("bounced", "2xx") == 1
    assert messages("failed", "2xx") == 0
    assert messages("sent", "2xx") == 2
    assert sum(messages("failed", reply) for reply in ("2xx", "4xx", "5xx", "none")) == 0
