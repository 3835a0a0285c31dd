"""The envelope of every message we send: From, Message-ID, list headers, return path, DKIM.

Digests, breaking alerts, notices and test copies all get their sender, their headers and
their signature here, so they agree on who sends them. What a process never changes (the
sender's address and domain, the bounce domain, the list's tag) is worked out once per
builder: a composer builds some 2,000 envelopes a second.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from email.utils import parseaddr

from alerts.config import Settings
from alerts.ledger.message_ids import message_id_for
from alerts.ledger.outgoing import LedgerRow
from alerts.mail.dkim import DkimSigner
from alerts.mail.mime import EncodedEmail, Envelope, build_message, make_message_id
from alerts.mail.rendering import ReaderParts, RenderedEmail
from alerts.mail.verp import verp_address
from subscribers.database import utcnow

# RFC 8058: a POST to the List-Unsubscribe link is enough, no page to click through.
ONE_CLICK = ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
# What may not be in a DNS label (an edition's slug is one already; this is a guard).
_LABEL_JUNK = re.compile(r"[^a-z0-9-]+")
# A phrase of atoms (RFC 5322 atext and spaces) needs no quotes.
_ATOMS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~ -]+")


def sender_address(mail_from: str) -> str:
    """The bare address of MAIL_FROM: 'alerts@example.com' of 'News <alerts@example.com>'."""
    return parseaddr(mail_from)[1]


def sender_domain(mail_from: str) -> str:
    """The domain of MAIL_FROM: of every Message-ID, and of bounces and DKIM signatures
    unless BOUNCE_DOMAIN or DKIM_DOMAIN name another."""
    return sender_address(mail_from).rpartition("@")[2]


def edition_list_id(rest: str, slug: str, name: str | None) -> str:
    """An edition's List-Id (RFC 2919): its name as the description, its slug (lowercase
    letters, digits and inner hyphens, at most 50: a DNS label) in front of the rest of
    LIST_ID. A name that is not plain printable ASCII is left out rather than encoded
    (headers here are never encoded words); quotes and backslashes are dropped."""
    label = _LABEL_JUNK.sub("-", slug.lower()).strip("-")[:63].strip("-") or "edition"
    description = (name or "").replace('"', "").replace("\\", "").strip()
    if not description or not description.isascii() or not description.isprintable():
        return f"<{label}.{rest}>"
    description = description[:100]
    if not _ATOMS.fullmatch(description):  # specials such as "." or ",": a quoted string
        description = f'"{description}"'
    return f"{description} <{label}.{rest}>"


class EnvelopeBuilder:
    """Builds the bytes and SMTP envelope of a message from its encoded body and headers."""

    def __init__(self, settings: Settings, signer: DkimSigner | None = None) -> None:
        self._mail_from = settings.mail_from
        self._secret_key = settings.secret_key
        self._list_id = settings.list_id
        self._signer = signer
        self.sender = sender_address(settings.mail_from)
        self.domain = sender_domain(settings.mail_from)
        self._bounce_domain = settings.bounce_domain or self.domain
        self._list_tag = settings.list_id.split(".", 1)[0]
        # Breaking alerts are a list of their own, so a reader can file or filter them
        # apart from the digests: LIST_ID with its first label made "breaking".
        tag, dot, rest = settings.list_id.partition(".")
        self._alert_list_id = f"Breaking news alerts <breaking.{rest if dot else tag}>"
        # Keyword alerts likewise, under "keywords".
        self._keyword_list_id = f"Keyword alerts <keywords.{rest if dot else tag}>"
        # Each edition is a list of its own, so that leaving one (its one-click link)
        # and filtering one are per edition: its slug as the first label.
        self._list_rest = rest if dot else tag

    def message_id(self, hint: str) -> str:
        """A fresh Message-ID in the sender's domain, `hint` (say 'digest.42') in front."""
        return make_message_id(self.domain, hint)

    def build(
        self,
        recipient: str,
        email: RenderedEmail | EncodedEmail,
        *,
        message_id: str,
        headers: list[tuple[str, str]],
        reader: ReaderParts | None = None,
        fill: Mapping[str, str] | None = None,
        date: datetime | None = None,
        return_path: str | None = None,
    ) -> Envelope:
        """The message from us to `recipient`, signed when DKIM is configured; bounces go
        to `return_path`, or to the sender. Raises ValueError if a slot would stay empty."""
        data = build_message(
            sender=self._mail_from,
            recipient=recipient,
            email=email,
            reader=reader,
            fill=fill,
            message_id=message_id,
            date=utcnow() if date is None else date,
            headers=headers,
        )
        if self._signer is not None:
            data = self._signer.sign(data)
        return Envelope(return_path or self.sender, recipient, data, message_id)

    def for_delivery(
        self,
        delivery: LedgerRow,
        recipient: str,
        email: EncodedEmail,
        reader: ReaderParts,
        fill: Mapping[str, str],
        *,
        kind: str,
        list_name: str | None = None,
    ) -> Envelope:
        """The message of one ledger row: the shared encoded body with this reader's values,
        the row's Message-ID (the same for every attempt), the list headers, the VERP return
        path, DKIM when configured. A digest's List-Id is its edition's own, `list_name`
        (the edition's name) its description."""
        message_id = message_id_for(
            kind=kind,
            delivery_id=delivery.id,
            local_date=delivery.local_date,
            domain=self.domain,
            secret=self._secret_key,
        )
        return self.build(
            recipient,
            email,
            reader=reader,
            fill=fill,
            message_id=message_id,
            headers=[
                ("List-Id", self._list_header(delivery.edition, kind, list_name)),
                ("List-Unsubscribe", f"<{reader.unsubscribe_url}>"),
                ONE_CLICK,
                # Gmail's feedback loop groups complaints by these fields.
                ("Feedback-ID", f"{delivery.edition}:{self._list_tag}:{kind}:newsalerts"),
            ],
            # The envelope sender names the delivery (VERP), so a bounce finds its ledger row.
            return_path=verp_address(
                delivery.id, secret=self._secret_key, domain=self._bounce_domain
            ),
        )

    def _list_header(self, edition: str, kind: str, name: str | None) -> str:
        if kind == "alert":
            return self._alert_list_id
        if kind == "keyword-alert":
            return self._keyword_list_id
        return edition_list_id(self._list_rest, edition, name)


__all__ = ["ONE_CLICK", "EnvelopeBuilder", "edition_list_id", "sender_address", "sender_domain"]
