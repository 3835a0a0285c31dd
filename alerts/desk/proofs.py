"""Proofs (the desk's "test send"): an editor mails a previewed digest to their own address first.

A test copy is not a delivery: it gets no ledger row and no List-Unsubscribe header, its
subject says "[TEST] ", and the header `X-Newsalerts-Test: yes` lets filters spot it. The
preview was personalised for a real reader, so that reader's unsubscribe and preferences
links are swapped for dead ones: an editor clicking around a test copy must never
unsubscribe the reader it was rendered for.
"""

from __future__ import annotations

import html
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.audit import record
from alerts.config import Settings
from alerts.desk.preview import Preview
from alerts.mail.envelope import EnvelopeBuilder
from alerts.mail.notices import reader_links
from alerts.mail.rendering import RenderedEmail
from alerts.runtime import Runtime
from subscribers.models import Subscriber

TEST_PREFIX = "[TEST] "
TEST_HEADER = ("X-Newsalerts-Test", "yes")


def without_reader_links(session: Session, settings: Settings, preview: Preview) -> RenderedEmail:
    """The preview's email with its reader's own links replaced by dead ones."""
    email = preview.email
    found = session.execute(
        select(Subscriber.id, Subscriber.link_key).where(Subscriber.email == preview.recipient)
    ).first()
    subscriber_id, link_key = found if found is not None else (0, None)
    links = reader_links(settings, subscriber_id, preview.recipient, link_key=link_key)
    # A digest's unsubscribe link is its edition's own (it leaves only that edition).
    edition_links = reader_links(
        settings, subscriber_id, preview.recipient, link_key=link_key, edition=preview.edition
    )
    dead = {
        edition_links.unsubscribe_url: f"{settings.base_url}/unsubscribe/test-copy",
        links.unsubscribe_url: f"{settings.base_url}/unsubscribe/test-copy",
        links.preferences_url: f"{settings.base_url}/preferences/test-copy",
    }
    text, body = email.text, email.html
    for live, replacement in dead.items():
        text = text.replace(live, replacement)
        body = body.replace(html.escape(live), html.escape(replacement))
    return RenderedEmail(subject=email.subject, text=text, html=body)


def send_test(
    session: Session,
    *,
    runtime: Runtime,
    preview: Preview,
    recipient: str,
    actor: str,
    now: datetime,
) -> str:
    """Mail `preview` to `recipient` as a test copy and audit it (the caller commits).
    Returns the Message-ID. Raises DeliveryError when the relay cannot take it."""
    settings = runtime.settings
    email = without_reader_links(session, settings, preview)
    email = RenderedEmail(subject=TEST_PREFIX + email.subject, text=email.text, html=email.html)
    envelopes = EnvelopeBuilder(settings, runtime.signer)
    envelope = envelopes.build(
        recipient,
        email,
        message_id=envelopes.message_id(f"test.{preview.edition}"),
        date=now,
        headers=[TEST_HEADER, ("Auto-Submitted", "auto-generated")],
    )
    with runtime.transport.connect() as connection:
        connection.send(envelope)
    record(
        session,
        actor=actor,
        action="issue.test_send",
        target=f"{preview.edition}/{preview.local_date.isoformat()}",
        details={"to": recipient, "as": preview.recipient, "articles": preview.article_ids},
        now=now,
    )
    return envelope.message_id
