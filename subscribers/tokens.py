"""Signed, purpose-bound tokens for links in emails: a subscriber id, never an address."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

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

    def _serializer(self, purpose: Purpose) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._keys, salt=f"newsalerts.{purpose.value}")

    def _macs(self, purpose: Purpose, subscriber_id: int) -> list[str]:
        keys = self._mac_keys.get(purpose)
        if keys is None:
            label = f"newsalerts.link.{purpose.value}".encode()
            keys = [hmac.new(key.encode(), label, hashlib.sha256).digest() for key in self._keys]
            self._mac_keys[purpose] = keys
        message = str(subscriber_id).encode()
        return [
            base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()[:_MAC_BYTES])
            .decode()
            .rstrip("=")
            for key in keys
        ]

    def sign(self, purpose: Purpose, subscriber_id: int) -> str:
        if MAX_AGE_SECONDS[purpose] is not None:
            return self._serializer(purpose).dumps(subscriber_id)
        return f"{subscriber_id}.{self._macs(purpose, subscriber_id)[0]}"

    def _verify_mac(self, purpose: Purpose, token: str) -> int:
        number, _, mac = token.partition(".")
        if not (number.isdigit() and number.isascii() and len(number) < 19 and mac.isascii()):
            raise InvalidToken("this link is not valid")
        subscriber_id = int(number)
        if not any(hmac.compare_digest(mac, good) for good in self._macs(purpose, subscriber_id)):
            raise InvalidToken("this link is not valid")
        return subscriber_id

    def verify(self, purpose: Purpose, token: str, *, allow_expired: bool = False) -> int:
        """Return the subscriber id in a token; raise InvalidToken if it is not ours.

        `allow_expired` still checks the signature; it lets an expired confirmation link
        ask for a fresh email.
        """
        if MAX_AGE_SECONDS[purpose] is None and token.count(".") == 1:
            return self._verify_mac(purpose, token)
        max_age = None if allow_expired else MAX_AGE_SECONDS[purpose]
        try:
            value = self._serializer(purpose).loads(token, max_age=max_age)
        except SignatureExpired:
            raise InvalidToken("this link has expired") from None
        except BadSignature:
            raise InvalidToken("this link is not valid") from None
        if not isinstance(value, int):
            raise InvalidToken("this link is not valid")
        return value
