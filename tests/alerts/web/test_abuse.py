"""Abuse of the reader pages: hostile input everywhere (property-based), malformed and
oversize bodies, rate limits per client kept in Redis, races, security headers on every
page, error pages, health checks."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from alerts.config import Settings, load_settings
from alerts.web import ratelimit
from alerts.web.app import MAX_BODY_BYTES, create_app
from alerts.web.ratelimit import MemoryRateLimiter, RedisRateLimiter
from alerts.web.signup import IP_LIMIT, IP_WINDOW
from subscribers.addresses import normalise_email
from subscribers.errors import InvalidEmail
from subscribers.models import ConsentEvent, Subscriber, SubscriberStatus
from subscribers.services import Origin, add_subscriber
from subscribers.tokens import Purpose
from tests.alerts.web.app_support import (
    PUBLISHER,
    SECRET,
    app_session,
    count_app_rows,
    link_token,
)
from tests.support.smtp_server import RecordingSMTPServer

PAYLOADS = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
)
HYPOTHESIS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --- helpers ---------------------------------------------------------------------------


def _valid_address(raw: object) -> str | None:
    if not isinstance(raw, str):
        return None
    try:
        return normalise_email(raw)
    except InvalidEmail:
        return None


class _Markup(HTMLParser):
    """Collects what a browser would see as elements and attributes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def _assert_safe_html(response: TestResponse) -> None:
    """No payload we sent comes back as markup: the only scripts are the page's own, and
    no element carries an event handler or comes from a payload."""
    html = response.get_data(as_text=True)
    for payload in PAYLOADS:
        assert payload not in html
    parser = _Markup()
    parser.feed(html)
    for tag, attrs in parser.tags:
        assert tag not in ("img", "svg", "iframe", "object", "embed"), (tag, attrs)
        assert not [name for name, _ in attrs if name.startswith("on")], (tag, attrs)
        if tag == "script":
            assert [name for name, _ in attrs] == ["nonce"], attrs


# --- hostile strings, property-based ---------------------------------------------------

_LONG = st.builds(lambda char, n: char * n, st.characters(codec="utf-8"), st.integers(250, 5000))
_WITH_PAYLOAD = st.builds(
    lambda before, payload, after: before + payload + after,
    st.text(max_size=20),
    st.sampled_from(PAYLOADS),
    st.text(max_size=20),
)
HOSTILE = st.one_of(
    st.text(),
    st.text(alphabet=st.characters(max_codepoint=0x9F)),  # C0 and C1 controls
    _WITH_PAYLOAD,
    _LONG,
    st.sampled_from(
        [
            "",
            " ",
            "\r\n",
            "a@b.test\r\nBcc: c@d.test",
            "Ada <ada@example.com>",
            "ada@example.com\x00",
            "\u202e@example.com",
            "😀@example.com",
            "ada@exämple.com",
            "ada@xn--80ak6aa92e.com",
            "%0d%0aBcc:x@y.z",
            "NaN",
            "1e999",
            "٣",
        ]
    ),
)
EMAIL = st.one_of(
    st.emails(),
    HOSTILE,
    st.builds(
        lambda name, payload: f"{name}{payload}@example.com", st.text(max_size=8), _WITH_PAYLOAD
    ),
)
TOPICS = st.one_of(
    st.lists(
        st.one_of(st.sampled_from(["harbour-city-election", "chip-shortage"]), HOSTILE), max_size=5
    ),
    st.lists(st.just("chip-shortage"), min_size=45, max_size=60),
)
FREQUENCY = st.one_of(st.sampled_from(["daily", "weekly", "WEEKLY", ""]), HOSTILE)
TIMEZONE = st.one_of(st.sampled_from(["Europe/Paris", "UTC", "", "America/New_York"]), HOSTILE)
HOUR = st.one_of(st.sampled_from(["0", "7", "23", "24", "-1", ""]), HOSTILE)
HONEYPOT = st.one_of(st.just(""), st.just(" "), HOSTILE)
STAMP = st.one_of(st.none(), st.just("<fresh>"), HOSTILE)

