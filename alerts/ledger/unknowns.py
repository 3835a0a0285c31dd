"""Which failed rows are unknowns: messages that may have reached the reader.

A row is an unknown when its SMTP exchange got as far as handing the message over and no
answer came back: the worker died mid-exchange (the sweeper writes `UNKNOWN_OUTCOME`), or
the connection broke while waiting for the relay's reply to the final dot (the sender
writes `UNKNOWN_REPLY: <why>`). Such a row is never sent again on its own, nor by an
operator's ordinary "retry these": only an explicit, confirmed re-send takes it back.

This module is the one place that says what an unknown is; the failures page, `ops
status`, the ordinary retry and the confirmed re-send all ask `unknown_outcome`.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, or_

from alerts.ledger.outcomes import UNKNOWN_OUTCOME
from alerts.models import Delivery, DeliveryStatus

UNKNOWN_REPLY = "the connection broke before the relay answered the message; it may have it"


def unknown_outcome() -> ColumnElement[bool]:
    """True for a `failed` row whose message may have reached the reader (an SQL test)."""
    error = Delivery.last_error
    return and_(
        Delivery.status == DeliveryStatus.FAILED,
        or_(
            error.startswith(UNKNOWN_REPLY, autoescape=True),
            error.startswith(UNKNOWN_OUTCOME, autoescape=True),
        ),
    )


__all__ = ["UNKNOWN_OUTCOME", "UNKNOWN_REPLY", "unknown_outcome"]
