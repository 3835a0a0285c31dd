"""POST /subscribe (HTML form and JSON): validation, no enumeration, per-address limits,
honeypot, signed form stamps, allowed origins, CORS. Real database (both backends), real
Redis for the limits, real SMTP server for the emails."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner
from markupsafe import escape
from sqlalchemy import select
from werkzeug.test import TestResponse

from alerts.config import Settings, load_settings
from alerts.web.app import create_app
from alerts.web.context import WORDING_VERSION
from alerts.web.ratelimit import RedisRateLimiter
from alerts.web.signup import ACCEPTED
from subscribers.database import utcnow
from subscribers.lifecycle import Preferences, erase, request_subscription
from subscribers.models import (
    ConsentEvent,
    ConsentKind,
    Frequency,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from subscribers.services import Origin, add_subscriber
from tests.alerts.web.app_support import (
    BASE_URL,
    PUBLISHER,
    app_session,
    count_app_rows,
    form_field,
)
from tests.support.smtp_server import RecordingSMTPServer

FROM_PUBLISHER = {"Origin": PUBLISHER}
CONFIRM_SUBJECT = "Please confirm your news alerts from Example News"
MANAGE_SUBJECT = "Your news alerts from Example News"


# --- helpers ---------------------------------------------------------------------------


def _subscriber(app: Flask, email: str) -> Subscriber | None:
    with app_session(app) as session:
        return session.scalar(select(Subscriber).where(Subscriber.email == email))


def _nothing_stored(app: Flask) -> None:
    assert count_app_rows(app, Subscriber) == 0
    assert count_app_rows(app, ConsentEvent) == 0


def _stamp(client: FlaskClient) -> str:
    return form_field(client.get("/subscribe").data, "form_stamp")


def _stamp_issued(secret_key: str, *, issued_ago: float, signed_ago: int = 0) -> str:
    """A form stamp made the way the app makes them, as if served `issued_ago` seconds ago."""

    class _Signer(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - signed_ago

    signer = _Signer(secret_key, salt="newsalerts.form-stamp")
    return signer.sign(str(time.time() - issued_ago)).decode()


def _subjects(server: RecordingSMTPServer) -> list[tuple[str, str]]:
    return [(m.recipients[0], str(m.message["Subject"])) for m in server.messages]


def _signup_form(client: FlaskClient, email: str, **fields: Any) -> TestResponse:
    return client.post("/subscribe", data={"email": email, **fields}, headers=FROM_PUBLISHER)


# --- the pages -------------------------------------------------------------------------


@pytest.mark.usefixtures("topics")
def test_subscribe_page_offers_the_form(client: FlaskClient) -> None:
    page = client.get("/subscribe")
    assert page.status_code == 200
    assert page.content_type == "text/html; charset=utf-8"
    html = page.get_data(as_text=True)
    assert 'action="https://alerts.example.com/subscribe"' in html
    assert 'name="email"' in html and 'name="website"' in html
    assert 'value="harbour-city-election"' in html and 'value="chip-shortage"' in html
    assert '<html lang="en" dir="ltr">' in html
    assert form_field(page.data, "form_stamp")


@pytest.mark.usefixtures("topics")
def test_embed_snippet_is_self_contained(client: FlaskClient) -> None:
    snippet = client.get("/embed")
    assert snippet.status_code == 200
    html = snippet.get_data(as_text=True)
    assert 'action="https://alerts.example.com/subscribe"' in html
    assert "Sign up to our daily news alerts" in html
    assert "<script" not in html  # works without JavaScript
    # No external assets: anything it links is this service's own.
    assert {
        url.split("/")[2] for url in re.findall(r'\s(?:src|href|action)="(https?://[^"]*)"', html)
    } == {"alerts.example.com"}
    assert 'name="website"' in html  # the honeypot
    assert 'value="chip-shortage"' in html


def test_embed_frame_is_a_page_with_the_form(client: FlaskClient) -> None:
    frame = client.get("/embed/frame")
    assert frame.status_code == 200
    assert b'name="form_stamp"' in frame.data and b'name="email"' in frame.data


# --- a valid sign-up -------------------------------------------------------------------


@pytest.mark.usefixtures("topics")
def test_form_signup_stores_a_pending_reader_and_sends_one_confirmation(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    answer = client.post(
        "/subscribe",
        data={
            "email": " Ada@Example.com ",
            "form_stamp": _stamp(client),
            "topics": ["harbour-city-election", "chip-shortage"],
            "frequency": "weekly",
            "hour": "18",
            "timezone": "Europe/Paris",
            "website": "",
        },
        headers={"User-Agent": "TestBrowser/1.0"},
    )
    assert answer.status_code == 200
    assert ACCEPTED in answer.get_data(as_text=True)
    assert _subjects(smtp_server) == [("ada@example.com", CONFIRM_SUBJECT)]
    reader = _subscriber(app, "ada@example.com")
    assert reader is not None and reader.status is SubscriberStatus.PENDING
    assert reader.topic_slugs == ["chip-shortage", "harbour-city-election"]
    assert (reader.frequency, reader.send_hour, reader.timezone) == (
        Frequency.WEEKLY,
        18,
        "Europe/Paris",
    )
    with app_session(app) as session:
        [event] = session.scalars(select(ConsentEvent)).all()
    assert (event.kind, event.subscriber_id, event.source) == (
        ConsentKind.SUBSCRIBE,
        reader.id,
        "form",
    )
    assert (event.ip_address, event.user_agent, event.wording_version) == (
        "127.0.0.1",
        "TestBrowser/1.0",
        WORDING_VERSION,
    )


def test_json_signup_answers_json(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    answer = client.post("/subscribe", json={"email": "bram@example.com", "hour": 6})
    assert answer.status_code == 202
    assert answer.get_json() == {"status": "accepted", "message": ACCEPTED}
    assert _subjects(smtp_server) == [("bram@example.com", CONFIRM_SUBJECT)]
    reader = _subscriber(app, "bram@example.com")
    assert reader is not None and reader.send_hour == 6 and reader.timezone == "UTC"
    with app_session(app) as session:
        assert session.scalar(select(ConsentEvent.source)) == "api"


def test_signup_may_ask_for_keyword_alerts_as_it_happens(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    page = client.get("/subscribe").get_data(as_text=True)
    assert 'name="keyword_alerts" value="yes">' in page  # offered, not ticked
    answer = client.post(
        "/subscribe",
        json={"email": "cleo@example.com", "keywords": ["reservoir"], "keyword_alerts": True},
    )
    assert answer.status_code == 202
    reader = _subscriber(app, "cleo@example.com")
    assert reader is not None and reader.keyword_alerts
    assert reader.keyword_texts == ["reservoir"]
    client.post("/subscribe", json={"email": "dan@example.com", "keywords": ["reservoir"]})
    other = _subscriber(app, "dan@example.com")
    assert other is not None and not other.keyword_alerts


def test_confirmation_email_echoes_nothing_typed_but_the_address(
    client: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    answer = _signup_form(client, "eve@example.com", timezone="Europe/Paris", frequency="weekly")
    assert answer.status_code == 200
    [received] = smtp_server.messages
    text = received.message.get_body(("plain",)).get_content()
    assert "eve@example.com" in text
    assert "Europe/Paris" not in text and "weekly" not in text.lower()


# --- invalid addresses -----------------------------------------------------------------

INVALID_ADDRESSES = [
    pytest.param("not-an-address", id="no-at"),
    pytest.param("a@b", id="no-dot"),
    pytest.param("a@@example.com", id="two-ats"),
    pytest.param("a@b.test\r\nBcc: c@d.test", id="crlf-bcc"),
    pytest.param("a@b.test\nBcc: c@d.test", id="lf-bcc"),
    pytest.param("a@b.test\rBcc: c@d.test", id="cr-bcc"),
    pytest.param("a@b.test\r\n", id="trailing-crlf"),
    pytest.param("a\u2028b@example.com", id="line-separator"),
    pytest.param("a@exam\x85ple.com", id="next-line"),
    pytest.param("a\x00b@example.com", id="nul"),
    pytest.param("a\tb@example.com", id="tab"),
    pytest.param("ab@example.com\x7f", id="del"),
    pytest.param("x" * 250 + "@example.com", id="overlong"),
    pytest.param("a@" + "b" * 64 + ".com", id="overlong-label"),
    pytest.param("Ada <ada@example.com>", id="display-name"),
    pytest.param('"Ada Lovelace" <ada@example.com>', id="quoted-display-name"),
    pytest.param("", id="empty"),
    pytest.param("   ", id="blank"),
    pytest.param('<script>alert("x")</script>@example.com', id="script"),
]


@pytest.mark.parametrize("email", INVALID_ADDRESSES)
def test_invalid_address_on_the_form(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer, email: str
) -> None:
    answer = _signup_form(client, email)
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert "Please check the address:" in html
    assert 'aria-invalid="true"' in html
    # The typed value comes back in the field, escaped.
    assert f'value="{escape(email)}"' in html
    assert "<script>alert" not in html
    assert smtp_server.messages == []
    _nothing_stored(app)


@pytest.mark.parametrize("email", INVALID_ADDRESSES)
def test_invalid_address_as_json(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer, email: str
) -> None:
    answer = client.post("/subscribe", json={"email": email})
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert error["field"] == "email"
    assert error["message"].startswith("Please check the address:")
    assert smtp_server.messages == []
    _nothing_stored(app)


@pytest.mark.parametrize(
    "email", ["a@b.com\u2028", "a@b.com\x85", "a@b.com\u2029"], ids=["ls", "nel", "ps"]
)
def test_trailing_unicode_line_break_is_refused(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer, email: str
) -> None:
    answer = client.post("/subscribe", json={"email": email})
    assert answer.status_code == 422
    assert smtp_server.messages == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({}, id="missing"),
        pytest.param({"email": None}, id="null"),
        pytest.param({"email": ["a@example.com"]}, id="list"),
        pytest.param({"email": {"address": "a@example.com"}}, id="object"),
        pytest.param({"email": 12}, id="number"),
        pytest.param({"email": True}, id="bool"),
    ],
)
def test_json_email_of_the_wrong_type(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer, body: dict[str, Any]
) -> None:
    answer = client.post("/subscribe", json=body)
    assert answer.status_code == 422
    assert answer.get_json()["error"]["field"] == "email"
    assert smtp_server.messages == []
    _nothing_stored(app)


# --- invalid preferences ---------------------------------------------------------------

BAD_PREFERENCES = [
    pytest.param({"hour": "24"}, "hour", "24 is not between 0 and 23", id="hour-24"),
    pytest.param({"hour": "-1"}, "hour", "-1 is not between 0 and 23", id="hour-negative"),
    pytest.param({"hour": "seven"}, "hour", "'seven' is not a whole number", id="hour-word"),
    pytest.param({"hour": "7.5"}, "hour", "'7.5' is not a whole number", id="hour-fraction"),
    pytest.param({"timezone": "Mars/Olympus"}, "timezone", "time zone we know", id="tz-unknown"),
    pytest.param({"timezone": "../../etc/passwd"}, "timezone", "time zone we know", id="tz-path"),
    pytest.param({"frequency": "hourly"}, "frequency", "'hourly' is not one of", id="freq"),
    pytest.param({"topics": ["no-such-topic"]}, "topics", "unknown topic", id="topic-unknown"),
    pytest.param({"timezone": "x" * 400}, "timezone", "longer than 320", id="tz-overlong"),
]


@pytest.mark.usefixtures("topics")
@pytest.mark.parametrize(("fields", "field", "reason"), BAD_PREFERENCES)
def test_bad_preference_on_the_form(
    app: Flask,
    client: FlaskClient,
    smtp_server: RecordingSMTPServer,
    fields: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    answer = _signup_form(client, "ada@example.com", **fields)
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert f'<p class="error" role="alert" id="form-error">{field}: ' in html
    assert str(escape(reason)) in html
    assert 'value="ada@example.com"' in html  # what was typed is kept
    assert smtp_server.messages == []
    _nothing_stored(app)


@pytest.mark.usefixtures("topics")
@pytest.mark.parametrize(("fields", "field", "reason"), BAD_PREFERENCES)
def test_bad_preference_as_json(
    app: Flask,
    client: FlaskClient,
    smtp_server: RecordingSMTPServer,
    fields: dict[str, Any],
    field: str,
    reason: str,
) -> None:
    answer = client.post("/subscribe", json={"email": "ada@example.com", **fields})
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert error["field"] == field
    assert reason in error["message"]
    assert smtp_server.messages == []
    _nothing_stored(app)


@pytest.mark.usefixtures("topics")
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param({"hour": True}, "hour", id="hour-bool"),
        pytest.param({"hour": 7.5}, "hour", id="hour-float"),
        pytest.param({"hour": [7]}, "hour", id="hour-list"),
        pytest.param({"hour": 99}, "hour", id="hour-int-out-of-range"),
        pytest.param({"topics": {"chip-shortage": True}}, "topics", id="topics-object"),
        pytest.param({"topics": [1, 2]}, "topics", id="topics-numbers"),
        pytest.param({"topics": "x" * 400}, "topics", id="topic-overlong"),
        pytest.param({"topics": ["chip-shortage"] * 51}, "topics", id="too-many-topics"),
        pytest.param({"timezone": {"zone": "UTC"}}, "timezone", id="tz-object"),
        pytest.param({"frequency": ["daily"]}, "frequency", id="freq-list"),
        pytest.param({"frequency": False}, "frequency", id="freq-bool"),
    ],
)
def test_json_preference_of_the_wrong_type(
    app: Flask,
    client: FlaskClient,
    smtp_server: RecordingSMTPServer,
    fields: dict[str, Any],
    field: str,
) -> None:
    answer = client.post("/subscribe", json={"email": "ada@example.com", **fields})
    assert answer.status_code == 422
    assert answer.get_json()["error"]["field"] == field
    assert smtp_server.messages == []
    _nothing_stored(app)


# --- no enumeration --------------------------------------------------------------------


@pytest.fixture
def known_addresses(app: Flask, web_settings: Settings) -> None:
    """pending@ awaits confirmation, active@ is a reader, erased@ asked to be forgotten."""
    key = web_settings.secret_key
    preferences = Preferences.parse(topics=(), frequency=Frequency.DAILY, timezone=None, hour=7)
    with app_session(app) as session:
        request_subscription(
            session,
            email="pending@example.com",
            preferences=preferences,
            origin=Origin("test"),
            hash_key=key,
            now=utcnow(),
        )
        add_subscriber(
            session, email="active@example.com", origin=Origin("test"), hash_key=key, confirmed=True
        )
        gone = add_subscriber(
            session, email="erased@example.com", origin=Origin("test"), hash_key=key
        )
        erase(session, gone, hash_key=key, origin=Origin("test"))
        session.commit()


ADDRESSES = ["new@example.com", "pending@example.com", "active@example.com", "erased@example.com"]


@pytest.mark.usefixtures("known_addresses")
@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
def test_the_answer_never_tells_whether_an_address_is_known(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer, as_json: bool
) -> None:
    answers = []
    for email in ADDRESSES:
        if as_json:
            answer = client.post("/subscribe", json={"email": email})
        else:
            answer = _signup_form(client, email)
        answers.append((answer.status_code, answer.data, answer.content_type))
    assert answers[0][0] == (202 if as_json else 200)
    assert all(answer == answers[0] for answer in answers), answers

    assert sorted(_subjects(smtp_server)) == [
        ("active@example.com", MANAGE_SUBJECT),
        ("new@example.com", CONFIRM_SUBJECT),
        ("pending@example.com", CONFIRM_SUBJECT),
    ]
    active = _subscriber(app, "active@example.com")
    assert active is not None and active.status is SubscriberStatus.ACTIVE
    assert _subscriber(app, "erased@example.com") is None
    assert count_app_rows(app, Suppression) == 1


@pytest.mark.usefixtures("known_addresses")
def test_active_reader_gets_one_manage_email_a_day(
    client: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    first = _signup_form(client, "active@example.com")
    second = _signup_form(client, "Active@Example.com")
    assert first.status_code == second.status_code == 200
    assert first.data == second.data
    assert _subjects(smtp_server) == [("active@example.com", MANAGE_SUBJECT)]
    text = smtp_server.messages[0].message.get_body(("plain",)).get_content()
    assert "already receives our news alerts" in text
    assert "https://alerts.example.com/preferences/" in text
    assert "/confirm/" not in text


@pytest.mark.usefixtures("topics", "known_addresses")
def test_active_readers_preferences_are_not_changed_from_the_public_form(
    app: Flask, client: FlaskClient
) -> None:
    answer = _signup_form(
        client, "active@example.com", topics="chip-shortage", hour="3", frequency="weekly"
    )
    assert answer.status_code == 200
    active = _subscriber(app, "active@example.com")
    assert active is not None
    assert (active.topic_slugs, active.send_hour, active.frequency) == ([], 7, Frequency.DAILY)


@pytest.mark.usefixtures("known_addresses")
def test_erased_address_gets_nothing_and_nothing_is_stored(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    before = count_app_rows(app, ConsentEvent)
    answer = client.post("/subscribe", json={"email": "ERASED@example.com"})
    assert answer.status_code == 202
    assert smtp_server.messages == []
    assert _subscriber(app, "erased@example.com") is None
    assert count_app_rows(app, ConsentEvent) == before


def test_at_most_three_confirmation_emails_per_address_a_day(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    answers = [
        _signup_form(client, email)
        for email in ("ada@example.com", "ADA@example.com", " ada@Example.com", "ada@example.com")
    ]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 200]
    assert len({answer.data for answer in answers}) == 1
    assert _subjects(smtp_server) == [("ada@example.com", CONFIRM_SUBJECT)] * 3
    reader = _subscriber(app, "ada@example.com")
    assert reader is not None and reader.status is SubscriberStatus.PENDING
    # Another address is not affected by ada's limit.
    assert _signup_form(client, "bram@example.com").status_code == 200
    assert len(smtp_server.messages) == 4


def test_per_address_limit_is_kept_in_redis(
    web_settings: Settings, redis_url: str, client: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    for _ in range(3):
        _signup_form(client, "ada@example.com")
    other = create_app(web_settings)
    other.extensions["newsalerts"].limiter = RedisRateLimiter(redis.Redis.from_url(redis_url))
    try:
        answer = other.test_client().post(
            "/subscribe", data={"email": "ada@example.com"}, headers=FROM_PUBLISHER
        )
    finally:
        other.extensions["newsalerts"].runtime.close()
    assert answer.status_code == 200
    assert len(smtp_server.messages) == 3
    keys = redis.Redis.from_url(redis_url).keys("newsalerts:limit:confirm:*")
    assert len(keys) == 1
    assert b"ada" not in keys[0]  # the key holds a keyed hash, not the address


# --- honeypot, origins and form stamps -------------------------------------------------


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
def test_filled_honeypot_is_answered_yes_and_ignored(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer, as_json: bool
) -> None:
    if as_json:
        answer = client.post("/subscribe", json={"email": "ada@example.com", "website": "x"})
        honest = client.post("/subscribe", json={"email": "bram@example.com"})
    else:
        answer = _signup_form(client, "ada@example.com", website="http://spam.test")
        honest = _signup_form(client, "bram@example.com")
    assert (answer.status_code, answer.data) == (honest.status_code, honest.data)
    assert _subscriber(app, "ada@example.com") is None
    assert _subjects(smtp_server) == [("bram@example.com", CONFIRM_SUBJECT)]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Origin": "https://evil.test"}, id="foreign-origin"),
        pytest.param({"Origin": "https://news.example.com.evil.test"}, id="lookalike-origin"),
        pytest.param({"Origin": "http://news.example.com"}, id="other-scheme"),
        pytest.param(
            {"Origin": "https://evil.test", "Referer": PUBLISHER + "/story"}, id="origin-wins"
        ),
        pytest.param({"Referer": "https://evil.test/news.example.com"}, id="foreign-referer"),
        pytest.param({"Referer": "https://[::1"}, id="unclosed-ipv6-referer"),
        pytest.param({"Origin": "null"}, id="null-origin"),
        pytest.param({}, id="neither"),
    ],
)
def test_tokenless_form_from_a_foreign_site_is_refused(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer, headers: dict[str, str]
) -> None:
    answer = client.post("/subscribe", data={"email": "ada@example.com"}, headers=headers)
    assert answer.status_code == 400
    assert "This form cannot be posted from that site." in answer.get_data(as_text=True)
    assert smtp_server.messages == []
    _nothing_stored(app)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({"Origin": PUBLISHER}, id="publisher-origin"),
        pytest.param({"Origin": PUBLISHER + "/"}, id="publisher-origin-slash"),
        pytest.param({"Referer": PUBLISHER + "/business/story-1?x=1"}, id="publisher-referer"),
        pytest.param({"Origin": "https://alerts.example.com"}, id="own-origin"),
        pytest.param({"Origin": "null", "Referer": PUBLISHER + "/a"}, id="null-then-referer"),
    ],
)
def test_tokenless_form_from_an_allowed_site_is_accepted(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer, headers: dict[str, str]
) -> None:
    answer = client.post("/subscribe", data={"email": "ada@example.com"}, headers=headers)
    assert answer.status_code == 200
    assert _subscriber(app, "ada@example.com") is not None
    assert _subjects(smtp_server) == [("ada@example.com", CONFIRM_SUBJECT)]


def _tampered(stamp: str) -> str:
    # Change a character inside the signature: the last base64 character carries unused
    # bits, so changing it alone can leave the signature's bytes as they were.
    middle = stamp[-5]
    return stamp[:-5] + ("A" if middle != "A" else "B") + stamp[-4:]


@pytest.mark.parametrize(
    "make_stamp",
    [
        pytest.param(lambda stamp: _tampered(stamp), id="tampered-signature"),
        pytest.param(lambda stamp: "9" + stamp[1:], id="tampered-value"),
        pytest.param(lambda stamp: "", id="empty"),
        pytest.param(lambda stamp: "garbage", id="garbage"),
        pytest.param(
            lambda stamp: (
                TimestampSigner("another-key", salt="newsalerts.form-stamp")
                .sign(str(time.time()))
                .decode()
            ),
            id="other-key",
        ),
        pytest.param(
            lambda stamp: (
                TimestampSigner(
                    "web-test-secret-key-0123456789abcdef", salt="newsalerts.form-stamp"
                )
                .sign("not-a-number")
                .decode()
            ),
            id="signed-non-number",
        ),
    ],
)
def test_bad_form_stamp_is_refused(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer, make_stamp: Any
) -> None:
    stamp = make_stamp(_stamp(client))
    # Even from the publisher's own page: a stamp that is present must be good.
    answer = _signup_form(client, "ada@example.com", form_stamp=stamp)
    assert answer.status_code == 400
    assert "This form is not valid; please reload the page." in answer.get_data(as_text=True)
    assert smtp_server.messages == []
    _nothing_stored(app)


def test_stamp_older_than_a_day_is_refused(
    app: Flask, client: FlaskClient, web_settings: Settings, smtp_server: RecordingSMTPServer
) -> None:
    stamp = _stamp_issued(web_settings.secret_key, issued_ago=25 * 3600, signed_ago=25 * 3600)
    answer = client.post("/subscribe", data={"email": "ada@example.com", "form_stamp": stamp})
    assert answer.status_code == 400
    assert "This form has expired" in answer.get_data(as_text=True)
    assert smtp_server.messages == []
    _nothing_stored(app)


def test_good_stamp_needs_no_origin(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    answer = client.post(
        "/subscribe", data={"email": "ada@example.com", "form_stamp": _stamp(client)}
    )
    assert answer.status_code == 200
    assert len(smtp_server.messages) == 1


@pytest.fixture
def slow_app(
    database_url: str, redis_url: str, smtp_server: RecordingSMTPServer, tmp_path: Path
) -> Iterator[Flask]:
    """The app with the human-speed check on: a form needs 30 seconds to be filled in."""
    redis.Redis.from_url(redis_url).flushdb()
    settings = load_settings(
        database_url=database_url,
        smtp_url=smtp_server.url,
        secret_key="web-test-secret-key-0123456789abcdef",
        base_url="https://alerts.example.com",
        allowed_origins=PUBLISHER,
        form_min_seconds=30,
        redis_url=None,
        _env_file=None,
    )
    application = create_app(settings)
    application.extensions["newsalerts"].limiter = RedisRateLimiter(redis.Redis.from_url(redis_url))
    yield application
    application.extensions["newsalerts"].runtime.close()


def test_form_sent_too_fast_is_refused(slow_app: Flask, smtp_server: RecordingSMTPServer) -> None:
    client = slow_app.test_client()
    answer = client.post(
        "/subscribe",
        data={"email": "ada@example.com", "form_stamp": _stamp(client)},
        headers=FROM_PUBLISHER,
    )
    assert answer.status_code == 400
    assert "quicker than a person can type" in answer.get_data(as_text=True)
    assert smtp_server.messages == []
    _nothing_stored(slow_app)


def test_form_filled_at_human_speed_is_accepted(
    slow_app: Flask, smtp_server: RecordingSMTPServer
) -> None:
    key = "web-test-secret-key-0123456789abcdef"
    client = slow_app.test_client()
    almost = _stamp_issued(key, issued_ago=20)
    assert (
        client.post(
            "/subscribe", data={"email": "ada@example.com", "form_stamp": almost}
        ).status_code
        == 400
    )
    enough = _stamp_issued(key, issued_ago=31)
    answer = client.post("/subscribe", data={"email": "ada@example.com", "form_stamp": enough})
    assert answer.status_code == 200
    assert _subjects(smtp_server) == [("ada@example.com", CONFIRM_SUBJECT)]


# --- CORS ------------------------------------------------------------------------------


def test_preflight_from_the_publisher_is_allowed(client: FlaskClient) -> None:
    answer = client.options(
        "/subscribe",
        headers={
            "Origin": PUBLISHER,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert answer.status_code == 204
    assert answer.headers["Access-Control-Allow-Origin"] == PUBLISHER
    assert answer.headers["Access-Control-Allow-Methods"] == "POST"
    assert "Content-Type" in answer.headers["Access-Control-Allow-Headers"]
    assert "Origin" in answer.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in answer.headers


@pytest.mark.parametrize(
    "origin", ["https://evil.test", "https://news.example.com.evil.test", "null", "*"]
)
def test_preflight_from_another_site_is_not_allowed(client: FlaskClient, origin: str) -> None:
    answer = client.options(
        "/subscribe", headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
    )
    assert "Access-Control-Allow-Origin" not in answer.headers


def test_json_answers_carry_cors_only_for_the_publisher(client: FlaskClient) -> None:
    allowed = client.post("/subscribe", json={"email": "a@example.com"}, headers=FROM_PUBLISHER)
    assert allowed.status_code == 202
    assert allowed.headers["Access-Control-Allow-Origin"] == PUBLISHER
    refused = client.post("/subscribe", json={"email": "x"}, headers=FROM_PUBLISHER)
    assert refused.status_code == 422
    assert refused.headers["Access-Control-Allow-Origin"] == PUBLISHER
    foreign = client.post(
        "/subscribe", json={"email": "b@example.com"}, headers={"Origin": "https://evil.test"}
    )
    assert foreign.status_code == 400
    assert "Access-Control-Allow-Origin" not in foreign.headers


@pytest.mark.parametrize(
    "origin", ["https://evil.test", "https://news.example.com.evil.test", "null"]
)
def test_json_from_a_site_not_allowed_is_refused_like_the_form(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer, origin: str
) -> None:
    answer = client.post(
        "/subscribe", json={"email": "ada@example.com"}, headers={"Origin": origin}
    )
    assert answer.status_code == 400
    assert answer.get_json()["error"]["message"] == "This form cannot be posted from that site."
    assert smtp_server.messages == []
    _nothing_stored(app)


@pytest.mark.parametrize("headers", [FROM_PUBLISHER, {"Origin": BASE_URL}, {}])
def test_json_from_an_allowed_site_or_a_server_is_accepted(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer, headers: dict[str, str]
) -> None:
    answer = client.post("/subscribe", json={"email": "ada@example.com"}, headers=headers)
    assert answer.status_code == 202
    assert _subjects(smtp_server) == [("ada@example.com", CONFIRM_SUBJECT)]


# --- internationalised domains ---------------------------------------------------------


def test_internationalised_domain_gets_its_confirmation(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    """A Unicode domain is a valid address: stored once (in its IDNA form) and sent the
    usual confirmation, which needs an ASCII To: header."""
    assert client.post("/subscribe", json={"email": "ada@bücher.example"}).status_code == 202
    answer = _signup_form(client, "Ada@BÜCHER.example")
    assert answer.status_code == 200
    assert ACCEPTED in answer.get_data(as_text=True)
    assert count_app_rows(app, Subscriber) == 1
    reader = _subscriber(app, "ada@xn--bcher-kva.example")
    assert reader is not None and reader.status is SubscriberStatus.PENDING
    assert [m.recipients for m in smtp_server.messages] == [["ada@xn--bcher-kva.example"]] * 2
