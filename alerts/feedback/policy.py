"""What a bounce or complaint does to a reader: the one policy DSNs, ARF and webhooks share.

A hard bounce or a complaint suppresses the reader at once: mailing a dead address or
someone who called us spam is what gets a sender blocked. A soft bounce (a full mailbox,
a server down, a policy block) is recorded, and only three deliveries soft-bouncing within
fourteen days suppress. A report that names no delivery we sent, or names one through a
forged VERP address, changes nothing: only what an outsider cannot write (a VERP MAC, a
Message-ID the ledger issued) ties a report to a delivery. Functions take a Session and
leave the commit to the caller; each report is recorded under its own key, so seeing it
again changes nothing.

A hard bounce after the relay accepted the message (a 250) moves its delivery from `sent`
to `bounced`: it is counted once, as bounced, never as a failed send. A relay that refuses
the address itself during the SMTP exchange (`550 5.1.1` and the like,
`suppress_refused_recipients`) suppresses the reader the same way a hard bounce does.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.feedback.reports import FeedbackReport, NotAReport, Reference, parse_report
from alerts.ledger.message_ids import delivery_named_by
from alerts.mail.verp import is_verp_address, parse_verp
from alerts.models import Delivery, DeliveryStatus, FeedbackEvent, FeedbackKind
from subscribers.models import Subscriber, SubscriberStatus
from subscribers.services import suppress

SOFT_BOUNCE_LIMIT = 3
SOFT_BOUNCE_WINDOW = timedelta(days=14)
# Readers in these states are moved to bounced/complained; one who already left (or was
# suppressed before) keeps the state that says so, and only gains the suppression.
_STILL_MAILED = (SubscriberStatus.ACTIVE, SubscriberStatus.PENDING)
_SUPPRESSION = {
    FeedbackKind.HARD_BOUNCE: (SubscriberStatus.BOUNCED, "hard_bounce"),
    FeedbackKind.SOFT_BOUNCE: (SubscriberStatus.BOUNCED, "soft_bounces"),
    FeedbackKind.COMPLAINT: (SubscriberStatus.COMPLAINED, "complaint"),
}
# Refusals that say the recipient's address itself does not exist (RFC 3463, RFC 7505):
# bad destination mailbox (5.1.1), system (5.1.2) or mailbox syntax (5.1.3), a domain that
# takes no mail (5.1.10). A 5.7.x policy block or a full mailbox says nothing of the address.
_NO_SUCH_RECIPIENT = re.compile(r"^5\d\d[ -]5\.1\.(?:10|1|2|3)\b")
NO_SUCH_RECIPIENT = "the relay says this address does not exist: the reader is suppressed"


class Outcome(enum.StrEnum):
    SUPPRESSED = "suppressed"  # the reader will not be mailed again
    RECORDED = "recorded"  # noted against the delivery; not (yet) a reason to suppress
    DUPLICATE = "duplicate"  # this very report was processed before
    IGNORED = "ignored"  # not a report we act on, or about nothing we sent


@dataclass(frozen=True)
class FeedbackResult:
    """What one report did, and why."""

    outcome: Outcome
    reason: str
    kind: FeedbackKind | None = None
    delivery_id: int | None = None
    subscriber_id: int | None = None

    @property
    def changed(self) -> bool:
        return self.outcome in (Outcome.SUPPRESSED, Outcome.RECORDED)


def process_message(
    session: Session,
    raw: bytes,
    *,
    secret: str,
    now: datetime,
    envelope_recipient: str | None = None,
) -> FeedbackResult:
    """Read one email (a DSN, an ARF report, or anything else) and apply it."""
    parsed = parse_report(raw, envelope_recipient=envelope_recipient)
    if isinstance(parsed, NotAReport):
        return FeedbackResult(Outcome.IGNORED, parsed.reason)
    return apply_report(session, parsed, secret=secret, now=now)


def apply_report(
    session: Session, report: FeedbackReport, *, secret: str, now: datetime
) -> FeedbackResult:
    """Apply one parsed report. `secret` is SECRET_KEY: it checks VERP and keys suppressions."""
    seen = select(FeedbackEvent.id).where(FeedbackEvent.report_key == report.report_key)
    if session.scalar(seen) is not None:
        return FeedbackResult(Outcome.DUPLICATE, "this report was processed before", report.kind)
    found = find_delivery(session, report.reference, secret=secret)
    if isinstance(found, str):
        return FeedbackResult(Outcome.IGNORED, found, report.kind)
    delivery, subscriber = found, found.subscriber
    sent = delivery.sent_at or delivery.created_at
    occurred = min(max(report.occurred_at or now, sent), now)
    session.add(
        FeedbackEvent(
            report_key=report.report_key,
            delivery_id=delivery.id,
            subscriber_id=subscriber.id,
            kind=report.kind,
            source=report.source,
            status_code=report.status_code,
            detail=report.detail,
            occurred_at=occurred,
        )
    )
    session.flush()
    _note(delivery, report)
    if report.kind is FeedbackKind.SOFT_BOUNCE:
        count = soft_bounces_around(session, subscriber.id, occurred)
        if count < SOFT_BOUNCE_LIMIT:
            reason = f"soft bounce {count} of {SOFT_BOUNCE_LIMIT} within 14 days"
            return FeedbackResult(Outcome.RECORDED, reason, report.kind, delivery.id, subscriber.id)
    _suppress(session, subscriber, report.kind, secret=secret, now=now)
    reason = _SUPPRESSION[report.kind][1].replace("_", " ")
    return FeedbackResult(Outcome.SUPPRESSED, reason, report.kind, delivery.id, subscriber.id)


def _suppress(
    session: Session, subscriber: Subscriber, kind: FeedbackKind, *, secret: str, now: datetime
) -> None:
    status, reason = _SUPPRESSION[kind]
    suppress(session, subscriber.email, reason=reason, hash_key=secret)
    if subscriber.status in _STILL_MAILED:
        subscriber.status = status
        subscriber.status_changed_at = now


def no_such_recipient(reply: str | None) -> bool:
    """Whether an SMTP reply refuses the recipient because the address does not exist."""
    return bool(reply) and _NO_SUCH_RECIPIENT.match(reply or "") is not None


def suppress_refused_recipients(
    session: Session, delivery_ids: Sequence[int], *, secret: str, now: datetime
) -> list[int]:
    """Suppress the readers of the deliveries in `delivery_ids` that failed because the
    relay refused their address as nonexistent during the SMTP exchange, as a hard
    bounce does (the same reader status and suppression reason); the readers' ids.

    Without this, such a reader stays active and is refused again every day. No
    FeedbackEvent is written: the delivery itself records the refusal (`failed`, with the
    reply), so it is counted once, as a failed send. Calling it again changes nothing.
    Does not commit.
    """
    if not delivery_ids:
        return []
    refused = session.scalars(
        select(Delivery).where(
            Delivery.id.in_(delivery_ids),
            Delivery.status == DeliveryStatus.FAILED,
            Delivery.smtp_reply.startswith("5"),
        )
    ).all()
    suppressed = []
    for delivery in refused:
        if not no_such_recipient(delivery.smtp_reply):
            continue
        _suppress(session, delivery.subscriber, FeedbackKind.HARD_BOUNCE, secret=secret, now=now)
        if not (delivery.last_error or "").endswith(NO_SUCH_RECIPIENT):
            delivery.last_error = f"{delivery.smtp_reply}; {NO_SUCH_RECIPIENT}"[:2000]
        suppressed.append(delivery.subscriber_id)
    return suppressed


def find_delivery(session: Session, reference: Reference, *, secret: str) -> Delivery | str:
    """The delivery a report is about, or the reason none is believed.

    A VERP address with a good MAC is proof; one with a bad MAC is a forgery, and then
    nothing else in the report is believed either. A Message-ID of ours carries a MAC of
    its row's id and date (alerts.ledger.message_ids), so naming one is proof enough.
    Nothing else is: delivery ids are sequential and every reader sees addresses, so a
    report naming a delivery by its number and its reader's address could be written by
    anyone who wants that reader suppressed.
    """
    ours = [address for address in reference.verp_addresses if is_verp_address(address)]
    for address in ours:
        delivery_id = parse_verp(address, secret=secret)
        if delivery_id is not None:
            delivery = session.get(Delivery, delivery_id)
            if delivery is None:  # retention removed it, or it was erased
                return "its VERP address names no delivery we sent"
            return delivery
    if ours:
        return "its VERP address is forged (the signature does not match)"
    for message_id in reference.message_ids:
        delivery = delivery_named_by(session, message_id, secret=secret)
        if delivery is not None:
            return delivery
    return "it names no delivery we sent"


def soft_bounces_around(session: Session, subscriber_id: int, moment: datetime) -> int:
    """The most deliveries to this reader that soft-bounced within one window holding `moment`.

    Reports may be processed late and out of order (a Maildir read once a week), so every
    window that contains this bounce is considered, not only the one ending now. A delivery
    counts once however many delay warnings it drew.
    """
    first_bounce = (
        select(func.min(FeedbackEvent.occurred_at))
        .where(
            FeedbackEvent.subscriber_id == subscriber_id,
            FeedbackEvent.kind == FeedbackKind.SOFT_BOUNCE,
            FeedbackEvent.occurred_at >= moment - SOFT_BOUNCE_WINDOW,
            FeedbackEvent.occurred_at <= moment + SOFT_BOUNCE_WINDOW,
        )
        .group_by(FeedbackEvent.delivery_id)
    )
    times = sorted(session.scalars(first_bounce))
    best = 0
    for start, opened in enumerate(times):
        inside = [t for t in times[start:] if t - opened <= SOFT_BOUNCE_WINDOW]
        if opened <= moment <= opened + SOFT_BOUNCE_WINDOW:
            best = max(best, len(inside))
    return best


def _note(delivery: Delivery, report: FeedbackReport) -> None:
    """The ledger row says what became of its message, for operators reading it."""
    label = report.kind.value.replace("_", " ")
    code = f" {report.status_code}" if report.status_code else ""
    delivery.last_error = f"{label}{code} ({report.source}): {report.detail or ''}".strip()[:2000]
    if report.kind is FeedbackKind.HARD_BOUNCE and delivery.status is DeliveryStatus.SENT:
        # The relay took it, then it bounced: a bounce, never a failed send (which an
        # operator might retry, and which would count the reader twice).
        delivery.status = DeliveryStatus.BOUNCED
