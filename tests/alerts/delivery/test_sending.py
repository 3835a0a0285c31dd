"""Sending through a real SMTP server on loopback: bytes, headers, ledger outcomes."""

from __future__ import annotations

import contextlib
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from itertools import pairwise
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.config import Settings, parse_relay
from alerts.delivery.relays import relay_transport
from alerts.delivery.sending import GAVE_UP, RetryPolicy, send_batch
from alerts.delivery.transports import transport_from_url
from alerts.digests.planning import plan_digests
from alerts.ledger.claims import DEFAULT_LEASE, sweep_stuck
from alerts.ledger.message_ids import delivery_named_by
from alerts.ledger.outcomes import UNKNOWN_OUTCOME
from alerts.ledger.outgoing import Outgoing, Recipient
from alerts.ledger.queue import claim_queue
from alerts.mail.digest import DigestComposer
from alerts.mail.rendering import EmailRenderer, RenderedEmail, default_renderer
from alerts.mail.verp import parse_verp, verp_address
from alerts.models import Cadence, Delivery, DeliveryStatus
from subscribers.models import SubscriberStatus
from subscribers.services import reader_of_link
from subscribers.tokens import Purpose, TokenSigner
from tests.support.builders import articles, reader
from tests.support.smtp_server import RecordingSMTPServer

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def _send_all(session: Session, settings: Settings, url: str) -> list[list[int]]:
    plan_digests(session, now=NOW, force=True)
    session.commit()
    batches = claim_queue(session, now=NOW, batch_size=50)
    session.commit()
    composer = DigestComposer(session, settings=settings, renderer=default_renderer())
    for batch in batches:
        send_batch(
            session, batch, composer=composer, transport=transport_from_url(url), clock=lambda: NOW
        )
    return batches


@pytest.fixture
def two_readers(session: Session) -> None:
    reader(session, "ada@example.com", topics=("Harbour City election",), timezone="Europe/Paris")
    reader(session, "bram@example.com", topics=("Chip shortage",))
    articles(
        session,
        NOW,
        ("vote", ("Harbour City election",), timedelta(hours=2)),
        ("chips", ("Chip shortage",), timedelta(hours=3)),
        ("old-vote", ("Harbour City election",), timedelta(hours=30)),
    )
    session.commit()


def _by_recipient(server: RecordingSMTPServer) -> dict[str, EmailMessage]:
    return {received.recipients[0]: received.message for received in server.messages}


@pytest.mark.usefixtures("two_readers")
def test_each_reader_gets_their_topics_once(
    session: Session, settings: Settings, smtp_server: RecordingSMTPServer
) -> None:
    _send_all(session, settings, smtp_server.url)
    messages = _by_recipient(smtp_server)
    assert set(messages) == {"ada@example.com", "bram@example.com"}
    ada_text = messages["ada@example.com"].get_body(("plain",)).get_content()
    assert "Story vote" in ada_text
    assert "Story chips" not in ada_text
    assert "Story old-vote" not in ada_text  # older than the 24-hour first window
    assert messages["bram@example.com"]["Subject"] == "Story chips"
    rows = session.scalars(select(Delivery).order_by(Delivery.subscriber_id)).all()
    assert [row.status for row in rows] == [DeliveryStatus.SENT, DeliveryStatus.SENT]
    # A sent row keeps no claim: nothing will write its outcome again.
    assert all(row.sent_at is not None and row.claimed_at is None for row in rows)
    assert all(row.claimed_by is None for row in rows)
    session.expire_all()  # the ledger as stored, not as this session last saw it
    # Each message's Message-ID names its own row (derived from it; none is stored).
    named = {
        address: delivery_named_by(session, message["Message-ID"], secret=settings.secret_key)
        for address, message in messages.items()
    }
    assert {address: row.subscriber.email for address, row in named.items() if row} == {
        address: address for address in messages
    }


@pytest.mark.usefixtures("two_readers")
def test_sending_twice_delivers_once(
    session: Session, settings: Settings, smtp_server: RecordingSMTPServer
) -> None:
    batches = _send_all(session, settings, smtp_server.url)
    composer = DigestComposer(session, settings=settings, renderer=default_renderer())
    # The same batch redelivered by the broker, and a whole second run of the same day.
    for batch in batches:
        send_batch(session, batch, composer=composer, transport=transport_from_url(smtp_server.url))
    _send_all(session, settings, smtp_server.url)
    assert sorted(m.recipients[0] for m in smtp_server.messages) == [
        "ada@example.com",
        "bram@example.com",
    ]


