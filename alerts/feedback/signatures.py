"""Is a webhook request really from the provider? Postmark, SendGrid and Mailgun checks.

Every check raises WebhookRejected and returns nothing, so a view cannot forget to look
at a result. Missing credentials answer 401, wrong or stale ones 403. A timestamp older
(or further in the future) than `max_age` is refused, so a captured request cannot be
replayed later; within that window the report keys make a replay change nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
from datetime import datetime, timedelta
from functools import lru_cache

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from alerts.errors import WebhookRejected


def check_basic_auth(authorization: str | None, *, user: str, password: str) -> None:
    """Postmark signs nothing; its webhooks carry the credentials put in their URL."""
    if not authorization or not authorization.lower().startswith("basic "):
        raise WebhookRejected("basic authentication required", status=401)
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookRejected("malformed basic authentication", status=401) from None
    given_user, _, given_password = decoded.partition(b":")
    # Both compared, always: timing says nothing about which one was wrong.
    user_ok = hmac.compare_digest(given_user, user.encode())
    password_ok = hmac.compare_digest(given_password, password.encode())
    if not (user_ok and password_ok):
        raise WebhookRejected("wrong credentials")


def check_fresh(timestamp: str | None, *, now: datetime, max_age: timedelta) -> None:
    """A Unix timestamp within `max_age` of now, either way.

    `float` also reads "nan", "inf" and "1e999"; a NaN compares false with everything, so
    it would pass the age check. Only a finite number is a time.
    """
    if not timestamp:
        raise WebhookRejected("timestamp missing", status=401)
    try:
        sent = float(timestamp)
    except ValueError:
        raise WebhookRejected("malformed timestamp") from None
    if not math.isfinite(sent):
        raise WebhookRejected("malformed timestamp")
    if abs(now.timestamp() - sent) > max_age.total_seconds():
        raise WebhookRejected("timestamp too old or in the future (a replay?)")


@lru_cache(maxsize=4)
def load_sendgrid_key(public_key: str) -> ec.EllipticCurvePublicKey:
    """SendGrid shows the key as base64 DER; a PEM block is accepted as well."""
    text = public_key.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
    else:
        key = serialization.load_der_public_key(base64.b64decode(text))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("the SendGrid verification key is not an elliptic-curve key")
    return key


def check_sendgrid(
    body: bytes,
    *,
    signature: str | None,
    timestamp: str | None,
    public_key: str,
    now: datetime,
    max_age: timedelta,
) -> None:
    """SendGrid Event Webhook: ECDSA P-256/SHA-256 over the timestamp and the raw body."""
    if not signature:
        raise WebhookRejected("signature missing", status=401)
    check_fresh(timestamp, now=now, max_age=max_age)
    assert timestamp is not None  # check_fresh refused a missing one
    key = load_sendgrid_key(public_key)  # a bad key is our misconfiguration: let it raise
    try:
        der = base64.b64decode(signature, validate=True)
        key.verify(der, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        raise WebhookRejected("wrong signature") from None


def check_mailgun(
    *,
    timestamp: str | None,
    token: str | None,
    signature: str | None,
    signing_key: str,
    now: datetime,
    max_age: timedelta,
) -> None:
    """Mailgun: HMAC-SHA256 with the webhook signing key over timestamp + token, in hex."""
    if not (signature and token):
        raise WebhookRejected("signature missing", status=401)
    check_fresh(timestamp, now=now, max_age=max_age)
    expected = hmac.new(
        signing_key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.strip().lower().encode()):
        raise WebhookRejected("wrong signature")
