"""Amazon SNS message signatures, for SES bounce and complaint notifications.

SNS signs each message with a key whose certificate it names by URL. Anyone can name a
URL, so the certificate is only fetched from `https://sns.<region>.amazonaws.com/...`,
the region being the one of a topic we subscribed to, and the topic is checked before
anything is fetched. HTTPS with certificate checks (httpx's default) is what ties the
host name to Amazon. The fetch is a plain function so tests hand in a local certificate.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from alerts.errors import FeedbackError, WebhookRejected

Fetch = Callable[[str], bytes]
FETCH_TIMEOUT_SECONDS = 10.0
MAX_FETCH_BYTES = 64 * 1024
NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
# The fields each message type signs, in the order SNS concatenates them.
_SIGNED_FIELDS = {
    NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    SUBSCRIPTION_CONFIRMATION: (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_SIGNED_FIELDS["UnsubscribeConfirmation"] = _SIGNED_FIELDS[SUBSCRIPTION_CONFIRMATION]
_OPTIONAL = frozenset({"Subject"})
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}


def http_get(url: str) -> bytes:
    """The production fetch: HTTPS GET, no redirects, a small body, a short timeout."""
    try:
        response = httpx.get(url, timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False)
        response.raise_for_status()
    except httpx.HTTPError as error:
        raise FeedbackError(f"cannot fetch {url}: {error}") from error
    if len(response.content) > MAX_FETCH_BYTES:
        raise FeedbackError(f"{url} answered with more than {MAX_FETCH_BYTES} bytes")
    return response.content


def check_sns(
    message: Mapping[str, Any],
    *,
    topic_arns: tuple[str, ...],
    fetch: Fetch,
    now: datetime,
    max_age: timedelta,
) -> None:
    """Raise WebhookRejected unless `message` is signed by SNS for one of our topics."""
    kind = str(message.get("Type"))
    fields = _SIGNED_FIELDS.get(kind)
    if fields is None:
        raise WebhookRejected(f"not an SNS message type we accept: {kind!r}")
    signature, certificate_url = message.get("Signature"), message.get("SigningCertURL")
    if not (isinstance(signature, str) and isinstance(certificate_url, str)):
        raise WebhookRejected("signature missing", status=401)
    topic = str(message.get("TopicArn"))
    if topic not in topic_arns:
        raise WebhookRejected("a topic we did not subscribe to")
    check_amazon_url(certificate_url, region=topic_region(topic))
    _check_time(message.get("Timestamp"), now=now, max_age=max_age)
    algorithm = _HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise WebhookRejected("an unknown SNS signature version")
    key = _public_key(certificate_url, fetch, now)
    try:
        key.verify(
            base64.b64decode(signature, validate=True),
            string_to_sign(message, fields),
            padding.PKCS1v15(),
            algorithm(),
        )
    except (InvalidSignature, binascii.Error, ValueError):
        raise WebhookRejected("wrong signature") from None


def string_to_sign(message: Mapping[str, Any], fields: tuple[str, ...] | None = None) -> bytes:
    """`Name\\nvalue\\n` for each signed field present, as SNS computes it."""
    names = fields or _SIGNED_FIELDS.get(str(message.get("Type")), ())
    lines = []
    for name in names:
        value = message.get(name)
        if value is None:
            if name in _OPTIONAL:
                continue
            raise WebhookRejected(f"the signed field {name} is missing")
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode()


def confirm_subscription(message: Mapping[str, Any], *, fetch: Fetch) -> None:
    """Visit the SubscribeURL of an already verified SubscriptionConfirmation."""
    url = str(message.get("SubscribeURL"))
    check_amazon_url(url, region=topic_region(str(message.get("TopicArn"))), suffix="")
    fetch(url)


def topic_region(topic_arn: str) -> str:
    """`arn:aws:sns:eu-west-1:123456789012:bounces` → `eu-west-1`."""
    parts = topic_arn.split(":")
    if len(parts) != 6 or parts[:3] != ["arn", "aws", "sns"] or not parts[3]:
        raise WebhookRejected(f"not an SNS topic ARN: {topic_arn!r}")
    return parts[3]


def check_amazon_url(url: str, *, region: str, suffix: str = ".pem") -> None:
    """Only https://sns.<region>.amazonaws.com, on the default port, with no user info."""
    parts = urlsplit(url)
    if (
        parts.scheme != "https"
        or parts.hostname != f"sns.{region}.amazonaws.com"
        or parts.netloc != parts.hostname
        or not parts.path.endswith(suffix)
    ):
        raise WebhookRejected(f"not an SNS address of region {region}: {url!r}")


def _check_time(value: Any, *, now: datetime, max_age: timedelta) -> None:
    try:
        sent = datetime.fromisoformat(str(value))
    except ValueError:
        raise WebhookRejected("malformed timestamp") from None
    if sent.tzinfo is None or abs(now - sent) > max_age:
        raise WebhookRejected("timestamp too old or in the future (a replay?)")


@lru_cache(maxsize=16)
def _certificate(url: str, fetch: Fetch) -> x509.Certificate:
    """Certificates change rarely and SNS posts often: fetch each URL once per process."""
    try:
        return x509.load_pem_x509_certificate(fetch(url))
    except ValueError:
        raise WebhookRejected(f"{url} is not a PEM certificate") from None


def _public_key(url: str, fetch: Fetch, now: datetime) -> rsa.RSAPublicKey:
    certificate = _certificate(url, fetch)
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise WebhookRejected("the signing certificate is not valid now")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise WebhookRejected("the signing certificate does not hold an RSA key")
    return key
