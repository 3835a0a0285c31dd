"""Signed tracking links: which delivery a click or an open came from, and nothing else.

A digest with click tracking points each article at `/c/<token>/<position>`; the token
names the delivery and is signed, the position is the article's place in that reader's
digest, so the redirect goes only where the ledger says the article is — never to a URL
taken from the request. The token is the same in every link of one message, so it is
spliced in per reader like the unsubscribe link, and renders stay shared.
"""

from __future__ import annotations

from itsdangerous import BadSignature, Signer

_SALT = "newsalerts.tracking"


def tracking_token(secret_key: str, delivery_id: int) -> str:
    return Signer(secret_key, salt=_SALT).sign(str(delivery_id)).decode()


def read_tracking_token(secret_key: str, token: str) -> int | None:
    """The delivery id a token names, or None when it is not one of ours."""
    if len(token) > 100:
        return None
    try:
        value = Signer(secret_key, salt=_SALT).unsign(token).decode()
    except (BadSignature, UnicodeDecodeError):
        return None
    return int(value) if value.isdigit() else None


def click_url(base_url: str, token: str, position: int) -> str:
    return f"{base_url}/c/{token}/{position}"


def open_pixel_url(base_url: str, token: str) -> str:
    return f"{base_url}/o/{token}.gif"