FORM_FIELDS = st.fixed_dictionaries(
    {"email": EMAIL},
    optional={
        "topics": TOPICS,
        "frequency": FREQUENCY,
        "timezone": TIMEZONE,
        "hour": HOUR,
        "website": HONEYPOT,
        "form_stamp": STAMP,
    },
)


@pytest.mark.usefixtures("topics")
@HYPOTHESIS
@given(fields=FORM_FIELDS)
def test_form_handler_survives_hostile_strings(
    app: Flask,
    client: FlaskClient,
    smtp_server: RecordingSMTPServer,
    limits: redis.Redis,
    fields: dict[str, Any],
) -> None:
    limits.flushdb()  # each example starts within the per-IP and per-address limits
    if fields.get("form_stamp") == "<fresh>":
        fields["form_stamp"] = app.extensions["newsalerts"].guard.form_stamp()
    sent_before = len(smtp_server.messages)

    answer = client.post("/subscribe", data=fields, headers={"Origin": PUBLISHER})

    assert answer.status_code < 500
    assert answer.status_code in (200, 400, 413, 422)
    assert answer.mimetype == "text/html"
    _assert_safe_html(answer)
    sent = smtp_server.messages[sent_before:]
    assert len(sent) <= 1
    address = _valid_address(fields["email"])
    if address is None:
        assert answer.status_code in (413, 422)  # 413: the whole body was over 64 KB
        assert sent == []
    if sent:
        assert answer.status_code == 200
        assert sent[0].recipients == [address]
    if str(fields.get("website") or "").strip():
        assert sent == []


JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | HOSTILE,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=8,
)
JSON_BODY = st.one_of(
    st.fixed_dictionaries(
        {"email": st.one_of(EMAIL, JSON_VALUE)},
        optional={
            "topics": st.one_of(TOPICS, JSON_VALUE),
            "frequency": st.one_of(FREQUENCY, JSON_VALUE),
            "timezone": st.one_of(TIMEZONE, JSON_VALUE),
            "hour": st.one_of(HOUR, st.integers(-5, 30), JSON_VALUE),
            "website": st.one_of(HONEYPOT, JSON_VALUE),
            "form_stamp": st.one_of(STAMP, JSON_VALUE),
        },
    ),
    JSON_VALUE,
)
FIELDS = {"email", "topics", "frequency", "timezone", "hour", "website", None}


@pytest.mark.usefixtures("topics")
@HYPOTHESIS
@given(body=JSON_BODY)
def test_json_handler_survives_hostile_values(
    app: Flask,
    client: FlaskClient,
    smtp_server: RecordingSMTPServer,
    limits: redis.Redis,
    body: Any,
) -> None:
    limits.flushdb()
    if isinstance(body, dict) and body.get("form_stamp") == "<fresh>":
        body["form_stamp"] = app.extensions["newsalerts"].guard.form_stamp()
    sent_before = len(smtp_server.messages)

    answer = client.post("/subscribe", data=json.dumps(body), content_type="application/json")

    assert answer.status_code < 500
    assert answer.status_code in (202, 400, 413, 422)
    assert answer.mimetype == "application/json"
    reply = answer.get_json()
    sent = smtp_server.messages[sent_before:]
    assert len(sent) <= 1
    if answer.status_code >= 400:
        assert set(reply) == {"error"}
        assert reply["error"]["field"] in FIELDS
        assert isinstance(reply["error"]["message"], str)
        assert sent == []
    address = _valid_address(body.get("email") if isinstance(body, dict) else None)
    if address is None:
        assert answer.status_code in (400, 413, 422)
    if sent:
        assert sent[0].recipients == [address]


LINK_PATHS = ("/confirm/{}", "/preferences/{}", "/unsubscribe/{}", "/preferences/{}/data.json")


