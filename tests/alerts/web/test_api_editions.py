"""The publisher API for editions and alerts: the contract, scopes, errors and hostile input;
sends go through the app's own publisher into a real SMTP server."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.access.tokens import create_token
from alerts.config import Settings
from alerts.editions.issues import cancel, issue_for
from alerts.editions.schedules import get_edition
from alerts.jobs import alert_if_breaking
from alerts.models import ApiToken, Article, AuditEvent, BreakingAlert, Delivery, Issue
from subscribers.database import utcnow
from tests.alerts.mail.test_digest import (
    HOSTILE,
    assert_only_where_the_template_put_them,
    own_links,
    parts_of,
)
from tests.support.publishing import Published
from tests.support.sending import add_reader, add_stories, app_runtime, tracked_edition
from tests.support.smtp_server import RecordingSMTPServer

HYPOTHESIS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=10,
)


def _token(db: Session, name: str, scopes: list[str] | None = None) -> dict[str, str]:
    value = create_token(db, name=name, scopes=scopes, now=utcnow())
    db.commit()
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture
def cms(db: Session) -> dict[str, str]:
    """A token that may do everything."""
    return _token(db, "cms")


@pytest.fixture
def newsroom(db: Session) -> list[int]:
    """The morning edition, three stories, two readers (bob takes breaking alerts)."""
    now = utcnow()
    tracked_edition(db, clicks=False, now=now)
    stories = add_stories(db, now=now)
    add_reader(db, "ada", now=now)
    add_reader(db, "bob", now=now, alerts=True)
    return stories


def _error(answer: Any) -> str:
    body = answer.json
    assert isinstance(body, dict) and set(body) == {"error"}, body
    message = body["error"]["message"]
    assert isinstance(message, str) and message
    return message


# --- editions ---------------------------------------------------------------------------


def test_editions_are_listed(client: FlaskClient, cms: dict[str, str], newsroom: list[int]) -> None:
    answer = client.get("/api/v1/editions", headers=cms)
    assert answer.status_code == 200
    editions = answer.json["editions"]
    assert [e["slug"] for e in editions] == ["morning"]
    assert set(editions[0]) == {
        "id", "slug", "name", "cadence", "weekday", "send_hour", "topics", "images", "active",
    }  # fmt: skip
    assert editions[0]["cadence"] == "daily" and editions[0]["active"] is True
    assert editions[0]["images"] == "lead"  # the default: the top story's image only


def test_the_default_editions_exist_on_a_fresh_store(
    client: FlaskClient, cms: dict[str, str]
) -> None:
    answer = client.get("/api/v1/editions", headers=cms)
    assert [e["slug"] for e in answer.json["editions"]] == ["daily", "weekly"]


def test_send_now_sends_todays_issue_once(
    app: Flask,
    client: FlaskClient,
    db: Session,
    cms: dict[str, str],
    newsroom: list[int],
    smtp_server: RecordingSMTPServer,
) -> None:
    answer = client.post("/api/v1/editions/morning/send", headers=cms)
    assert answer.status_code == 202, answer.json
    body = answer.json
    assert (body["edition"], body["planned"], body["queued"]) == ("morning", 2, 2)
    received = smtp_server.wait_for(2)
    assert sorted(r.recipients[0] for r in received) == ["ada@example.org", "bob@example.org"]
    issue = db.get(Issue, body["issue_id"])
    assert issue is not None and issue.local_date == utcnow().date()
    assert db.scalar(select(AuditEvent.actor).where(AuditEvent.action == "issue.send_now")) == (
        "token:cms"
    )
    # By id this time, and with the date: everyone had it, nothing more goes.
    edition_id = get_edition(db, "morning").id
    again = client.post(
        f"/api/v1/editions/{edition_id}/send", headers=cms, json={"date": str(utcnow().date())}
    )
    assert again.status_code == 202
    assert (again.json["issue_id"], again.json["planned"]) == (body["issue_id"], 0)
    assert db.scalar(select(func.count()).select_from(Delivery)) == 2


def test_a_cancelled_issue_cannot_be_sent(
    client: FlaskClient, db: Session, cms: dict[str, str], newsroom: list[int]
) -> None:
    now = utcnow()
    issue = issue_for(db, get_edition(db, "morning"), now.date(), now=now)
    cancel(db, issue, now=now)
    db.commit()
    answer = client.post("/api/v1/editions/morning/send", headers=cms)
    assert answer.status_code == 409
    assert "cancelled" in _error(answer)


def test_a_switched_off_edition_cannot_be_sent(
    client: FlaskClient, db: Session, cms: dict[str, str], newsroom: list[int]
) -> None:
    """Once a 202 planning every reader: the schedule skips a switched-off edition, and so
    must a send by hand."""
    edition = get_edition(db, "morning")
    edition.active = False
    db.commit()
    answer = client.post("/api/v1/editions/morning/send", headers=cms)
    assert answer.status_code == 409
    assert "switched off" in _error(answer)
    answer = client.post(f"/api/v1/editions/{edition.id}/send", headers=cms)
    assert answer.status_code == 409
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Delivery)) == 0
    assert db.scalar(select(func.count()).select_from(Issue)) == 0


@pytest.mark.parametrize(
    "edition", ["nope", "0", "999999", "9" * 30, "%C3%B1", "MORNING", "m" * 300, "%00"]
)
def test_unknown_editions_are_404(
    client: FlaskClient, cms: dict[str, str], newsroom: list[int], edition: str
) -> None:
    answer = client.post(f"/api/v1/editions/{edition}/send", headers=cms)
    assert answer.status_code == 404
    assert "no such edition" in _error(answer)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"date": "2026-13-01"}, 422, "YYYY-MM-DD"),
        ({"date": "20261125"}, 422, "YYYY-MM-DD"),
        ({"date": 20261125}, 422, "YYYY-MM-DD"),
        ({"date": "tomorrow"}, 422, "YYYY-MM-DD"),
        ({"date": "1999-01-01"}, 422, "within 7 days"),
        ({"date": "9999-12-31"}, 422, "within 7 days"),
        ({"day": "2026-11-25"}, 422, "unknown field"),
        ([1, 2], 400, "JSON object"),
        ("2026-11-25", 400, "JSON object"),
    ],
)
def test_bad_send_requests(
    client: FlaskClient,
    db: Session,
    cms: dict[str, str],
    newsroom: list[int],
    body: Any,
    status: int,
    message: str,
) -> None:
    answer = client.post("/api/v1/editions/morning/send", headers=cms, json=body)
    assert answer.status_code == status
    assert message in _error(answer)
    assert db.scalar(select(func.count()).select_from(Delivery)) == 0


def test_a_body_that_is_not_json_is_400(
    client: FlaskClient, cms: dict[str, str], newsroom: list[int]
) -> None:
    answer = client.post(
        "/api/v1/editions/morning/send", headers=cms, data="{", content_type="application/json"
    )
    assert answer.status_code == 400


# --- alerts -----------------------------------------------------------------------------


def test_an_alert_by_article_id_goes_to_the_readers_who_asked_once(
    client: FlaskClient,
    db: Session,
    cms: dict[str, str],
    newsroom: list[int],
    smtp_server: RecordingSMTPServer,
) -> None:
    answer = client.post("/api/v1/alerts", headers=cms, json={"article_id": newsroom[0]})
    assert answer.status_code == 202, answer.json
    assert (answer.json["article_id"], answer.json["planned"]) == (newsroom[0], 1)
    [received] = smtp_server.wait_for(1)
    assert received.recipients == ["bob@example.org"]
    alert = db.get(BreakingAlert, answer.json["alert_id"])
    assert alert is not None and alert.created_by == "token:cms"
    again = client.post("/api/v1/alerts", headers=cms, json={"article_id": newsroom[0]})
    assert again.status_code == 409
    assert "already" in _error(again)


def test_an_alert_names_its_article_by_url_or_guid(
    client: FlaskClient, db: Session, cms: dict[str, str], newsroom: list[int]
) -> None:
    pushed = client.post(
        "/api/v1/articles",
        headers=cms,
        json={"url": "https://news.example.com/flood", "title": "Flood", "guid": "cms-4711"},
    )
    assert pushed.status_code == 201
    by_guid = client.post("/api/v1/alerts", headers=cms, json={"guid": "cms-4711"})
    assert by_guid.status_code == 202
    assert by_guid.json["article_id"] == pushed.json["id"]
    url = db.get(Article, newsroom[1]).url  # type: ignore[union-attr]
    by_url = client.post("/api/v1/alerts", headers=cms, json={"url": url})
    assert (by_url.status_code, by_url.json["article_id"]) == (202, newsroom[1])


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"article_id": 999_999}, 404),
        ({"article_id": 10**30}, 404),
        ({"article_id": -1}, 404),
        ({"url": "https://news.example.com/never-published"}, 404),
        ({"guid": "nope"}, 404),
        ({"guid": "nul\x00byte"}, 422),
        # A lone surrogate: no stored identity has one (it used to match "?", or be a 500).
        ({"guid": "\ud800"}, 422),
        ({"url": "https://news.example.com/\udfff"}, 422),
        ({"article_id": "1"}, 422),
        ({"article_id": True}, 422),
        ({"article_id": 1, "url": "https://news.example.com/x"}, 422),
        ({}, 422),
        ({"url": ""}, 422),
        ({"url": "x" * 3000}, 422),
        ({"colour": "red"}, 422),
        ([{"article_id": 1}], 400),
    ],
)
def test_bad_alert_requests(
    client: FlaskClient,
    db: Session,
    cms: dict[str, str],
    newsroom: list[int],
    body: Any,
    status: int,
) -> None:
    answer = client.post("/api/v1/alerts", headers=cms, json=body)
    assert answer.status_code == status, answer.json
    _error(answer)
    assert db.scalar(select(func.count()).select_from(BreakingAlert)) == 0


# --- auth and scopes --------------------------------------------------------------------


def test_tokens_need_the_right_scope(client: FlaskClient, db: Session, newsroom: list[int]) -> None:
    articles_only = _token(db, "articles-only", ["articles"])
    editions_only = _token(db, "editions-only", ["editions"])
    alerts_only = _token(db, "alerts-only", ["alerts"])
    assert client.get("/api/v1/editions", headers=articles_only).status_code == 403
    assert client.post("/api/v1/editions/morning/send", headers=alerts_only).status_code == 403
    refused = client.post("/api/v1/alerts", headers=editions_only, json={"article_id": 1})
    assert refused.status_code == 403
    assert "'alerts' scope" in _error(refused)
    assert client.get("/api/v1/editions", headers=editions_only).status_code == 200
    assert db.scalar(select(func.count()).select_from(Delivery)) == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/editions"),
        ("POST", "/api/v1/editions/morning/send"),
        ("POST", "/api/v1/alerts"),
    ],
)
def test_no_token_is_401(client: FlaskClient, method: str, path: str) -> None:
    answer = client.open(path, method=method, json={})
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    bad = client.open(path, method=method, json={}, headers={"Authorization": "Bearer na_nope"})
    assert bad.status_code == 401


def test_the_openapi_description_lists_the_new_paths(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert {"/api/v1/editions", "/api/v1/editions/{edition}/send", "/api/v1/alerts"} <= set(paths)
    assert "/api/v1/articles" in paths


@HYPOTHESIS
# A "/" in the key is a path separator once decoded (werkzeug redirects // with a 308).
@given(body=JSON_VALUES, key=st.text(min_size=1, max_size=30).filter(lambda k: "/" not in k))
def test_hostile_input_never_breaks_the_api(
    client: FlaskClient, cms: dict[str, str], body: Any, key: str
) -> None:
    send = client.post(f"/api/v1/editions/{quote(key, safe='')}/send", headers=cms, json=body)
    assert send.status_code in (202, 400, 404, 409, 422), send.json
    alert = client.post("/api/v1/alerts", headers=cms, json=body)
    assert alert.status_code in (202, 400, 404, 409, 422), alert.json
    raw = client.post(
        "/api/v1/alerts", headers=cms, data=json.dumps(body)[:-1] or "{", content_type="text/plain"
    )
    assert raw.status_code < 500


# --- the hook for article pushes --------------------------------------------------------


def test_a_pushed_breaking_article_is_alerted_once_with_the_alerts_scope(
    app: Flask,
    client: FlaskClient,
    db: Session,
    newsroom: list[int],
    smtp_server: RecordingSMTPServer,
) -> None:
    runtime, now = app_runtime(app), utcnow()
    publish = Published()
    _token(db, "cms")
    _token(db, "cms-articles", ["articles"])
    db.expire_all()
    everything = db.scalar(select(ApiToken).where(ApiToken.name == "cms"))
    articles_only = db.scalar(select(ApiToken).where(ApiToken.name == "cms-articles"))
    assert everything is not None and articles_only is not None
    calm, urgent = db.get(Article, newsroom[0]), db.get(Article, newsroom[1])
    assert calm is not None and urgent is not None
    urgent.breaking = True
    db.commit()

    def hook(article: Article, token: ApiToken, changed: bool = True) -> object:
        return alert_if_breaking(runtime, article, token, changed=changed, now=now, publish=publish)

    assert hook(calm, everything) is None  # not breaking
    assert hook(urgent, articles_only) is None  # may not send alerts
    assert hook(urgent, everything, changed=False) is None  # an unchanged re-push
    started = hook(urgent, everything)
    assert started is not None and started.planned == 1 and publish.urgent == list(publish) != []
    assert hook(urgent, everything) is None  # once
    db.expire_all()
    [alert] = db.scalars(select(BreakingAlert)).all()
    assert (alert.article_id, alert.created_by) == (urgent.id, "token:cms")
    assert now - alert.created_at < timedelta(seconds=1)


def test_an_article_pushed_with_our_value_names_gets_no_readers_links(
    client: FlaskClient,
    db: Session,
    cms: dict[str, str],
    newsroom: list[int],
    smtp_server: RecordingSMTPServer,
    web_settings: Settings,
) -> None:
    """Issue 16: a link `https://evil.example/?t=%%NEWSALERTS_UNSUBSCRIBE_URL%%` pushed with
    an articles-only token went out with every reader's own unsubscribe link in it."""
    add_reader(db, "cleo", now=utcnow(), alerts=True)
    pushed = client.post("/api/v1/articles", headers=_token(db, "feed", ["articles"]), json=HOSTILE)
    assert pushed.status_code == 201, pushed.json

    answer = client.post("/api/v1/alerts", headers=cms, json={"article_id": pushed.json["id"]})

    assert (answer.status_code, answer.json["planned"]) == (202, 2), answer.json
    received = {m.recipients[0]: m.message.as_bytes() for m in smtp_server.wait_for(2)}
    assert sorted(received) == ["bob@example.org", "cleo@example.org"]
    links = {address: own_links(data, address, web_settings) for address, data in received.items()}
    for address, data in received.items():
        text, html = parts_of(data)
        others = [parts for key, parts in links.items() if key != address]
        assert_only_where_the_template_put_them(
            text, html, links[address], others, kind="breaking news alert"
        )
