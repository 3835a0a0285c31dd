"""Sending one reader a notice now: the sign-up confirmation or "manage your alerts".

A notice has no ledger row: it goes straight to the transport, and a task that fails
is retried by the queue. Its bytes are alerts.mail.notices'.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from alerts.config import Settings
from alerts.delivery.transports import Transport
from alerts.mail.dkim import DkimSigner
from alerts.mail.notices import Notice, compose_notice
from alerts.mail.rendering import EmailRenderer
from subscribers.models import Subscriber

log = logging.getLogger(__name__)


def send_notice(
    session: Session,
    notice: Notice,
    subscriber_id: int,
    *,
    settings: Settings,
    renderer: EmailRenderer,
    transport: Transport,
    signer: DkimSigner | None = None,
) -> bool:
    """Send one notice now; False if the reader is gone. Raises DeliveryError."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        return False
    envelope = compose_notice(
        notice, subscriber, settings=settings, renderer=renderer, signer=signer
    )
    with transport.connect() as connection:
        connection.send(envelope)
    log.info("sent %s notice to subscriber %s", notice.value, subscriber_id)
    return True


__all__ = ["send_notice"]