@pytest.mark.usefixtures("two_readers")
def test_message_headers_and_parts(
    session: Session, settings: Settings, smtp_server: RecordingSMTPServer
) -> None:
    _send_all(session, settings, smtp_server.url)
    received = next(m for m in smtp_server.messages if m.recipients == ["ada@example.com"])
    raw_headers = received.data.split(b"\r\n\r\n", 1)[0].decode("ascii")
    message = received.message
    signer = TokenSigner([settings.secret_key])

    unsubscribe = message["List-Unsubscribe"]
    assert unsubscribe.startswith("<https://news.example.com/unsubscribe/")
    # The daily edition's own link: its token is signed for the edition it names.
    token, _, edition = (
        unsubscribe.removeprefix("<https://news.example.com/unsubscribe/").rstrip(">")
    ).partition("?edition=")
    assert edition == "daily"
    linked = reader_of_link(session, signer, Purpose.UNSUBSCRIBE, token, scope=edition)
    assert linked is not None
    subscriber_id = linked.id
    named = delivery_named_by(session, message["Message-ID"], secret=settings.secret_key)
    assert named is not None and named.subscriber_id == subscriber_id
    # Never folded, never an encoded word: one physical line each.
    assert f"List-Unsubscribe: {unsubscribe}\r\n" in raw_headers + "\r\n"
    assert "=?" not in unsubscribe
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == "Daily briefing <daily.news-alerts.example.com>"
    assert settings.list_id == "daily.news-alerts.example.com"
    assert message["Message-ID"].startswith("<digest.") and message["Message-ID"].endswith(
        "@example.com>"
    )
    assert message["To"] == "ada@example.com"
    # The return path names the delivery (VERP) so a bounce finds its ledger row.
    delivery_id = named.id
    # No header names the delivery by its bare, sequential id: a bounce forger could
    # write one (the VERP address and the Message-ID carry it only beside a MAC or
    # random bits).
    assert "X-Newsalerts-Delivery" not in message
    assert str(delivery_id) not in [value.strip() for value in message.values()]
    assert received.mail_from == verp_address(
        delivery_id, secret=settings.secret_key, domain="example.com"
    )
    assert parse_verp(received.mail_from, secret=settings.secret_key) == delivery_id
    assert message["From"] == "Example News alerts <alerts@example.com>"

    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert [part.get_content_type() for part in message.iter_parts()] == [
        "text/plain",
        "text/html",
    ]
    for body in (text, html):
        assert settings.postal_address in body
        assert "%%NEWSALERTS" not in body
    link = f"https://news.example.com/unsubscribe/{token}?edition=daily"  # the edition's own
    assert f"Unsubscribe: {link}\r\n" in text
    assert f'href="{link}"' in html
    # CSS is inlined; only the media queries stay in a style block, for phones.
    assert [block.strip()[:6] for block in re.findall(r"<style>(.*?)</style>", html, re.S)] == [
        "@media"
    ]
    assert 'class="headline" style="' in html
    assert 'class="preheader"' in html
    # Article time shown in the reader's zone (Europe/Paris = UTC+1 in November).
    assert "News · 07:00" in text


def test_reader_who_left_before_the_send_gets_nothing(
    session: Session, settings: Settings, smtp_server: RecordingSMTPServer
) -> None:
    leaver = reader(session, "cleo@example.com")
    articles(session, NOW, ("a", (), timedelta(hours=1)))
    session.commit()
    plan_digests(session, now=NOW, force=True)
    session.commit()
    [batch] = claim_queue(session, now=NOW, batch_size=10)
    leaver.status = SubscriberStatus.UNSUBSCRIBED
    session.commit()
    composer = DigestComposer(session, settings=settings, renderer=default_renderer())
    result = send_batch(
        session, batch, composer=composer, transport=transport_from_url(smtp_server.url)
    )
    assert (result.sent, result.not_mailable) == (0, 1)
    assert smtp_server.messages == []
    session.expire_all()
    row = session.scalars(select(Delivery)).one()
    assert row.status is DeliveryStatus.SUPPRESSED
    assert row.sent_at is None and row.smtp_reply is None  # never composed, never sent