@HYPOTHESIS
@given(token=HOSTILE, csrf=HOSTILE, one_click=st.sampled_from(["One-Click", "", "x"]))
def test_link_pages_survive_hostile_tokens(
    app: Flask, client: FlaskClient, token: str, csrf: str, one_click: str
) -> None:
    reader = _reader(app, "ada@example.com")
    for template in LINK_PATHS:
        path = template.format(quote(token, safe=""))
        # An empty token, or one with a slash (%2F is decoded before routing), may make a
        # double slash, which the router merges with a redirect.
        expected = (308, 404, 405) if "/" in token or not token else (404, 405)
        page = client.get(path)
        assert page.status_code in expected, (path, page.status_code)
        _assert_safe_html(page)
        posted = client.post(path, data={"csrf_token": csrf, "List-Unsubscribe": one_click})
        assert posted.status_code in expected
        _assert_safe_html(posted)
    refreshed = _reader(app, "ada@example.com")
    assert refreshed == reader


def _reader(app: Flask, email: str) -> tuple[int, SubscriberStatus, int]:
    """Create the reader once; return (id, status, consent events) to compare states."""
    with app_session(app) as session:
        row = session.scalar(select(Subscriber).where(Subscriber.email == email))
        if row is None:
            row = add_subscriber(
                session, email=email, origin=Origin("test"), hash_key=SECRET, confirmed=True
            )
            session.commit()
        events = session.scalar(select(func.count()).select_from(ConsentEvent))
        return row.id, row.status, int(events or 0)


PREFERENCE_FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "topics": TOPICS,
        "frequency": FREQUENCY,
        "timezone": TIMEZONE,
        "hour": HOUR,
        "pause_weeks": st.one_of(st.sampled_from(["0", "1", "12", "52", "53", "-1"]), HOSTILE),
    },
)


@pytest.mark.usefixtures("topics")
@HYPOTHESIS
@given(fields=PREFERENCE_FIELDS)
def test_preferences_handler_survives_hostile_strings(
    app: Flask, client: FlaskClient, fields: dict[str, Any]
) -> None:
    reader_id, _, _ = _reader(app, "ada@example.com")
    token = link_token(app, Purpose.PREFERENCES, reader_id)
    path = f"/preferences/{token}"
    csrf = app.extensions["newsalerts"].guard.csrf_token("preferences", token)
    with app_session(app) as session:
        before = session.get(Subscriber, reader_id)
        assert before is not None
        state = (before.topic_slugs, before.frequency, before.send_hour, before.timezone)

    answer = client.post(path, data={**fields, "csrf_token": csrf})

    assert answer.status_code in (303, 413, 422)
    _assert_safe_html(answer)
    if answer.status_code != 303:
        with app_session(app) as session:
            after = session.get(Subscriber, reader_id)
            assert after is not None
            assert (after.topic_slugs, after.frequency, after.send_hour, after.timezone) == state


