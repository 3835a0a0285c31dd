"""Transactional emails to one reader: the sign-up confirmation and "manage your alerts".

Nothing a visitor typed goes into these emails except the address itself: the sign-up
form could be filled in by anyone, with anyone's address.
"""

from __future__ import annotations

import enum
from urllib.parse import quote

from alerts.config import Settings
from alerts.mail.branding import brand_of
from alerts.mail.dkim import DkimSigner
from alerts.mail.envelope import ONE_CLICK, EnvelopeBuilder
from alerts.mail.mime import Envelope
from alerts.mail.rendering import EmailRenderer, ReaderParts
from alerts.translations import reader_language
from subscribers.models import Subscriber
from subscribers.tokens import Purpose, TokenSigner


class Notice(enum.StrEnum):
    CONFIRM = "confirm"
    MANAGE = "manage"


def reader_links(
    settings: Settings,
    subscriber_id: int,
    email: str,
    *,
    link_key: str | None,
    edition: str | None = None,
) -> ReaderParts:
    """The reader's own links, signed with their link key (`Subscriber.link_key`).

    With `edition` (a slug), the unsubscribe link is that edition's: it names the edition
    beside a token signed for it, and a one-click POST to it leaves only that edition."""
    signer = TokenSigner([settings.secret_key])
    unsubscribe = signer.sign(Purpose.UNSUBSCRIBE, subscriber_id, link_key=link_key, scope=edition)
    preferences = signer.sign(Purpose.PREFERENCES, subscriber_id, link_key=link_key)
    unsubscribe_url = f"{settings.base_url}/unsubscribe/{unsubscribe}"
    if edition is not None:
        unsubscribe_url += f"?edition={quote(edition, safe='')}"
    return ReaderParts(
        email=email,
        unsubscribe_url=unsubscribe_url,
        preferences_url=f"{settings.base_url}/preferences/{preferences}",
    )


def compose_notice(
    notice: Notice,
    subscriber: Subscriber,
    *,
    settings: Settings,
    renderer: EmailRenderer,
    signer: DkimSigner | None = None,
) -> Envelope:
    confirm_token = TokenSigner([settings.secret_key]).sign(
        Purpose.CONFIRM, subscriber.id, link_key=subscriber.link_key
    )
    context: dict[str, object] = {
        "site_name": settings.site_name,
        "site_url": settings.site_url,
        "postal_address": settings.postal_address,
        "brand": brand_of(settings),
        "confirm_url": f"{settings.base_url}/confirm/{confirm_token}",
    }
    links = reader_links(settings, subscriber.id, subscriber.email, link_key=subscriber.link_key)
    language = reader_language(subscriber.language, settings.default_language)
    email = renderer.render(notice.value, context, language=language).personalise(links)
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


__all__ = ["Notice", "compose_notice", "reader_links"]
