"""Outcomes written back: a row the relay simply accepted keeps no reply and is still
counted as accepted with a 2xx; other replies are kept (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.digests.planning import plan_digests
from alerts.ledger.claims import claim_rows
from alerts.ledger.counts import ledger_counts
from alerts.ledger.outcomes import kept_reply, write_outcomes
from alerts.ledger.outgoing import load_outgoing
from alerts.ledger.queue import claim_queue
from alerts.models import Delivery, DeliveryStatus
from tests.support.builders import articles, reader

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
OWNER = 4242
RELAY = "smtp:relay.example.com:25"


def test_an_accepted_row_keeps_no_reply_and_counts_as_2xx(session: Session) -> None:
    for number in range(3):
        reader(session, f"r{number}@example.com")
    articles(session, NOW, ("a", (), timedelta(hours=1)))
    session.commit()
    plan_digests(session, now=NOW, force=True)
    session.commit()
    [batch] = claim_queue(session, now=NOW, batch_size=50)
    session.commit()
    rows = claim_rows(session, load_outgoing(session, batch), now=NOW, owner=OWNER)
    session.commit()
    accepted, written, refused = rows
    for row in (accepted, written):
        row.status, row.sent_at, row.relay = DeliveryStatus.SENT, NOW, RELAY
    accepted.smtp_reply = "250 2.0.0 Ok: queued as 4FhK2x0Y"
    written.smtp_reply = "written 1.eml"  # a file transport says no SMTP reply
    refused.status, refused.relay = DeliveryStatus.FAILED, RELAY
    refused.smtp_reply = refused.last_error = "550 5.1.1 no such user"

    write_outcomes(session, rows, OWNER)
    session.commit()

    session.expire_all()
    replies = {row.id: row.smtp_reply for row in session.scalars(select(Delivery))}
    assert replies == {accepted.id: None, written.id: "written 1.eml",
                       refused.id: "550 5.1.1 no such user"}  # fmt: skip
    counted = {
        (count.status, count.reply_class): count.rows
        for count in ledger_counts(session, recent_from=NOW)
        if count.rows
    }
    assert counted == {(DeliveryStatus.SENT, "2xx"): 1, (DeliveryStatus.SENT, "none"): 1,
                       (DeliveryStatus.FAILED, "5xx"): 1}  # fmt: skip


def test_only_a_sent_rows_2xx_goes() -> None:
    assert kept_reply(DeliveryStatus.SENT, "250 ok") is None
    assert kept_reply(DeliveryStatus.FAILED, "250 ok") == "250 ok"
    assert kept_reply(DeliveryStatus.SENT, "written 1.eml") == "written 1.eml"
    assert kept_reply(DeliveryStatus.PENDING, None) is None