# --- malformed and oversize bodies -----------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"{not json", id="invalid"),
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff\xfe{}", id="bad-utf8"),
        pytest.param(b'{"email": "a@example.com"', id="truncated"),
        pytest.param(b"1" * 5000, id="huge-integer"),
    ],
)
def test_invalid_json_is_a_client_error(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer, raw: bytes
) -> None:
    answer = client.post("/subscribe", data=raw, content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json() == {
        "error": {"field": None, "message": "Send a JSON object with an email field."}
    }
    assert smtp_server.messages == []
    assert count_app_rows(app, Subscriber) == 0


@pytest.mark.parametrize(
    "body",
    [
        pytest.param([], id="list"),
        pytest.param(["a@example.com"], id="list-of-address"),
        pytest.param("a@example.com", id="string"),
        pytest.param(7, id="number"),
        pytest.param(None, id="null"),
        pytest.param(True, id="bool"),
    ],
)
def test_json_that_is_not_an_object_is_refused(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer, body: Any
) -> None:
    answer = client.post("/subscribe", data=json.dumps(body), content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json()["error"]["field"] is None
    assert smtp_server.messages == []
    assert count_app_rows(app, Subscriber) == 0


@pytest.mark.parametrize(
    "body",
    ["[" * 10_000, '{"a":' * 10_000, "[" * 10_000 + "]" * 10_000],
    ids=["arrays", "objects", "closed-arrays"],
)
def test_deeply_nested_json_is_a_client_error(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer, body: str
) -> None:
    # Under 64 KB, deeper than the JSON parser will go (the last one is valid JSON).
    assert len(body) < MAX_BODY_BYTES
    answer = client.post("/subscribe", data=body, content_type="application/json")
    assert answer.status_code == 400
    assert answer.get_json()["error"]["field"] is None
    assert smtp_server.messages == []


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
def test_oversize_body_is_413(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer, as_json: bool
) -> None:
    if as_json:
        answer = client.post("/subscribe", json={"email": "a@example.com", "pad": "x" * 70_000})
        assert answer.status_code == 413
        assert answer.get_json()["error"]["message"] == (
            "That was more data than a sign-up form sends."
        )
    else:
        answer = client.post(
            "/subscribe",
            data={"email": "a@example.com", "pad": "x" * 70_000},
            headers={"Origin": PUBLISHER},
        )
        assert answer.status_code == 413
        assert answer.mimetype == "text/html"
        assert "That was more data than a sign-up form sends." in answer.get_data(as_text=True)
    assert smtp_server.messages == []
    assert count_app_rows(app, Subscriber) == 0


def test_oversize_multipart_and_one_click_are_413(app: Flask, client: FlaskClient) -> None:
    reader_id, _, _ = _reader(app, "ada@example.com")
    path = f"/unsubscribe/{link_token(app, Purpose.UNSUBSCRIBE, reader_id)}"
    answer = client.post(
        path,
        data={"List-Unsubscribe": "One-Click", "pad": "x" * 70_000},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 413
    assert _reader(app, "ada@example.com")[1] is SubscriberStatus.ACTIVE


def test_control_characters_in_headers_are_stored_safely(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    """A user agent or referer with a NUL byte (PostgreSQL text refuses NUL) is no 5xx."""
    answer = client.post(
        "/subscribe",
        json={"email": "ada@example.com"},
        headers={"User-Agent": "bot\x00/1.0", "Referer": "https://x.test/\x00"},
    )
    assert answer.status_code == 202
    with app_session(app) as session:
        event = session.scalar(select(ConsentEvent))
        assert event is not None
        assert event.user_agent is not None and "\x00" not in event.user_agent
    reader_id = _reader(app, "ada@example.com")[0]
    path = f"/unsubscribe/{link_token(app, Purpose.UNSUBSCRIBE, reader_id)}"
    one_click = client.post(
        path, data={"List-Unsubscribe": "One-Click"}, headers={"User-Agent": "\x00"}
    )
    assert one_click.status_code == 200
    assert _reader(app, "ada@example.com")[1] is SubscriberStatus.UNSUBSCRIBED


def test_simultaneous_sign_ups_of_one_address_both_succeed(
    app: Flask,
    client: FlaskClient,
    smtp_server: RecordingSMTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two requests for a new address race (a double click): the other one inserts the
    row after our lookup found none and before our insert, forced here deterministically
    by hooking the step in between. The loser is answered like the winner, no 5xx."""
    import subscribers.lifecycle as lifecycle

    real = lifecycle._apply
    raced = threading.Event()

    def apply_after_another_request_won(
        session: Session, subscriber: Subscriber, *args: Any
    ) -> None:
        if subscriber.id is None and not raced.is_set():
            raced.set()
            with app_session(app) as other:
                add_subscriber(
                    other, email=subscriber.email, origin=Origin("other"), hash_key=SECRET
                )
                other.commit()
        real(session, subscriber, *args)

    monkeypatch.setattr(lifecycle, "_apply", apply_after_another_request_won)
    answer = client.post(
        "/subscribe", data={"email": "ada@example.com"}, headers={"Origin": PUBLISHER}
    )
    assert raced.is_set()
    assert answer.status_code == 200
    assert b"Check your inbox" in answer.data
    assert count_app_rows(app, Subscriber) == 1
    assert [m.recipients for m in smtp_server.messages] == [["ada@example.com"]]


# --- rate limits per client ------------------------------------------------------------


def _spend_ip_budget(client: FlaskClient) -> None:
    for _ in range(IP_LIMIT):
        assert client.post("/subscribe", json={}).status_code == 422


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
def test_over_the_ip_limit_gets_429_with_retry_after(
    app: Flask,
    client: FlaskClient,
    smtp_server: RecordingSMTPServer,
    limits: redis.Redis,
    as_json: bool,
) -> None:
    _spend_ip_budget(client)
    if as_json:
        answer = client.post("/subscribe", json={"email": "ada@example.com"})
        assert answer.get_json()["error"]["message"].startswith("Too many sign-up attempts")
    else:
        answer = client.post(
            "/subscribe", data={"email": "ada@example.com"}, headers={"Origin": PUBLISHER}
        )
        assert "Too many sign-up attempts" in answer.get_data(as_text=True)
        assert answer.mimetype == "text/html"
    assert answer.status_code == 429
    assert 0 < int(answer.headers["Retry-After"]) <= IP_WINDOW
    assert smtp_server.messages == []
    assert count_app_rows(app, Subscriber) == 0
    ttl = limits.ttl("newsalerts:limit:ip:127.0.0.1")
    assert 0 < ttl <= IP_WINDOW

    # Another client is not affected.
    other = client.post(
        "/subscribe", json={"email": "bram@example.com"}, environ_base={"REMOTE_ADDR": "10.0.0.2"}
    )
    assert other.status_code == 202
    assert [m.recipients for m in smtp_server.messages] == [["bram@example.com"]]


def test_the_ip_limit_counts_an_ipv6_host_by_its_64(
    client: FlaskClient, smtp_server: RecordingSMTPServer, limits: redis.Redis
) -> None:
    """One IPv6 host usually holds a whole /64: a new address per try must not reset the
    sign-up budget, while another /64 keeps its own."""
    for number in range(IP_LIMIT):
        address = f"2001:db8:5:7::{number + 1:x}"
        answer = client.post("/subscribe", json={}, environ_base={"REMOTE_ADDR": address})
        assert answer.status_code == 422
    fresh = {"REMOTE_ADDR": "2001:db8:5:7:ffff::1"}
    answer = client.post("/subscribe", json={"email": "ada@example.com"}, environ_base=fresh)
    assert answer.status_code == 429
    assert limits.ttl("newsalerts:limit:ip:2001:db8:5:7::/64") > 0
    elsewhere = {"REMOTE_ADDR": "2001:db8:5:8::1"}
    answer = client.post("/subscribe", json={"email": "bram@example.com"}, environ_base=elsewhere)
    assert answer.status_code == 202
    assert [m.recipients for m in smtp_server.messages] == [["bram@example.com"]]


@pytest.fixture
def second_app(web_settings: Settings, redis_url: str) -> Iterator[Flask]:
    """Another web process: its own app, engine and limiter, the same Redis."""
    other = create_app(web_settings)
    other.extensions["newsalerts"].limiter = RedisRateLimiter(redis.Redis.from_url(redis_url))
    yield other
    other.extensions["newsalerts"].runtime.close()


def test_ip_limit_holds_across_web_processes(
    client: FlaskClient, second_app: Flask, smtp_server: RecordingSMTPServer
) -> None:
    other = second_app.test_client()
    for number in range(IP_LIMIT):
        target = client if number % 2 else other
        assert target.post("/subscribe", json={}).status_code == 422
    answer = other.post("/subscribe", json={"email": "ada@example.com"})
    assert answer.status_code == 429
    assert client.post("/subscribe", json={"email": "ada@example.com"}).status_code == 429
    assert smtp_server.messages == []


def test_memory_limiter_counts_per_key_and_window(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: clock[0])
    limiter = MemoryRateLimiter()
    assert [limiter.hit("a", limit=2, window_seconds=60) for _ in range(2)] == [None, None]
    assert limiter.hit("a", limit=2, window_seconds=60) == 60
    assert limiter.hit("b", limit=2, window_seconds=60) is None
    clock[0] += 45
    assert limiter.hit("a", limit=2, window_seconds=60) == 15
    clock[0] += 15
    assert limiter.hit("a", limit=2, window_seconds=60) is None


def test_memory_limiter_forgets_ended_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded default keeps limits in memory: a stream of distinct clients and
    addresses must not grow it without bound."""
    clock = [1000.0]
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: clock[0])
    limiter = MemoryRateLimiter()
    for number in range(5000):
        limiter.hit(f"ip:{number}", limit=20, window_seconds=60)
    clock[0] += 61
    for number in range(5000, 10_000):
        limiter.hit(f"ip:{number}", limit=20, window_seconds=60)
    assert len(limiter) <= 5000
    # Windows still running are kept.
    assert limiter.hit("ip:9999", limit=1, window_seconds=60) == 60


def test_redis_limiter_sets_a_window_once(limits: redis.Redis) -> None:
    limiter = RedisRateLimiter(limits, prefix="newsalerts:test:")
    limits.delete("newsalerts:test:k")
    assert limiter.hit("k", limit=2, window_seconds=100) is None
    limits.expire("newsalerts:test:k", 50)  # time passes: 50 seconds left
    assert limiter.hit("k", limit=2, window_seconds=100) is None
    retry = limiter.hit("k", limit=2, window_seconds=100)
    assert retry is not None and 40 < retry <= 50  # later hits do not extend the window
    limits.delete("newsalerts:test:k")


# --- security headers, error pages, health ---------------------------------------------

ALLOWED_SOURCES = {"'none'", "'self'", "'unsafe-inline'", "data:", "https://alerts.example.com"}


def _pages(app: Flask, client: FlaskClient) -> list[tuple[str, TestResponse]]:
    reader_id, _, _ = _reader(app, "ada@example.com")
    pending = add_pending(app, "pending@example.com")
    preferences = f"/preferences/{link_token(app, Purpose.PREFERENCES, reader_id)}"
    unsubscribe = f"/unsubscribe/{link_token(app, Purpose.UNSUBSCRIBE, reader_id)}"
    confirm = f"/confirm/{link_token(app, Purpose.CONFIRM, pending)}"
    origin = {"Origin": PUBLISHER}
    return [
        ("subscribe", client.get("/subscribe")),
        ("embed", client.get("/embed")),
        ("embed frame", client.get("/embed/frame")),
        (
            "subscribe post: check inbox",
            client.post("/subscribe", data={"email": "b@example.com"}, headers=origin),
        ),
        (
            "subscribe post: invalid",
            client.post("/subscribe", data={"email": "nope"}, headers=origin),
        ),
        ("subscribe post: foreign", client.post("/subscribe", data={"email": "b@example.com"})),
        ("confirm", client.get(confirm)),
        ("confirm 400", client.post(confirm, data={})),
        ("preferences", client.get(preferences)),
        ("unsubscribe", client.get(unsubscribe)),
        ("link invalid", client.get("/unsubscribe/nope")),
        ("not found", client.get("/nope")),
        ("not allowed", client.delete("/subscribe")),
        ("unsubscribed", client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})),
    ]


def add_pending(app: Flask, email: str) -> int:
    with app_session(app) as session:
        row = add_subscriber(session, email=email, origin=Origin("test"), hash_key=SECRET)
        session.commit()
        return row.id


def _csp(response: TestResponse) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


def test_every_page_has_a_strict_content_security_policy(app: Flask, client: FlaskClient) -> None:
    for name, response in _pages(app, client):
        assert response.status_code < 500, name
        csp = _csp(response)
        assert csp["default-src"] == ["'none'"], name
        assert csp["base-uri"] == ["'none'"], name
        [script] = csp["script-src"]
        assert re.fullmatch(r"'nonce-[A-Za-z0-9_-]{16,}'", script), name
        nonce = script[len("'nonce-") : -1]
        for tag in re.findall(r"<script[^>]*>", response.get_data(as_text=True)):
            assert tag == f'<script nonce="{nonce}">', name
        ancestors = csp.pop("frame-ancestors")
        for directive, sources in csp.items():
            if directive == "script-src":
                continue
            assert set(sources) <= ALLOWED_SOURCES, (name, directive, sources)
        if name == "embed frame" or name.startswith("subscribe post"):
            # The iframe form and the answers to its post show inside publishers' pages.
            assert set(ancestors) == {PUBLISHER, "https://alerts.example.com"}
        else:
            assert ancestors == ["'none'"], name
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "Set-Cookie" not in response.headers


def test_each_response_has_its_own_nonce(client: FlaskClient) -> None:
    nonces = {_csp(client.get("/subscribe"))["script-src"][0] for _ in range(3)}
    assert len(nonces) == 3


def test_healthz(client: FlaskClient) -> None:
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.get_json() == {"status": "ok"}


def test_readyz_checks_the_database(client: FlaskClient, smtp_server: RecordingSMTPServer) -> None:
    answer = client.get("/readyz")
    assert answer.status_code == 200
    checks = {"database": "ok", f"smtp:127.0.0.1:{smtp_server.port}": "ok"}
    assert answer.get_json() == {"status": "ready", "checks": checks}


def test_readyz_reports_a_missing_database(web_settings: Settings) -> None:
    broken = create_app(
        load_settings(
            **{
                **web_settings.model_dump(),
                "database_url": "postgresql://nobody@127.0.0.1:1/nowhere",
                "_env_file": None,
            }
        )
    )
    try:
        answer = broken.test_client().get("/readyz")
    finally:
        broken.extensions["newsalerts"].runtime.close()
    assert answer.status_code == 503
    reply = answer.get_json()
    assert reply["status"] == "not ready"
    assert reply["checks"]["database"].startswith("error: ")


def test_not_found_is_an_html_page_or_json(client: FlaskClient) -> None:
    page = client.get("/no/such/page")
    assert page.status_code == 404
    assert page.mimetype == "text/html"
    assert "There is nothing at this address." in page.get_data(as_text=True)
    assert '<html lang="en" dir="ltr">' in page.get_data(as_text=True)
    as_json = client.get("/no/such/page", headers={"Accept": "application/json"})
    assert as_json.status_code == 404
    assert as_json.get_json() == {
        "error": {"field": None, "message": "There is nothing at this address."}
    }


def test_wrong_method_is_405_with_allow(client: FlaskClient) -> None:
    page = client.delete("/subscribe")
    assert page.status_code == 405
    assert page.mimetype == "text/html"
    assert "does not accept that kind of request" in page.get_data(as_text=True)
    assert {"GET", "POST"} <= {m.strip() for m in page.headers["Allow"].split(",")}
    as_json = client.put("/subscribe", json={"email": "a@example.com"})
    assert as_json.status_code == 405
    assert as_json.get_json()["error"]["message"] == (
        "This address does not accept that kind of request."
    )
    assert "POST" in as_json.headers["Allow"]
    assert client.post("/healthz").status_code == 405


def test_sign_ups_still_work_when_redis_is_down(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    """The limiter fails open: double opt-in still protects inboxes; the form must work."""
    from alerts.web.ratelimit import RedisRateLimiter, limiter_client

    unreachable = limiter_client("redis://127.0.0.1:9/0")  # nothing listens there
    app.extensions["newsalerts"].limiter = RedisRateLimiter(unreachable)
    answer = client.post("/subscribe", json={"email": "while.down@example.com"})
    assert answer.status_code == 202
    assert [m.recipients for m in smtp_server.wait_for(1)] == [["while.down@example.com"]]
