"""Provider webhooks through the Flask test client, with real signatures made here.

SendGrid's ECDSA key, Mailgun's signing key, Postmark's credentials and an SNS signing
certificate are all generated per run; the SNS certificate is served by an injected
fetch, so nothing touches the network. Every rejected request must leave the database
exactly as it was.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from alerts.feedback.settings import WebhookSettings
from alerts.models import Delivery, FeedbackEvent
from alerts.runtime import Runtime
from alerts.web.webhooks import EXTENSION, WebhookConfig, blueprint
from subscribers.models import Subscriber, SubscriberStatus
from tests.alerts.feedback.test_bounces import message_id_of, sent_delivery
from tests.factories import make_reader

NOW = datetime(2026, 1, 5, 13, 0, tzinfo=UTC)
TOPIC = "arn:aws:sns:eu-west-1:123456789012:newsalerts-ses"
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0123456789.pem"
MAILGUN_KEY = "key-mailgun-signing-0123456789abcdef"
POSTMARK = ("postmark-hook", "correct horse battery staple")


@pytest.fixture(scope="module")
def sendgrid_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def sns_signer() -> tuple[rsa.RSAPrivateKey, bytes]:
    """An RSA key and a self-signed certificate standing in for Amazon's."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.eu-west-1.amazonaws.com")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=30))
        .not_valid_after(NOW + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM)


@dataclass
class Hooks:
    client: FlaskClient
    runtime: Runtime
    fetched: list[str]

    def reader_with_delivery(self, name: str) -> tuple[int, int, str]:
        """(subscriber id, delivery id, Message-ID) of a reader whose digest went out."""
        with self.runtime.session() as session:
            delivery = sent_delivery(session, make_reader(session, name))
            session.commit()
            secret = self.runtime.settings.secret_key
            return delivery.subscriber_id, delivery.id, message_id_of(delivery, secret=secret)

    def status(self, subscriber_id: int) -> SubscriberStatus:
        with self.runtime.session() as session:
            reader = session.get(Subscriber, subscriber_id)
            assert reader is not None
            return reader.status

    def events(self) -> int:
        with self.runtime.session() as session:
            return session.scalar(select(func.count()).select_from(FeedbackEvent)) or 0


@pytest.fixture
def hooks(
    app: Flask,
    client: FlaskClient,
    sendgrid_key: ec.EllipticCurvePrivateKey,
    sns_signer: tuple[rsa.RSAPrivateKey, bytes],
) -> Iterator[Hooks]:
    if "webhooks" not in app.blueprints:  # until create_app registers it
        app.register_blueprint(blueprint)
    public = sendgrid_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fetched: list[str] = []

    def fetch(url: str) -> bytes:
        fetched.append(url)
        return sns_signer[1] if url == CERT_URL else b"<ConfirmSubscriptionResponse/>"

    settings = WebhookSettings(
        postmark_user=POSTMARK[0],
        postmark_password=POSTMARK[1],
        sendgrid_public_key=base64.b64encode(public).decode(),
        mailgun_signing_key=MAILGUN_KEY,
        ses_topic_arns=(TOPIC,),
    )
    app.extensions[EXTENSION] = WebhookConfig(settings, fetch=fetch, clock=lambda: NOW)
    yield Hooks(client, app.extensions["newsalerts"].runtime, fetched)


def outcomes(response: Any) -> list[str]:
    return [result["outcome"] for result in response.get_json()["results"]]


# --- SendGrid ------------------------------------------------------------------------


def sendgrid_post(
    hooks: Hooks,
    events: list[dict[str, Any]],
    key: ec.EllipticCurvePrivateKey | None,
    *,
    at: datetime = NOW,
    tamper: bool = False,
) -> Any:
    body = json.dumps(events).encode()
    timestamp = str(int(at.timestamp()))
    headers = {"X-Twilio-Email-Event-Webhook-Timestamp": timestamp}
    if key is not None:
        signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        headers["X-Twilio-Email-Event-Webhook-Signature"] = base64.b64encode(signature).decode()
    if tamper:
        body = body.replace(b'"bounce"', b'"spamreport"')
    return hooks.client.post(
        "/webhooks/sendgrid", data=body, headers=headers, content_type="application/json"
    )