def test_permanent_refusal_is_recorded_as_failed(
    session: Session, settings: Settings, smtp_server: RecordingSMTPServer
) -> None:
    reader(session, "dario@example.com")
    articles(session, NOW, ("a", (), timedelta(hours=1)))
    session.commit()
    smtp_server.refuse("dario@example.com", "550 5.1.1 No such mailbox")
    _send_all(session, settings, smtp_server.url)
    row = session.scalars(select(Delivery)).one()
    assert row.status is DeliveryStatus.FAILED
    assert row.smtp_reply is not None and row.smtp_reply.startswith("550")
    assert "No such mailbox" in (row.last_error or "")


def test_outcomes_of_every_kind_are_recorded_across_groups(
    session: Session, settings: Settings, smtp_server: RecordingSMTPServer
) -> None:
    # Groups of two: each group's outcomes are written with the next group's sending mark.
    for name in ("g1", "g2", "g3", "g4", "g5", "g6", "g7"):
        reader(session, f"{name}@example.com")
    articles(session, NOW, ("a", (), timedelta(hours=1)))
    session.commit()
    smtp_server.refuse("g2@example.com", "550 5.1.1 No such mailbox")
    smtp_server.refuse("g3@example.com", "451 4.3.0 Try again later")
    smtp_server.refuse("g6@example.com", "452 4.2.2 Mailbox full")
    plan_digests(session, now=NOW, force=True)
    session.commit()
    [batch] = claim_queue(session, now=NOW, batch_size=10)
    composer = DigestComposer(session, settings=settings, renderer=default_renderer())

    result = send_batch(session, batch, composer=composer,
                        transport=transport_from_url(smtp_server.url), group_size=2,
                        clock=lambda: NOW)  # fmt: skip

    assert (result.sent, result.failed, result.retrying) == (4, 1, 2)
    rows = {row.subscriber.email: row for row in session.scalars(select(Delivery))}
    states = {address.split("@")[0]: row.status for address, row in rows.items()}
    assert states == {
        "g1": DeliveryStatus.SENT, "g2": DeliveryStatus.FAILED, "g3": DeliveryStatus.PENDING,
        "g4": DeliveryStatus.SENT, "g5": DeliveryStatus.SENT, "g6": DeliveryStatus.PENDING,
        "g7": DeliveryStatus.SENT,
    }  # fmt: skip
    sent = rows["g4@example.com"]
    assert sent.sent_at is not None and sent.smtp_reply is None  # a 2xx is not kept
    assert sent.claimed_at is None and sent.last_error is None  # a sent row keeps no claim
    assert rows["g2@example.com"].claimed_at is not None  # a failed one keeps its claim
    assert (rows["g2@example.com"].smtp_reply or "").startswith("550")
    assert rows["g3@example.com"].next_attempt_at is not None
    assert "Mailbox full" in (rows["g6@example.com"].last_error or "")
    assert sorted(m.recipients[0] for m in smtp_server.messages) == [
        "g1@example.com", "g4@example.com", "g5@example.com", "g7@example.com"]  # fmt: skip


def test_the_ledger_names_the_relay_of_each_attempt(
    session: Session, settings: Settings, smtp_server: RecordingSMTPServer
) -> None:
    reader(session, "hana@example.com")
    articles(session, NOW, ("a", (), timedelta(hours=1)))
    session.commit()
    plan_digests(session, now=NOW, force=True)
    session.commit()
    [batch] = claim_queue(session, now=NOW, batch_size=10)
    composer = DigestComposer(session, settings=settings, renderer=default_renderer())
    # The first relay of the list does not answer: the second takes the message.
    transport = relay_transport(f"smtp://127.0.0.1:9,{smtp_server.url}")

    send_batch(session, batch, composer=composer, transport=transport)

    row = session.scalars(select(Delivery)).one()
    assert row.status is DeliveryStatus.SENT
    # The relay's one name, in the form the ledger has always stored.
    assert row.relay == parse_relay(smtp_server.url).name == f"smtp:127.0.0.1:{smtp_server.port}"


