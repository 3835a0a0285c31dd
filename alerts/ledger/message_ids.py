"""A ledger row's Message-ID: derived from the row with SECRET_KEY, never stored.

Every message of a ledger row reads `<kind.id.mac@domain>`: `kind` says what it is
(`digest`, `alert`, `keyword-alert`), `id` is the row's, and `mac` the first 64 bits of an
HMAC-SHA256 of the row's id and local date under SECRET_KEY. The composers write it
(alerts.mail) and alerts.feedback reads it back with `delivery_named_by`: the id finds the
row by its key, the MAC proves that we wrote that id. Ids are sequential and anyone can
guess one, so a report naming someone else's row is believed only with the MAC, which
nobody without the key can make — the proof the 64 random bits of a stored Message-ID
gave, without ~50 bytes of text in every row (docs/decisions.md, "A sent row without
text"). Only the composer of a row being sent writes its Message-ID, so a good MAC also
says the row went to the relay.

Every attempt at a row sends the same Message-ID: a retry is the same message, and a
mailbox that got both may fold them into one. Rows sent before revision 0028 keep the
Message-ID they went out with in `legacy_message_ids`, read here as well, so a report about
them is still matched.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.models import Delivery, legacy_message_ids

# 16 hex digits: 64 bits of the MAC, as many as the random part of the Message-IDs before.
MAC_DIGITS = 16
_PURPOSE = b"newsalerts message-id\x00"


def message_mac(*, delivery_id: int, local_date: date, secret: str) -> str:
    """The MAC a row's Message-ID carries: keyed by SECRET_KEY, over its id and date."""
    payload = f"{delivery_id}:{local_date.isoformat()}".encode("ascii")
    digest = hmac.new(secret.encode("utf-8"), _PURPOSE + payload, hashlib.sha256).hexdigest()
    return digest[:MAC_DIGITS]


def message_id_for(
    *, kind: str, delivery_id: int, local_date: date, domain: str, secret: str
) -> str:
    """The Message-ID of every message of one ledger row, `<kind.id.mac@domain>`."""
    mac = message_mac(delivery_id=delivery_id, local_date=local_date, secret=secret)
    return f"<{kind}.{delivery_id}.{mac}@{domain}>"


def named_delivery_id(message_id: str) -> int | None:
    """The row id a Message-ID of ours names (not yet proven), or None for anything else."""
    local = message_id.strip().strip("<>").split("@", 1)[0]
    parts = local.split(".")
    if len(parts) != 3 or not parts[1].isdigit() or len(parts[1]) > 18:
        return None
    return int(parts[1])


def delivery_named_by(session: Session, message_id: str, *, secret: str) -> Delivery | None:
    """The ledger row a Message-ID of ours names, when the Message-ID proves it: its MAC
    matches the row's id and date, or it is the very one a row sent before revision 0028
    went out with. None for a forgery, a row retention removed, or someone else's."""
    delivery_id = named_delivery_id(message_id)
    if delivery_id is None:
        return None
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return None
    mac = message_id.strip().strip("<>").split("@", 1)[0].rsplit(".", 1)[1]
    expected = message_mac(delivery_id=delivery.id, local_date=delivery.local_date, secret=secret)
    if hmac.compare_digest(mac.lower().encode(), expected.encode()):
        return delivery
    stored = session.scalar(
        select(legacy_message_ids.c.message_id).where(
            legacy_message_ids.c.delivery_id == delivery_id
        )
    )
    bracketed = f"<{message_id.strip().strip('<>')}>"
    if stored is not None and hmac.compare_digest(stored.encode(), bracketed.encode()):
        return delivery
    return None