def sendgrid_events(hooks: Hooks) -> tuple[list[dict[str, Any]], int, int]:
    bounced, _, bounced_id = hooks.reader_with_delivery("ada")
    complained, _, complained_id = hooks.reader_with_delivery("bob")
    events = [
        {"email": "ada@example.com", "timestamp": 1767617000, "smtp-id": bounced_id,
         "event": "bounce", "type": "bounce", "status": "5.1.1",
         "reason": "550 5.1.1 unknown user", "sg_event_id": "sg-1"},
        {"email": "bob@example.com", "timestamp": 1767617001, "event": "spamreport",
         "smtp-id": complained_id, "sg_event_id": "sg-2"},
        {"email": "bob@example.com", "timestamp": 1767617002, "event": "delivered",
         "sg_event_id": "sg-3"},
    ]  # fmt: skip
    return events, bounced, complained


def test_sendgrid_signed_batch(hooks: Hooks, sendgrid_key: ec.EllipticCurvePrivateKey) -> None:
    events, bounced, complained = sendgrid_events(hooks)

    response = sendgrid_post(hooks, events, sendgrid_key)

    assert response.status_code == 200
    assert outcomes(response) == ["suppressed", "suppressed", "ignored"]
    assert hooks.status(bounced) is SubscriberStatus.BOUNCED
    assert hooks.status(complained) is SubscriberStatus.COMPLAINED
    again = sendgrid_post(hooks, events, sendgrid_key)  # SendGrid retries what it doubts
    assert outcomes(again) == ["duplicate", "duplicate", "ignored"]
    assert hooks.events() == 2


@pytest.mark.parametrize(
    ("case", "status"),
    [("unsigned", 401), ("other key", 403), ("tampered", 403), ("replayed", 403)],
)
def test_sendgrid_refused(
    hooks: Hooks, sendgrid_key: ec.EllipticCurvePrivateKey, case: str, status: int
) -> None:
    events, bounced, complained = sendgrid_events(hooks)
    if case == "unsigned":
        response = sendgrid_post(hooks, events, None)
    elif case == "other key":
        response = sendgrid_post(hooks, events, ec.generate_private_key(ec.SECP256R1()))
    elif case == "tampered":
        response = sendgrid_post(hooks, events, sendgrid_key, tamper=True)
    else:
        response = sendgrid_post(hooks, events, sendgrid_key, at=NOW - timedelta(hours=1))

    assert response.status_code == status
    assert hooks.status(bounced) is SubscriberStatus.ACTIVE
    assert hooks.status(complained) is SubscriberStatus.ACTIVE
    assert hooks.events() == 0


def test_a_large_sendgrid_batch_is_accepted(
    hooks: Hooks, sendgrid_key: ec.EllipticCurvePrivateKey
) -> None:
    """The app refuses form posts over 64 KiB; event batches are bigger than that."""
    events = [
        {"email": f"r{n}@example.com", "event": "open", "sg_event_id": f"open-{n}",
         "useragent": "Mozilla/5.0 " + "x" * 200}
        for n in range(400)
    ]  # fmt: skip
    response = sendgrid_post(hooks, events, sendgrid_key)
    assert response.status_code == 200 and len(outcomes(response)) == 400


# --- Mailgun -------------------------------------------------------------------------


def mailgun_payload(
    message_id: str,
    *,
    key: str = MAILGUN_KEY,
    at: datetime = NOW,
    timestamp: str | float | None = None,
) -> Any:
    """A signed failure event; `timestamp` replaces the signed time (signed as written)."""
    signed = str(int(at.timestamp())) if timestamp is None else timestamp
    token = uuid.uuid4().hex
    signature = hmac.new(key.encode(), f"{signed}{token}".encode(), hashlib.sha256)
    return {
        "signature": {"timestamp": signed, "token": token, "signature": signature.hexdigest()},
        "event-data": {
            "event": "failed",
            "severity": "permanent",
            "id": "mg-" + uuid.uuid4().hex,
            "timestamp": at.timestamp(),
            "recipient": "ada@example.com",
            "delivery-status": {"code": 550, "message": "5.1.1 mailbox does not exist"},
            "message": {"headers": {"message-id": message_id.strip("<>")}},
        },
    }


def test_mailgun_signed_failure(hooks: Hooks) -> None:
    reader, delivery, message_id = hooks.reader_with_delivery("ada")

    response = hooks.client.post("/webhooks/mailgun", json=mailgun_payload(message_id))

    assert response.status_code == 200
    assert response.get_json()["results"][0]["delivery_id"] == delivery
    assert hooks.status(reader) is SubscriberStatus.BOUNCED