@pytest.mark.parametrize(
    ("window", "deadline"),
    [
        # The retry window, six hours from the planned time by default...
        (timedelta(hours=6), NOW + timedelta(hours=6)),
        # ...but never past the reader's next digest: tomorrow at the reader's hour (07:00
        # in Paris), even with a window of two days.
        (timedelta(hours=48), datetime(2026, 11, 26, 6, 0, tzinfo=UTC)),
    ],
    ids=["window", "next-digest"],
)
def test_a_reader_refused_for_now_every_time_is_retried_until_the_window_ends(
    session: Session,
    settings: Settings,
    smtp_server: RecordingSMTPServer,
    window: timedelta,
    deadline: datetime,
) -> None:
    reader(session, "elin@example.com", timezone="Europe/Paris", hour=7)
    articles(session, NOW, ("a", (), timedelta(hours=1)))
    session.commit()
    smtp_server.refuse("elin@example.com", "451 4.3.0 Try again later")
    plan_digests(session, now=NOW, force=True)
    session.commit()
    row = session.scalars(select(Delivery)).one()
    composer = DigestComposer(session, settings=settings, renderer=default_renderer())
    retry = RetryPolicy(window=window)  # the defaults: 2 minutes, doubling, at most an hour
    clock = NOW
    tried_at = []
    while row.status is not DeliveryStatus.FAILED:
        assert len(tried_at) < 100, "never gave up"
        tried_at.append(clock)
        send_batch(session, [row.id], composer=composer,
                   transport=transport_from_url(smtp_server.url), clock=lambda at=clock: at,
                   retry=retry)  # fmt: skip
        session.refresh(row)
        if row.status is DeliveryStatus.PENDING:
            assert row.next_attempt_at is not None and row.next_attempt_at > clock
            clock = row.next_attempt_at  # the sweeper queues it when it is due

    # Five attempts used to be the end (about half an hour at these delays); now the
    # tries go on, backing off to at most an hour (+20 % jitter) apart, until the next
    # one would fall past the deadline.
    gaps = [later - earlier for earlier, later in pairwise(tried_at)]
    assert len(tried_at) > 6, tried_at
    assert all(gap <= timedelta(hours=1.2) for gap in gaps), gaps
    assert gaps[0] <= timedelta(minutes=2.4)
    assert tried_at[-1] < deadline
    assert tried_at[-1] >= deadline - timedelta(hours=1.2), (tried_at[-1], deadline)
    assert row.attempts == len(tried_at)
    assert row.smtp_reply == "451 4.3.0 Try again later"
    assert "451" in (row.last_error or "") and GAVE_UP in (row.last_error or "")


def test_an_alert_retries_for_the_window_a_digest_never_past_the_next_issue() -> None:
    reader = Recipient(1, "ines@example.com", "Europe/Paris", (), None)
    alert = Outgoing(id=1, edition="alert-3", issue_id=None, alert_id=3, subscriber_id=1,
                     local_date=NOW.date(), article_ids=[], attempts=1, subscriber=reader,
                     planned_at=NOW)  # fmt: skip
    digest = replace(alert, edition="daily", alert_id=None, cadence=Cadence.DAILY, send_hour=7)
    policy = RetryPolicy(window=timedelta(hours=48))
    later = NOW + timedelta(hours=3)

    assert policy.deadline(alert, later) == NOW + timedelta(hours=48)
    # Tomorrow at 07:00 in Paris, when the reader's next daily digest is due.
    assert policy.deadline(digest, later) == datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    # A row that names no planned time counts from now.
    assert policy.deadline(replace(alert, planned_at=None), later) == later + timedelta(hours=48)


def test_unreachable_server_leaves_rows_to_retry(session: Session, settings: Settings) -> None:
    reader(session, "farid@example.com")
    articles(session, NOW, ("a", (), timedelta(hours=1)))
    session.commit()
    _send_all(session, settings, "smtp://127.0.0.1:9")  # nothing listens on the discard port
    row = session.scalars(select(Delivery)).one()
    assert row.status is DeliveryStatus.PENDING
    assert "cannot connect" in (row.last_error or "")


def test_file_transport_writes_eml(session: Session, settings: Settings, tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path)) / "outbox"
    reader(session, "greta@example.com")
    articles(session, NOW, ("a", (), timedelta(hours=1)))
    session.commit()
    _send_all(session, settings, f"file://{folder}")
    [eml] = list(folder.glob("*.eml"))
    assert b"To: greta@example.com\r\n" in eml.read_bytes()


