"""Readers through the publisher API: scopes, double opt-in, confirmed imports, look-up,
erasure, and hostile input that must never become a 5xx."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from alerts.access.tokens import create_token
from alerts.models import AuditEvent
from alerts.web.api_subscribers import FIELDS
from subscribers.database import utcnow
from subscribers.editions import leave_edition
from subscribers.models import ConsentEvent, Subscriber, SubscriberStatus
from subscribers.services import Origin, is_suppressed
from subscribers.topics import ensure_topics
from tests.alerts.web.app_support import app_session
from tests.support.smtp_server import RecordingSMTPServer

READER = {
    "email": "Ada@Example.com",
    "topics": ["business"],
    "frequency": "weekly",
    "hour": 18,
    "timezone": "Europe/Paris",
    "breaking_alerts": True,
}
_without_hour = {key: value for key, value in READER.items() if key != "hour"}
HYPOTHESIS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _token(app: Flask, name: str, **options: Any) -> str:
    with app_session(app) as session:
        ensure_topics(session, ["Business", "Chip shortage"], public=True)
        value = create_token(session, name=name, now=utcnow(), **options)
        session.commit()
    return value


@pytest.fixture
def token(app: Flask) -> str:
    return _token(app, "cms", scopes=["subscribers"])


@pytest.fixture
def importer(app: Flask) -> str:
    return _token(app, "crm", scopes=["subscribers"], can_import_confirmed=True)


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def _post(client: FlaskClient, body: Any, token: str | None) -> Any:
    return client.post("/api/v1/subscribers", json=body, headers=_auth(token))


def _reader(app: Flask, email: str = "ada@example.com") -> Subscriber | None:
    with app_session(app) as session:
        return session.scalar(select(Subscriber).where(Subscriber.email == email))


def test_missing_and_bad_tokens_get_401(client: FlaskClient, token: str) -> None:
    for bad in (None, "na_nope", "Basic abc"):
        assert _post(client, READER, bad).status_code == 401
        assert client.get("/api/v1/subscribers/ada@example.com", headers=_auth(bad)).status_code
        assert client.delete("/api/v1/subscribers/a@example.com", headers=_auth(bad)).status_code
    assert client.get("/api/v1/subscribers/a@example.com").status_code == 401


def test_a_token_without_the_scope_gets_403(app: Flask, client: FlaskClient) -> None:
    articles_only = _token(app, "feeds", scopes=["articles"])
    for answer in (
        _post(client, READER, articles_only),
        client.get("/api/v1/subscribers/ada@example.com", headers=_auth(articles_only)),
        client.delete("/api/v1/subscribers/ada@example.com", headers=_auth(articles_only)),
    ):
        assert answer.status_code == 403
        assert "this token may not use subscribers" in answer.json["error"]["message"]
    pushed = client.post(
        "/api/v1/articles",
        json={"url": "https://news.example.com/a", "title": "A"},
        headers=_auth(_token(app, "readers", scopes=["subscribers"])),
    )
    assert pushed.status_code == 403
    assert _reader(app) is None


def test_double_opt_in_sends_the_confirmation(
    app: Flask, client: FlaskClient, token: str, smtp_server: RecordingSMTPServer
) -> None:
    answer = _post(client, READER, token)
    assert answer.status_code == 202, answer.json
    assert answer.json["status"] == "accepted"
    reader = _reader(app)
    assert reader is not None and reader.status is SubscriberStatus.PENDING
    assert (reader.frequency.value, reader.send_hour, reader.timezone) == (
        "weekly",
        18,
        "Europe/Paris",
    )
    assert reader.breaking_alerts and reader.topic_slugs == ["business"]
    [message] = smtp_server.messages
    assert message.recipients == ["ada@example.com"]
    # Again, now that the address is known: the same answer, nothing told away.
    again = _post(client, READER, token)
    assert (again.status_code, again.json) == (202, answer.json)
    with app_session(app) as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.actor == "token:cms")).all()
        assert [event.action for event in events] == ["subscriber.requested"] * 2
        event = events[0]
        assert "ada" not in (event.target or "")
        consent = session.scalars(select(ConsentEvent)).first()
        assert consent is not None and consent.details == {"token": "cms"}


def test_confirmed_import_needs_the_permission(
    app: Flask, client: FlaskClient, token: str, importer: str, smtp_server: RecordingSMTPServer
) -> None:
    refused = _post(client, {**READER, "confirmed": True}, token)
    assert refused.status_code == 403 and refused.json["error"]["field"] == "confirmed"
    created = _post(client, {**READER, "confirmed": True}, importer)
    assert created.status_code == 201, created.json
    assert created.json["result"] == "created" and created.json["status"] == "active"
    assert created.json["confirmed_at"] is not None
    reader = _reader(app)
    assert reader is not None and reader.status is SubscriberStatus.ACTIVE
    assert reader.breaking_alerts
    assert smtp_server.messages == []
    exists = _post(client, {**READER, "confirmed": True}, importer)
    assert (exists.status_code, exists.json["result"]) == (200, "exists")


@pytest.mark.parametrize("name", ["hour", "send_hour"])
def test_the_hour_is_hour_as_in_the_form_and_the_csv_and_send_hour_is_its_alias(
    app: Flask, client: FlaskClient, token: str, name: str
) -> None:
    answer = _post(client, {**_without_hour, name: 6}, token)
    assert answer.status_code == 202, answer.json
    reader = _reader(app)
    assert reader is not None and reader.send_hour == 6


def test_get_a_reader(app: Flask, client: FlaskClient, token: str, importer: str) -> None:
    assert (
        client.get("/api/v1/subscribers/ada@example.com", headers=_auth(token)).status_code == 404
    )
    _post(client, {**READER, "confirmed": True}, importer)
    answer = client.get("/api/v1/subscribers/ADA@example.com", headers=_auth(token))
    assert answer.status_code == 200
    body = answer.json
    assert body["email"] == "ada@example.com" and body["status"] == "active"
    assert body["topics"] == ["business"] and body["hour"] == body["send_hour"] == 18
    assert body["timezone"] == "Europe/Paris" and body["frequency"] == "weekly"
    assert body["created_at"].endswith("+00:00")
    malformed = client.get("/api/v1/subscribers/not-an-address", headers=_auth(token))
    assert malformed.status_code == 422 and malformed.json["error"]["field"] == "email"


def test_delete_erases_the_reader(app: Flask, client: FlaskClient, token: str) -> None:
    _post(client, READER, token)
    answer = client.delete("/api/v1/subscribers/ada@example.com", headers=_auth(token))
    assert answer.status_code == 204 and answer.data == b""
    assert _reader(app) is None
    settings = app.extensions["newsalerts"].runtime.settings
    with app_session(app) as session:
        assert is_suppressed(session, "ada@example.com", hash_key=settings.secret_key)
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.actor == "token:cms").order_by(AuditEvent.id)
        ).all()
        assert actions == ["subscriber.requested", "subscriber.erased"]
        stored = json.dumps([event.target for event in session.scalars(select(AuditEvent))])
        assert "ada" not in stored  # the audit log keeps no address of an erased reader
    again = client.delete("/api/v1/subscribers/ada@example.com", headers=_auth(token))
    assert again.status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ([READER], 400, None),
        ("ada@example.com", 400, None),
        ({}, 422, "email"),
        ({**READER, "email": "not-an-address"}, 422, "email"),
        ({**READER, "email": 42}, 422, "email"),
        ({**READER, "topics": ["no-such-topic"]}, 422, "topics"),
        ({**READER, "topics": "business"}, 200, None),  # one name is taken as a list
        ({**READER, "frequency": "hourly"}, 422, "frequency"),
        ({**READER, "hour": 24}, 422, "hour"),
        ({**READER, "hour": "7"}, 422, "hour"),
        ({**READER, "hour": True}, 422, "hour"),
        ({**_without_hour, "send_hour": 24}, 422, "send_hour"),
        ({**_without_hour, "send_hour": "7"}, 422, "send_hour"),
        ({**READER, "send_hour": 7}, 422, "hour"),  # two different hours
        ({**READER, "send_hour": 18}, 200, None),  # the same hour twice
        ({**READER, "timezone": "Mars/Olympus"}, 422, "timezone"),
        ({**READER, "breaking_alerts": "yes"}, 422, "breaking_alerts"),
        ({**READER, "confirmed": 1}, 422, "confirmed"),
        ({**READER, "colour": "red"}, 422, "colour"),
        ({**READER, "keywords": "reservoir"}, 422, "keywords"),
        ({**READER, "keywords": [1]}, 422, "keywords"),
        ({**READER, "keywords": [f"word{n}" for n in range(11)]}, 422, "keywords"),
        ({**READER, "keywords": ["x" * 81]}, 422, "keywords"),
        ({**READER, "keywords": ["?!"]}, 422, "keywords"),
    ],
)
def test_bad_bodies(
    app: Flask, client: FlaskClient, token: str, body: Any, status: int, field: str | None
) -> None:
    answer = _post(client, body, token)
    if status == 200:
        assert answer.status_code == 202
        return
    assert answer.status_code == status, answer.json
    assert answer.json["error"]["field"] == field
    assert _reader(app) is None


# Each once a 500 on a confirmed import: the text reached a column that cannot hold it.
UNSTORABLE = [
    ({"topics": ["busi\x00ness"]}, "topics"),
    ({"topics": ["Chip \ud800 shortage"]}, "topics"),
    ({"topics": ["t" * 201]}, "topics"),
    ({"timezone": "Europe/Paris\x00"}, "timezone"),
    ({"timezone": "Europe/\udc00"}, "timezone"),
    ({"frequency": "weekly\x00"}, "frequency"),
    ({"email": "ada\x00@example.com"}, "email"),
    ({"email": "ada\udfff@example.com"}, "email"),
]


@pytest.mark.parametrize("confirmed", [True, False])
@pytest.mark.parametrize(("change", "field"), UNSTORABLE)
def test_text_no_column_can_hold_is_a_422_naming_the_field(
    app: Flask,
    client: FlaskClient,
    importer: str,
    change: dict[str, Any],
    field: str,
    confirmed: bool,
) -> None:
    body = json.dumps({**READER, **change, "confirmed": confirmed})  # json= refuses "\ud800"
    answer = client.post(
        "/api/v1/subscribers", data=body, content_type="application/json",
        headers=_auth(importer),
    )  # fmt: skip
    assert answer.status_code == 422, answer.json
    assert answer.json["error"]["field"] == field
    assert _reader(app) is None


def test_keywords_are_imported_shown_as_typed_and_cleaned(
    app: Flask, client: FlaskClient, token: str, importer: str
) -> None:
    typed = ['"Central Bank"', "reservoir\x00", "Reservoir", "Kestrel\u202e Valley"]
    body = json.dumps({**READER, "keywords": typed, "confirmed": True})
    created = client.post(
        "/api/v1/subscribers", data=body, content_type="application/json",
        headers=_auth(importer),
    )  # fmt: skip
    assert created.status_code == 201, created.json
    assert created.json["keywords"] == ["Central Bank", "reservoir", "Kestrel Valley"]
    answer = client.get("/api/v1/subscribers/ada@example.com", headers=_auth(token))
    assert answer.json["keywords"] == ["Central Bank", "reservoir", "Kestrel Valley"]


def test_a_reader_says_which_editions_they_turned_off(
    app: Flask, client: FlaskClient, token: str, importer: str
) -> None:
    _post(client, {**READER, "confirmed": True}, importer)
    answer = client.get("/api/v1/subscribers/ada@example.com", headers=_auth(token))
    assert answer.json["editions_off"] == []
    with app_session(app) as session:
        reader = session.scalars(select(Subscriber)).one()
        leave_edition(session, reader, "weekly", origin=Origin("test"))
        session.commit()
    answer = client.get("/api/v1/subscribers/ada@example.com", headers=_auth(token))
    assert answer.json["editions_off"] == ["weekly"]


def test_keyword_alerts_are_a_choice_of_the_api_off_by_default(
    app: Flask, client: FlaskClient, token: str, importer: str
) -> None:
    body = {**READER, "keywords": ["reservoir"], "keyword_alerts": True, "confirmed": True}
    created = client.post(
        "/api/v1/subscribers", data=json.dumps(body), content_type="application/json",
        headers=_auth(importer),
    )  # fmt: skip
    assert created.status_code == 201, created.json
    assert created.json["keyword_alerts"] is True
    reader = _reader(app)
    assert reader is not None and reader.keyword_alerts
    assert reader.keyword_alerted_through is not None  # from now on, not the backlog
    other = {**READER, "email": "bram@example.com"}
    plain = client.post(
        "/api/v1/subscribers", data=json.dumps(other), content_type="application/json",
        headers=_auth(token),
    )  # fmt: skip
    assert plain.status_code in (201, 202), plain.json
    answer = client.get("/api/v1/subscribers/bram@example.com", headers=_auth(token))
    assert answer.json["keyword_alerts"] is False
    wrong = client.post(
        "/api/v1/subscribers", data=json.dumps({**other, "keyword_alerts": "often"}),
        content_type="application/json", headers=_auth(token),
    )  # fmt: skip
    assert wrong.status_code == 422 and wrong.json["error"]["field"] == "keyword_alerts"


def test_body_that_is_not_json(client: FlaskClient, token: str) -> None:
    answer = client.post(
        "/api/v1/subscribers", data="{", content_type="application/json", headers=_auth(token)
    )
    assert answer.status_code == 400


def test_openapi_describes_the_reader_endpoints(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert set(paths["/api/v1/subscribers"]) == {"post"}
    assert {"get", "delete"} <= set(paths["/api/v1/subscribers/{email}"])


HOSTILE = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        ["\x00", "a@b.c\r\nBcc: x@y.z", "<script>", "../../etc/passwd", "%00", "é@ü.de", " "]
    ),
)
JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | HOSTILE,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(HOSTILE, children, max_size=3)
    ),
    max_leaves=8,
)
FIELD_NAMES = sorted(FIELDS)
BODY = st.one_of(st.dictionaries(st.sampled_from(FIELD_NAMES), JSON_VALUE), JSON_VALUE)


@HYPOTHESIS
@given(body=BODY)
def test_hostile_bodies_never_get_a_5xx(
    client: FlaskClient, importer: str, limits: redis.Redis, body: Any
) -> None:
    limits.flushdb()
    answer = client.post(
        "/api/v1/subscribers", data=json.dumps(body), content_type="application/json",
        headers=_auth(importer),
    )  # fmt: skip
    assert answer.status_code in (200, 201, 202, 400, 409, 422), answer.json
    if answer.status_code >= 400:
        assert isinstance(answer.json["error"]["message"], str)


@HYPOTHESIS
@given(email=HOSTILE)
def test_hostile_addresses_in_the_path_never_get_a_5xx(
    client: FlaskClient, token: str, email: str
) -> None:
    path = "/api/v1/subscribers/" + quote(email, safe="")
    for method in (client.get, client.delete):
        answer = method(path, headers=_auth(token))
        # 308: a "/" in the address makes "//" in the path, which werkzeug redirects.
        assert answer.status_code in (308, 404, 405, 422), (email, answer.status_code)
