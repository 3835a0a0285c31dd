"""Stateless form protection: signed form timestamps against bots, action-bound CSRF tokens.

No cookies or sessions: a CSRF token is an HMAC over the action and the link token it
protects, so a page on another site cannot produce one, and it works for readers who
never log in.
"""

from __future__ import annotations

import hmac
import time
import unicodedata
from hashlib import sha256
from urllib.parse import urlsplit

from itsdangerous import BadSignature, SignatureExpired, TimestampSigner

FORM_MAX_AGE_SECONDS = 24 * 3600


class FormRejected(Exception):
    """A form that was tampered with, is too old, or was filled in too fast to be human."""


class FormGuard:
    def __init__(self, secret_key: str, *, min_seconds: float) -> None:
        self._secret = secret_key.encode()
        self._stamps = TimestampSigner(secret_key, salt="newsalerts.form-stamp")
        self._min_seconds = min_seconds

    def form_stamp(self) -> str:
        return self._stamps.sign(str(time.time())).decode()

    def check_stamp(self, stamp: str) -> None:
        try:
            issued = float(self._stamps.unsign(stamp, max_age=FORM_MAX_AGE_SECONDS).decode())
        except SignatureExpired:
            raise FormRejected("this form has expired; please try again") from None
        except (BadSignature, ValueError):
            raise FormRejected("this form is not valid; please reload the page") from None
        if time.time() - issued < self._min_seconds:
            raise FormRejected("that was quicker than a person can type; please try again")

    def csrf_token(self, action: str, bound_to: str) -> str:
        message = f"{action}\x00{bound_to}".encode()
        return hmac.new(self._secret, message, sha256).hexdigest()

    def check_csrf(self, token: str, action: str, bound_to: str) -> None:
        if not hmac.compare_digest(token.encode(), self.csrf_token(action, bound_to).encode()):
            raise FormRejected("this form is not valid; please reload the page")


def request_origin(origin_header: str | None, referer: str | None) -> str | None:
    """The origin a browser says a POST came from (Origin, else the Referer's origin)."""
    if origin_header and origin_header != "null":
        return origin_header.rstrip("/")
    if referer:
        try:
            parts = urlsplit(referer)
        except ValueError:  # "https://[::1": a Referer no browser sends, so no origin
            return None
        if parts.scheme and parts.netloc:
            return f"{parts.scheme}://{parts.netloc}"
    return None


def header_text(value: str | None, limit: int) -> str | None:
    """A request header as text fit to store: control characters (NUL, which PostgreSQL
    text refuses, line breaks) dropped, cut to `limit` characters; None when empty."""
    if not value:
        return None
    text = "".join(char for char in value if unicodedata.category(char) != "Cc")
    return text[:limit] or None