class _CrashingConnection:
    """A mail connection whose process 'dies' (raises) on the third message."""

    relay = "smtp:crashing.example:25"

    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, envelope: object, *, then: object = None) -> str:
        if len(self.sent) == 2:
            raise KeyboardInterrupt("worker killed")
        self.sent.append(getattr(envelope, "recipient", ""))
        return "250 OK"


class _CrashingTransport:
    def __init__(self) -> None:
        self.connection = _CrashingConnection()

    def connect(self) -> Any:
        return contextlib.nullcontext(self.connection)


def test_a_crash_mid_batch_leaves_one_unknown_row_and_the_rest_to_resend(
    session: Session, settings: Settings, smtp_server: RecordingSMTPServer
) -> None:
    for number in range(5):
        reader(session, f"r{number}@example.com")
    articles(session, NOW, ("a", (), timedelta(hours=1)))
    session.commit()
    plan_digests(session, now=NOW, force=True)
    session.commit()
    [batch] = claim_queue(session, now=NOW, batch_size=10)
    session.commit()
    composer = DigestComposer(session, settings=settings, renderer=default_renderer())
    crashing = _CrashingTransport()
    with pytest.raises(KeyboardInterrupt):
        send_batch(session, batch, composer=composer, transport=crashing, clock=lambda: NOW)
    statuses = list(session.scalars(select(Delivery.status).order_by(Delivery.id)))
    # Two sent; the third was in its SMTP exchange; two were never attempted.
    assert statuses == [
        DeliveryStatus.SENT,
        DeliveryStatus.SENT,
        DeliveryStatus.SENDING,
        DeliveryStatus.PENDING,
        DeliveryStatus.PENDING,
    ]
    # A redelivered batch before the lease runs out sends only the never-attempted rows.
    send_batch(
        session,
        batch,
        composer=composer,
        transport=transport_from_url(smtp_server.url),
        clock=lambda: NOW + timedelta(seconds=5),
    )
    assert sorted(m.recipients[0] for m in smtp_server.messages) == [
        "r3@example.com",
        "r4@example.com",
    ]
    # After the lease the sweeper settles the unknown one as failed, never sending it again.
    swept = sweep_stuck(session, now=NOW + DEFAULT_LEASE + timedelta(minutes=1))
    session.commit()
    assert (swept.requeued, swept.abandoned) == (0, 1)
    row = session.scalars(select(Delivery).where(Delivery.status == DeliveryStatus.FAILED)).one()
    assert row.last_error == UNKNOWN_OUTCOME


class _CountingRenderer(EmailRenderer):
    """The real renderer, counting how often a template actually runs."""

    def __init__(self) -> None:
        super().__init__()
        self.renders = 0

    def render(
        self, kind: str, context: dict[str, object], *, language: str = "en"
    ) -> RenderedEmail:
        self.renders += 1
        return super().render(kind, context, language=language)


def test_one_render_serves_readers_in_every_time_zone(
    session: Session, settings: Settings, smtp_server: RecordingSMTPServer
) -> None:
    zones = {
        "tokyo@example.com": "Asia/Tokyo",
        "la@example.com": "America/Los_Angeles",
        "paris@example.com": "Europe/Paris",
        "paris2@example.com": "Europe/Paris",
    }
    for address, zone in zones.items():
        reader(session, address, topics=("Interest rates",), timezone=zone)
    articles(session, NOW, ("rates", ("Interest rates",), timedelta(hours=2)))  # 06:00 UTC
    session.commit()
    plan_digests(session, now=NOW, force=True)
    session.commit()
    [batch] = claim_queue(session, now=NOW, batch_size=10)
    renderer = _CountingRenderer()
    composer = DigestComposer(session, settings=settings, renderer=renderer)
    send_batch(session, batch, composer=composer, transport=transport_from_url(smtp_server.url))
    assert renderer.renders == 1
    texts = {
        m.recipients[0]: m.message.get_body(("plain",)).get_content() for m in smtp_server.messages
    }
    assert "News · 15:00" in texts["tokyo@example.com"]
    assert "News · Tue 22:00" in texts["la@example.com"]  # the day before, locally
    assert "News · 07:00" in texts["paris@example.com"]
    html = next(m for m in smtp_server.messages if m.recipients == ["la@example.com"])
    assert "Tue 22:00" in html.message.get_body(("html",)).get_content()
    assert all("%%NEWSALERTS" not in text for text in texts.values())
