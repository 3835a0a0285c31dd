"""VERP return paths: each message's envelope sender names its delivery, signed.

A bounce goes back to the envelope sender (Return-Path), so `bounces+<id>-<mac>@domain`
tells us which ledger row bounced without trusting anything in the bounce's body. The
MAC stops anyone from suppressing arbitrary readers by mailing fake bounces to made-up
ids; it is short because local parts are limited to 64 characters and 32 bits are plenty
against guessing by mail. The MAC is hex in lower case because some mail servers change
the case of local parts on the way back.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from email.utils import parseaddr

PREFIX = "bounces"
MAC_LENGTH = 8
# A purpose of its own, so a VERP MAC can never serve as any other signature made with
# the same SECRET_KEY (tokens, suppression hashes).
_PURPOSE = b"newsalerts.verp.v1"
_SHAPE = re.compile(rf"^{PREFIX}\+(?P<id>[0-9]{{1,18}})-(?P<mac>[0-9a-f]{{{MAC_LENGTH}}})$")


def _mac(delivery_id: int, secret: str) -> str:
    key = hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()
    return hmac.new(key, str(delivery_id).encode(), hashlib.sha256).hexdigest()[:MAC_LENGTH]


def verp_address(delivery_id: int, *, secret: str, domain: str) -> str:
    """The envelope sender for one delivery: `bounces+<id>-<mac>@<domain>`."""
    if delivery_id < 0:
        raise ValueError("a delivery id is never negative")
    if not domain or "@" in domain:
        raise ValueError(f"{domain!r} is not a mail domain")
    return f"{PREFIX}+{delivery_id}-{_mac(delivery_id, secret)}@{domain}"


def _local_part(address: str) -> str:
    """The local part of a bare, bracketed or named address, in lower case."""
    bare = parseaddr(address)[1] or address.strip().strip("<>")
    return bare.rpartition("@")[0].lower()


def is_verp_address(address: str) -> bool:
    """True if the address has our VERP form, whether or not its MAC is right.

    Lets a caller tell "not one of ours" from "one of ours, forged".
    """
    return _local_part(address).startswith(f"{PREFIX}+")


def parse_verp(address: str, *, secret: str) -> int | None:
    """The delivery id a VERP address names, or None if it is not ours or its MAC is wrong."""
    match = _SHAPE.match(_local_part(address))
    if match is None:
        return None
    delivery_id = int(match["id"])
    if not hmac.compare_digest(match["mac"], _mac(delivery_id, secret)):
        return None
    return delivery_id