@pytest.mark.parametrize(("case", "status"), [("unsigned", 401), ("wrong key", 403), ("old", 403)])
def test_mailgun_refused(hooks: Hooks, case: str, status: int) -> None:
    reader, _, message_id = hooks.reader_with_delivery("ada")
    payload = mailgun_payload(
        message_id,
        key="not-the-key" if case == "wrong key" else MAILGUN_KEY,
        at=NOW - timedelta(days=1) if case == "old" else NOW,
    )
    if case == "unsigned":
        del payload["signature"]

    response = hooks.client.post("/webhooks/mailgun", json=payload)

    assert response.status_code == status
    assert hooks.status(reader) is SubscriberStatus.ACTIVE and hooks.events() == 0


@pytest.mark.parametrize(
    "timestamp", ["nan", "NaN", "inf", "-inf", "1e999", "soon", float("nan"), float("inf")]
)
def test_mailgun_refuses_a_timestamp_that_is_no_finite_number(
    hooks: Hooks, timestamp: str | float
) -> None:
    """A NaN compares false with everything, so "nan" once passed the freshness check: a
    request signed once would replay forever. JSON's NaN and Infinity literals too."""
    reader, _, message_id = hooks.reader_with_delivery("ada")
    payload = mailgun_payload(message_id, timestamp=timestamp)

    response = hooks.client.post("/webhooks/mailgun", json=payload)

    assert response.status_code == 403
    assert response.get_json() == {"error": "malformed timestamp"}
    assert hooks.status(reader) is SubscriberStatus.ACTIVE and hooks.events() == 0


