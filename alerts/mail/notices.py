"""Transactional emails to one reader: the sign-up confirmation and "manage your alerts".

Nothing a visitor typed goes into these emails except the address itself: the sign-up
form could be filled in by anyone, with anyone's address.
"""

from __future__ import annotations

import enum
import logging

from sqlalchemy.orm import Session

from alerts.config import Settings
from alerts.delivery.transports import Transport
from alerts.errors import DeliveryError
from alerts.mail.dkim import DkimSigner
from alerts.mail.envelope import ONE_CLICK, EnvelopeBuilder
from alerts.mail.mime import Envelope
from alerts.mail.rendering import EmailRenderer, ReaderParts
from subscribers.models import Subscriber
from subscribers.tokens import Purpose, TokenSigner

log = logging.getLogger(__name__)


class Notice(enum.StrEnum):
    CONFIRM = "confirm"
    MANAGE = "manage"


def reader_links(settings: Settings, subscriber_id: int, email: str) -> ReaderParts:
    signer = TokenSigner([settings.secret_key])
    return ReaderParts(
        email=email,
        unsubscribe_url=(
            f"{settings.base_url}/unsubscribe/{signer.sign(Purpose.UNSUBSCRIBE, subscriber_id)}"
        ),
        preferences_url=(
            f"{settings.base_url}/preferences/{signer.sign(Purpose.PREFERENCES, subscriber_id)}"
        ),
    )


def compose_notice(
    notice: Notice,
    subscriber: Subscriber,
    *,
    settings: Settings,
    renderer: EmailRenderer,
    signer: DkimSigner | None = None,
) -> Envelope:
    confirm_token = TokenSigner([settings.secret_key]).sign(Purpose.CONFIRM, subscriber.id)
    context: dict[str, object] = {
        "site_name": settings.site_name,
        "site_url": settings.site_url,
        "postal_address": settings.postal_address,
        "confirm_url": f"{settings.base_url}/confirm/{confirm_token}",
    }
    links = reader_links(settings, subscriber.id, subscriber.email)
    email = renderer.render(notice.value, context).personalise(links)
    envelopes = EnvelopeBuilder(settings, signer)
    return envelopes.build(
        subscriber.email,
        email,
        message_id=envelopes.message_id(f"{notice.value}.{subscriber.id}"),
        headers=[
            ("Auto-Submitted", "auto-generated"),
            ("List-Unsubscribe", f"<{links.unsubscribe_url}>"),
            ONE_CLICK,
        ],
    )


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


__all__ = ["DeliveryError", "Notice", "compose_notice", "reader_links", "send_notice"]
