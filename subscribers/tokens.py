"""Signed, purpose-bound tokens for links in emails: a subscriber id, never an address."""

from __future__ import annotations

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


class TokenSigner:
    """Signs with the first key and accepts any listed key, so keys can be rotated."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("at least one secret key is needed")
        self._keys = list(keys)

    def _serializer(self, purpose: Purpose) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._keys, salt=f"newsalerts.{purpose.value}")

    def sign(self, purpose: Purpose, subscriber_id: int) -> str:
        return self._serializer(purpose).dumps(subscriber_id)

    def verify(self, purpose: Purpose, token: str, *, allow_expired: bool = False) -> int:
        """Return the subscriber id in a token; raise InvalidToken if it is not ours.

        `allow_expired` still checks the signature; it lets an expired confirmation link
        ask for a fresh email.
        """
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