@pytest.mark.parametrize("provider", ["mailgun", "ses"])
def test_a_body_nested_too_deep_is_a_400(hooks: Hooks, provider: str) -> None:
    """Mailgun and SNS carry their signature inside the JSON, so it is parsed unverified."""
    response = hooks.client.post(
        f"/webhooks/{provider}", data="[" * 10_000, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.get_json() == {"error": "the body is nested too deep"}
    assert hooks.events() == 0


# --- Postmark ------------------------------------------------------------------------


def postmark_post(hooks: Hooks, message_id: str, credentials: tuple[str, str] | None) -> Any:
    event = {
        "RecordType": "Bounce", "ID": 4323372036854775807, "Type": "HardBounce",
        "Email": "ada@example.com", "Content": f"Message-ID: {message_id}\r\n",
        "Details": "smtp;550 5.1.1 The email account does not exist.",
        "BouncedAt": "2026-01-05T12:10:00.1234567Z",
    }  # fmt: skip
    headers = {}
    if credentials is not None:
        token = base64.b64encode(":".join(credentials).encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    return hooks.client.post("/webhooks/postmark", json=event, headers=headers)


def test_postmark_with_its_credentials(hooks: Hooks) -> None:
    reader, delivery, message_id = hooks.reader_with_delivery("ada")

    response = postmark_post(hooks, message_id, POSTMARK)

    assert response.status_code == 200 and outcomes(response) == ["suppressed"]
    assert hooks.status(reader) is SubscriberStatus.BOUNCED
    with hooks.runtime.session() as session:
        row = session.get(Delivery, delivery)
        assert row is not None and row.last_error is not None and "5.1.1" in row.last_error


def test_postmark_without_or_with_wrong_credentials(hooks: Hooks) -> None:
    reader, _, message_id = hooks.reader_with_delivery("ada")

    missing = postmark_post(hooks, message_id, None)
    wrong = postmark_post(hooks, message_id, (POSTMARK[0], "guess"))

    assert missing.status_code == 401 and "Basic" in missing.headers["WWW-Authenticate"]
    assert wrong.status_code == 403
    assert hooks.status(reader) is SubscriberStatus.ACTIVE and hooks.events() == 0


# --- Amazon SES through SNS ----------------------------------------------------------


def sns_post(hooks: Hooks, message: dict[str, Any]) -> Any:
    return hooks.client.post(
        "/webhooks/ses", data=json.dumps(message), content_type="text/plain; charset=UTF-8"
    )


def sns_message(
    key: rsa.RSAPrivateKey,
    kind: str,
    fields: dict[str, str],
    *,
    version: str = "1",
    at: datetime = NOW,
    cert_url: str = CERT_URL,
    topic: str = TOPIC,
) -> dict[str, Any]:
    """A message signed as SNS documents it, written out here rather than borrowed."""
    message = {
        "Type": kind,
        "MessageId": str(uuid.uuid4()),
        "TopicArn": topic,
        "Timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "SignatureVersion": version,
        "SigningCertURL": cert_url,
        **fields,
    }
    if kind == "Notification":
        names = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        names = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    canonical = "".join(f"{name}\n{message[name]}\n" for name in names if name in message)
    digest = hashes.SHA1() if version == "1" else hashes.SHA256()
    signature = key.sign(canonical.encode(), padding.PKCS1v15(), digest)
    message["Signature"] = base64.b64encode(signature).decode()
    return message


def ses_bounce(message_id: str, bounce_type: str = "Permanent") -> str:
    return json.dumps(
        {
            "notificationType": "Bounce",
            "bounce": {
                "bounceType": bounce_type,
                "bounceSubType": "General",
                "bouncedRecipients": [
                    {"emailAddress": "ada@example.com", "action": "failed", "status": "5.1.1",
                     "diagnosticCode": "smtp; 550 5.1.1 user unknown"}
                ],
                "timestamp": "2026-01-05T12:10:00.000Z",
                "feedbackId": "0102018c-" + uuid.uuid4().hex,
            },
            "mail": {
                "source": "alerts@example.com",
                "messageId": "0102018c-ses-id",
                "commonHeaders": {"messageId": message_id},
            },
        }
    )  # fmt: skip


@pytest.mark.parametrize("version", ["1", "2"])
def test_ses_signed_bounce(
    hooks: Hooks, sns_signer: tuple[rsa.RSAPrivateKey, bytes], version: str
) -> None:
    reader, _, message_id = hooks.reader_with_delivery("ada")
    fields = {"Message": ses_bounce(message_id), "Subject": "Amazon SES Email Event"}

    response = sns_post(hooks, sns_message(sns_signer[0], "Notification", fields, version=version))

    assert response.status_code == 200 and outcomes(response) == ["suppressed"]
    assert hooks.status(reader) is SubscriberStatus.BOUNCED
    assert hooks.fetched == [CERT_URL]


@pytest.mark.parametrize(
    "case",
    ["unsigned", "tampered", "other key", "old", "foreign topic", "foreign host", "plain http"],
)
def test_ses_refused(hooks: Hooks, sns_signer: tuple[rsa.RSAPrivateKey, bytes], case: str) -> None:
    reader, _, message_id = hooks.reader_with_delivery("ada")
    key = rsa.generate_private_key(65537, 2048) if case == "other key" else sns_signer[0]
    options: dict[str, Any] = {
        "old": {"at": NOW - timedelta(hours=2)},
        "foreign topic": {"topic": "arn:aws:sns:eu-west-1:999999999999:attacker"},
        "foreign host": {"cert_url": "https://sns.eu-west-1.amazonaws.com.evil.test/c.pem"},
        "plain http": {"cert_url": CERT_URL.replace("https:", "http:")},
    }.get(case, {})
    message = sns_message(key, "Notification", {"Message": ses_bounce(message_id)}, **options)
    if case == "unsigned":
        del message["Signature"]
    if case == "tampered":
        message["Message"] = message["Message"].replace("Permanent", "Permanent ")

    response = sns_post(hooks, message)

    assert response.status_code == (401 if case == "unsigned" else 403)
    assert hooks.status(reader) is SubscriberStatus.ACTIVE and hooks.events() == 0
    if case in ("foreign topic", "foreign host", "plain http"):
        assert hooks.fetched == []  # refused before anything was fetched


def test_ses_subscription_is_confirmed(
    hooks: Hooks, sns_signer: tuple[rsa.RSAPrivateKey, bytes]
) -> None:
    subscribe = "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&Token=abc"
    fields = {"Message": "You have chosen to subscribe", "Token": "abc", "SubscribeURL": subscribe}

    response = sns_post(hooks, sns_message(sns_signer[0], "SubscriptionConfirmation", fields))

    assert response.status_code == 200
    assert hooks.fetched == [CERT_URL, subscribe]


# --- All providers -------------------------------------------------------------------


def test_a_provider_without_credentials_has_no_endpoint(hooks: Hooks, app: Flask) -> None:
    app.extensions[EXTENSION] = WebhookConfig(WebhookSettings(), clock=lambda: NOW)
    assert hooks.client.post("/webhooks/sendgrid", json=[]).status_code == 404
    assert hooks.client.post("/webhooks/sparkpost", json=[]).status_code == 404


def test_settings_come_from_the_environment() -> None:
    settings = WebhookSettings.load(
        None,
        {
            "WEBHOOK_MAILGUN_SIGNING_KEY": "k",
            "WEBHOOK_SES_TOPIC_ARN": f"{TOPIC}, arn:aws:sns:us-east-1:1:b",
            "WEBHOOK_MAX_AGE_SECONDS": "60",
        },
    )
    assert settings.enabled("mailgun") and settings.enabled("ses")
    assert not settings.enabled("postmark") and not settings.enabled("sendgrid")
    assert settings.ses_topic_arns == (TOPIC, "arn:aws:sns:us-east-1:1:b")
    assert settings.max_age == timedelta(seconds=60)
