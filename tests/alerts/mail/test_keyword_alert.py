"""The keyword-alert email, sent through a real SMTP server: its subject names the words
and the lead headline, the words are highlighted in both parts, and it carries the list
headers, one-click unsubscribe and a way to turn keyword alerts off."""

from __future__ import annotations

from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

from alerts.config import Settings
from alerts.digests.as_it_happens import plan_keyword_alerts
from alerts.jobs import send_queued_batch
from alerts.models import DeliveryStatus
from alerts.runtime import Runtime
from tests.alerts.digests.test_as_it_happens import NOW, _follow, _story
from tests.factories import ledger, make_reader
from tests.support.smtp_server import RecordingSMTPServer


def _parts(message: EmailMessage) -> tuple[str, str]:
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text is not None and html is not None
    return text.get_content(), html.get_content()


def test_the_keyword_alert_names_and_highlights_the_words(
    settings: Settings, smtp_server: RecordingSMTPServer
) -> None:
    runtime = Runtime.from_settings(settings.model_copy(update={"smtp_url": smtp_server.url}))
    try:
        with runtime.session() as session:
            ada = make_reader(session, "ada")
            _follow(session, ada, '"Central Bank"', "reservoir")
            session.commit()
            _story(session, "cb", "Central Bank raises rates", NOW - timedelta(minutes=5))
            _story(session, "dry", "Dry summer", NOW - timedelta(minutes=3),
                   "<p>The reservoir is low.</p>")  # fmt: skip
            session.commit()
            _, ids = plan_keyword_alerts(session, now=NOW, minutes=60, per_day=3, queued_until=NOW)
            session.commit()
        send_queued_batch(runtime, ids)
        send_queued_batch(runtime, ids)  # a redelivered task sends nothing again
        [received] = smtp_server.messages
        message = received.message
        assert received.recipients == ["ada@example.com"]
        assert message["Subject"] == 'reservoir, "Central Bank": Dry summer (and 1 more story)'
        assert message["List-Id"] == "Keyword alerts <keywords.news-alerts.example.com>"
        assert message["List-Unsubscribe"].startswith("<https://news.example.com/unsubscribe/")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["Feedback-ID"].startswith("kw-")
        assert "keyword-alert." in message["Message-ID"]
        text, html = _parts(message)
        assert "*Central Bank* raises rates" in text
        assert "Matches *reservoir*" in text
        assert "<mark" in html and ">Central Bank</mark> raises rates" in html
        assert "Turn keyword alerts off: https://news.example.com/preferences/" in text
        assert "#keyword-alerts" in html
        assert "Unsubscribe: https://news.example.com/unsubscribe/" in text
        assert text.index("Dry summer") < text.index("raises rates")  # newest first
        with runtime.session() as session:
            [row] = ledger(session)
            assert row.status is DeliveryStatus.SENT
    finally:
        runtime.close()


def test_a_german_and_an_arabic_reader_get_theirs_in_their_language(
    settings: Settings, smtp_server: RecordingSMTPServer
) -> None:
    runtime = Runtime.from_settings(settings.model_copy(update={"smtp_url": smtp_server.url}))
    try:
        with runtime.session() as session:
            for name, language in (("greta", "de"), ("amal", "ar")):
                reader = make_reader(session, name)
                reader.language = language
                _follow(session, reader, "reservoir")
            session.commit()
            _story(session, "dry", "Dry summer", NOW - timedelta(minutes=3),
                   "<p>The reservoir is low.</p>")  # fmt: skip
            _story(session, "wet", "Reservoir refills", NOW - timedelta(minutes=2))
            session.commit()
            _, ids = plan_keyword_alerts(session, now=NOW, minutes=60, per_day=3, queued_until=NOW)
            session.commit()
        send_queued_batch(runtime, ids)
        received = {r.recipients[0]: r.message for r in smtp_server.wait_for(2)}
        greta, amal = received["greta@example.com"], received["amal@example.com"]
        assert greta["Subject"] == "reservoir: Reservoir refills (und 1 weitere Meldung)"
        text, html = _parts(greta)
        assert "Ihr Stichwort-Alert · 2 neue Meldungen" in text
        assert "Stichwort-Alerts ausschalten: https://news.example.com/preferences/" in text
        assert 'lang="de"' in html
        assert amal["Subject"] == "reservoir: Reservoir refills (وخبر آخر)"
        text, html = _parts(amal)
        assert "تنبيه كلماتك المفتاحية · خبران جديدان" in text
        assert 'dir="rtl"' in html and 'lang="ar"' in html
    finally:
        runtime.close()
