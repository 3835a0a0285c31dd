"""Signed, purpose-bound tokens for links in emails: a subscriber id, never an address.

Every token is also bound to the reader's link key, a random value stored with the reader
and never put in a link. A link outlives its reader only as a string: when the reader is
erased their key goes with them, and a reader who comes back after unsubscribing gets a new
one, so an old link stops working, even where it names an id that now belongs to someone
else (a database may give a deleted id to the next reader).

Readers stored before link keys existed have none (None) until their key is first
rotated; their tokens are signed and checked exactly as before, so the links in the emails
they already hold keep working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from subscribers.database import MAX_ROW_ID
from subscribers.errors import InvalidToken


class Purpose(StrEnum):
    CONFIRM = "confirm"
    PREFERENCES = "preferences"
    UNSUBSCRIBE = "unsubscribe"


# Unsubscribe and preference links live in old emails and must keep working; confirmation
# links expire after a week.
MAX_AGE_SECONDS: dict[Purpose, int | None] = {
    Purpose.CONFIRM: 7 * 24 * 3600,
    Purpose.PREFERENCES: None,
    Purpose.UNSUBSCRIBE: None,
}


_MAC_BYTES = 16
_LINK_KEY_BYTES = 16
LINK_KEY_LENGTH = 22  # base64 of _LINK_KEY_BYTES, unpadded


def new_link_key() -> str:
    """A fresh random link key: given to each new reader, and on every rotation."""
    return secrets.token_urlsafe(_LINK_KEY_BYTES)


def new_link_keys(count: int) -> list[str]:
    """`count` fresh link keys, as new_link_key makes them, from one read of the system's
    random source rather than one a key (an import makes a million)."""
    pool = secrets.token_bytes(_LINK_KEY_BYTES * count)
    return [
        base64.urlsafe_b64encode(pool[start : start + _LINK_KEY_BYTES])[:LINK_KEY_LENGTH].decode()
        for start in range(0, len(pool), _LINK_KEY_BYTES)
    ]


def _bound(text: str, link_key: str | None) -> str:
    """What is signed: the id alone for a reader without a key (as before keys existed)."""
    return text if link_key is None else f"{text}.{link_key}"


class TokenSigner:
    """Signs with the first key and accepts any listed key, so keys can be rotated.

    Links that never expire (preferences, unsubscribe) carry `<id>.<mac>`: no timestamp, so
    the same reader always gets the same link, and signing is one HMAC with a key derived
    once — it runs for every message of a send. Confirmation links carry a timestamp and
    expire. Timestamped links for the other purposes, from emails sent before, still verify.
    """

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one secret key is needed")
        self._keys = list(keys)
        self._mac_keys: dict[Purpose, list[bytes]] = {}

    def _serializer(self, purpose: Purpose, link_key: str | None) -> URLSafeTimedSerializer:
        salt = _bound(f"newsalerts.{purpose.value}", link_key)
        return URLSafeTimedSerializer(self._keys, salt=salt)

    def _macs(
        self, purpose: Purpose, subscriber_id: int, link_key: str | None, scope: str | None = None
    ) -> list[str]:
        keys = self._mac_keys.get(purpose)
        if keys is None:
            label = f"newsalerts.link.{purpose.value}".encode()
            keys = [hmac.new(key.encode(), label, hashlib.sha256).digest() for key in self._keys]
            self._mac_keys[purpose] = keys
        # A scope (an edition's slug) is signed with the id: "/" never occurs in an id, so
        # no unscoped link of one reader is the scoped link of another.
        text = str(subscriber_id) if scope is None else f"{subscriber_id}/{scope}"
        message = _bound(text, link_key).encode()
        return [
            base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()[:_MAC_BYTES])
            .decode()
            .rstrip("=")
            for key in keys
        ]

    def sign(
        self,
        purpose: Purpose,
        subscriber_id: int,
        *,
        link_key: str | None,
        scope: str | None = None,
    ) -> str:
        """The token of a reader's link; `link_key` is the reader's own (`Subscriber.link_key`).

        `scope` (a never-expiring link only) binds the token to a value the link carries
        beside it, such as the edition an unsubscribe link leaves: `verify` then needs the
        same scope, so the value cannot be changed without breaking the signature."""
        if MAX_AGE_SECONDS[purpose] is not None:
            if scope is not None:
                raise ValueError(f"{purpose.value} links take no scope")
            return self._serializer(purpose, link_key).dumps(subscriber_id)
        return f"{subscriber_id}.{self._macs(purpose, subscriber_id, link_key, scope)[0]}"

    def _is_mac_token(self, purpose: Purpose, token: str) -> bool:
        return MAX_AGE_SECONDS[purpose] is None and token.count(".") == 1

    def subscriber_id(self, purpose: Purpose, token: str) -> int:
        """The id a token names, signature unchecked: it only says whose link key `verify`
        needs. Raises InvalidToken for what is not shaped like one of our tokens."""
        value: object = None
        if self._is_mac_token(purpose, token):
            number = token.partition(".")[0]
            if number.isdigit() and number.isascii() and len(number) < 19:
                value = int(number)
        else:
            _, value = self._serializer(purpose, None).loads_unsafe(token)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidToken("this link is not valid")
        if not 0 < value <= MAX_ROW_ID:
            raise InvalidToken("this link is not valid")
        return value

    def _verify_mac(
        self, purpose: Purpose, token: str, link_key: str | None, scope: str | None
    ) -> int:
        number, _, mac = token.partition(".")
        if not (number.isdigit() and number.isascii() and len(number) < 19 and mac.isascii()):
            raise InvalidToken("this link is not valid")
        subscriber_id = int(number)
        macs = self._macs(purpose, subscriber_id, link_key, scope)
        if not any(hmac.compare_digest(mac, good) for good in macs):
            raise InvalidToken("this link is not valid")
        return subscriber_id

    def verify(
        self,
        purpose: Purpose,
        token: str,
        *,
        link_key: str | None,
        allow_expired: bool = False,
        scope: str | None = None,
    ) -> int:
        """Return the subscriber id in a token; raise InvalidToken if it is not ours, was
        signed with another link key than `link_key` (that of the reader with the id now),
        or for another `scope` than this one (see `sign`).

        `allow_expired` still checks the signature; it lets an expired confirmation link
        ask for a fresh email.
        """
        if self._is_mac_token(purpose, token):
            return self._verify_mac(purpose, token, link_key, scope)
        if scope is not None:
            raise InvalidToken("this link is not valid")
        max_age = None if allow_expired else MAX_AGE_SECONDS[purpose]
        try:
            value = self._serializer(purpose, link_key).loads(token, max_age=max_age)
        except SignatureExpired:
            raise InvalidToken("this link has expired") from None
        except BadSignature:
            raise InvalidToken("this link is not valid") from None
        if not isinstance(value, int):
            raise InvalidToken("this link is not valid")
        return value
