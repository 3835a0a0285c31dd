"""Writing what became of a batch's messages back to the ledger, a group at a time.

An outcome is written only on a row that still carries the claim its batch wrote (time and
owner: alerts.ledger.claims) and is
in a state the batch left it in — or failed as unknown by a sweeper that ran while the
batch was slow: the true outcome then replaces the guess. Anything else (an editor's
pause, another batch's claim) is left alone.

On PostgreSQL a group's outcomes go as one array per column through `unnest`, in one
statement, and can ride along with the statement that marks the next group sending (a
data-modifying CTE): one round trip a group instead of two. SQLite takes an executemany.

A sent row keeps no positive reply (`kept_reply`): "250 2.0.0 Ok: queued as ..." was a
third of a sent row's bytes and says nothing a sent row does not. Replies are kept where
something went wrong, or where the relay said something other than a 2xx. A sent row keeps
no claim either (its time and owner): a claim is the proof a batch owns a row it may still
write, and nothing writes a sent row's outcome again. The relay is written as its number
(alerts.ledger.relay_names).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import CTE, Integer, bindparam, column, text, update
from sqlalchemy.orm import Session

from alerts.ledger.outgoing import Outgoing
from alerts.ledger.relay_names import register_relays, relay_number
from alerts.models import Delivery, DeliveryStatus

UNKNOWN_OUTCOME = (
    "the worker stopped during the SMTP exchange; the reader may have received the message, "
    "so it is not sent again"
)

_UNNESTED = text(
    "UPDATE deliveries AS d SET status = v.status, sent_at = v.sent_at, "
    "smtp_reply = v.smtp_reply, last_error = v.last_error, "
    "relay_id = (SELECT r.id FROM relays AS r WHERE r.name = v.relay), "
    "next_attempt_at = v.next_attempt_at, "
    "claimed_at = CASE WHEN v.status = :sent THEN NULL ELSE d.claimed_at END, "
    "claimed_by = CASE WHEN v.status = :sent THEN NULL ELSE d.claimed_by END "
    "FROM unnest(CAST(:o_id AS integer[]), CAST(:o_claim AS timestamptz[]), "
    "CAST(:o_status AS text[]), CAST(:o_sent_at AS timestamptz[]), "
    "CAST(:o_reply AS text[]), CAST(:o_relay AS text[]), CAST(:o_error AS text[]), "
    "CAST(:o_next AS timestamptz[])) "
    "AS v(id, claim, status, sent_at, smtp_reply, relay, last_error, next_attempt_at) "
    "WHERE d.id = v.id AND d.claimed_at = v.claim "
    "AND d.claimed_by IS NOT DISTINCT FROM CAST(:o_owner AS bigint) "
    "AND (d.status IN (:claimed, :sending) "
    "OR (d.status = :failed AND d.last_error = :unknown)) RETURNING d.id"
).columns(column("id", Integer))

_EACH = (
    update(Delivery)
    .where(
        Delivery.id == bindparam("row_id"),
        Delivery.claimed_at == bindparam("row_claim"),
        Delivery.claimed_by.is_not_distinct_from(bindparam("row_owner")),
        # Not IN: SQLAlchemy's expanding IN cannot run as an executemany.
        (Delivery.status == DeliveryStatus.CLAIMED)
        | (Delivery.status == DeliveryStatus.SENDING)
        | ((Delivery.status == DeliveryStatus.FAILED) & (Delivery.last_error == UNKNOWN_OUTCOME)),
    )
    .values(
        status=bindparam("new_status"),
        sent_at=bindparam("new_sent_at"),
        smtp_reply=bindparam("new_reply"),
        relay_id=relay_number(bindparam("new_relay")),
        last_error=bindparam("new_error"),
        next_attempt_at=bindparam("new_next_attempt"),
        claimed_at=bindparam("new_claim"),
        claimed_by=bindparam("new_owner"),
    )
)


def kept_reply(status: DeliveryStatus, reply: str | None) -> str | None:
    """The reply a row keeps: none for a row the relay simply accepted (a sent row's 2xx,
    counted as such by the running counts: alerts.ledger.counts), else the reply."""
    if status == DeliveryStatus.SENT and reply is not None and reply.startswith("2"):
        return None
    return reply


def _claim_kept(row: Outgoing) -> datetime | None:
    """The claim a row keeps: none once sent (16 bytes of every sent row that nothing reads
    again: a sent row is never claimed, swept or taken back), else the batch's."""
    return None if row.status == DeliveryStatus.SENT else row.claimed_at


def unnested(session: Session) -> bool:
    """Whether outcomes go through `unnest` (and so can ride along with another UPDATE)."""
    return session.get_bind().dialect.name == "postgresql"


def write_outcomes(session: Session, rows: Sequence[Outgoing], owner: int | None) -> None:
    """Write the rows' outcomes, each only where its batch (of process `owner`) still owns
    it. Does not commit."""
    if not rows:
        return
    register_relays(session, (row.relay for row in rows))
    if unnested(session):
        session.execute(_UNNESTED, _arrays(rows, owner))
        return
    session.connection().execute(
        _EACH,
        [
            {
                "row_id": row.id,
                "row_claim": row.claimed_at,
                "row_owner": owner,
                "new_status": row.status,
                "new_sent_at": row.sent_at,
                "new_reply": kept_reply(row.status, row.smtp_reply),
                "new_relay": row.relay,
                "new_error": row.last_error,
                "new_next_attempt": row.next_attempt_at,
                "new_claim": _claim_kept(row),
                "new_owner": None if _claim_kept(row) is None else owner,
            }
            for row in rows
        ],
    )


def outcomes_cte(rows: Sequence[Outgoing], owner: int | None) -> CTE:
    """The PostgreSQL statement of `write_outcomes` as a CTE for another UPDATE to carry
    (the rows' relays registered first: alerts.ledger.relay_names)."""
    return _UNNESTED.bindparams(**_arrays(rows, owner)).cte("outcomes")


def _arrays(rows: Sequence[Outgoing], owner: int | None) -> dict[str, Any]:
    return {
        "o_owner": owner,
        "o_id": [row.id for row in rows],
        "o_claim": [row.claimed_at for row in rows],
        "o_status": [row.status.value for row in rows],
        "o_sent_at": [row.sent_at for row in rows],
        "o_reply": [kept_reply(row.status, row.smtp_reply) for row in rows],
        "o_relay": [row.relay for row in rows],
        "o_error": [row.last_error for row in rows],
        "o_next": [row.next_attempt_at for row in rows],
        "sent": DeliveryStatus.SENT.value,
        "claimed": DeliveryStatus.CLAIMED.value,
        "sending": DeliveryStatus.SENDING.value,
        "failed": DeliveryStatus.FAILED.value,
        "unknown": UNKNOWN_OUTCOME,
    }
