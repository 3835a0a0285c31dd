"""The operators' console over HTTP: who may see it, what it shows, and what its buttons do
to the ledger (both database backends)."""

from __future__ import annotations

import json
import re
import socket
import time
from datetime import date, timedelta
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from alerts import audit
from alerts.audit import PAGE_SIZE
from alerts.config import Settings
from alerts.ledger.unknowns import UNKNOWN_OUTCOME, UNKNOWN_REPLY
from alerts.models import (
    Article,
    AuditEvent,
    BreakingAlert,
    Delivery,
    DeliveryStatus,
    Edition,
    Issue,
    IssueStatus,
    Role,
)
from alerts.ops.workers import SEEN_KEY
from alerts.web.app import create_app
from subscribers.database import utcnow
from tests.support.builders import reader
from tests.support.publishing import Published
from tests.support.staff import csrf_token, signed_in_client

PAGES = ["/ops", "/ops/failures", "/ops/chart.svg"]
JSON = ["/ops/status.json"]
POSTS = [
    "/ops/issues/1/pause",
    "/ops/alerts/1/resume",
    "/ops/failures/retry",
    "/ops/failures/resend-unknown",
]


def seed(
    app: Flask,
    *,
    pending: int = 5,
    sent: int = 3,
    failed: int = 2,
    unknown: int = 0,
    skipped: int = 0,
) -> dict[str, int]:
    """An issue being sent and a breaking alert with one row waiting; returns their ids."""
    now = utcnow()
    with app.extensions["newsalerts"].runtime.session() as session:
        edition = Edition(slug="daily-brief", name="Daily briefing", created_at=now,
                          updated_at=now)  # fmt: skip
        article = Article(identity_hash="a" * 64, url="https://news.example.com/a",
                          title="Dam breaks upstream", published_at=now)  # fmt: skip
        session.add_all([edition, article])
        session.flush()
        issue = Issue(edition_id=edition.id, local_date=date.today(), pinned_ids=[],
                      dropped_ids=[], created_at=now, updated_at=now)  # fmt: skip
        alert = BreakingAlert(article_id=article.id, created_by="cli", created_at=now)
        session.add_all([issue, alert])
        session.flush()
        number = 0

        def row(status: DeliveryStatus, **fields: Any) -> None:
            nonlocal number
            number += 1
            subscriber = reader(session, f"reader{number}@example.com")
            session.flush()
            session.add(
                Delivery(
                    edition=edition.slug,
                    subscriber_id=subscriber.id,
                    local_date=date.today(),
                    status=status,
                    article_ids=[],
                    created_at=now - timedelta(minutes=9),
                    **fields,
                )
            )

        for _ in range(pending):
            row(DeliveryStatus.PENDING, issue_id=issue.id)
        for _ in range(sent):
            row(DeliveryStatus.SENT, issue_id=issue.id, sent_at=now, smtp_reply="250 ok")
        for _ in range(failed):
            row(DeliveryStatus.FAILED, issue_id=issue.id, smtp_reply="421 4.7.0 slow down",
                last_error="421 4.7.0 slow down", attempts=5, claimed_at=now)  # fmt: skip
        for number_unknown in range(unknown):
            # Half of them a broken reply to the final dot, in the same reply group as the
            # temporary failures (421, example.com); half a worker that died mid-exchange.
            if number_unknown % 2:
                row(DeliveryStatus.FAILED, issue_id=issue.id, last_error=UNKNOWN_OUTCOME,
                    attempts=1, claimed_at=now)  # fmt: skip
            else:
                row(DeliveryStatus.FAILED, issue_id=issue.id, smtp_reply="421 4.4.2 timeout",
                    last_error=f"{UNKNOWN_REPLY}: timed out", attempts=1,
                    claimed_at=now)  # fmt: skip
        for _ in range(skipped):  # readers with nothing new on their topics
            row(DeliveryStatus.SKIPPED, issue_id=issue.id)
        row(DeliveryStatus.PENDING, alert_id=alert.id)
        session.commit()
        return {"issue": issue.id, "alert": alert.id}


def statuses(app: Flask) -> dict[DeliveryStatus, int]:
    with app.extensions["newsalerts"].runtime.session() as session:
        found: dict[DeliveryStatus, int] = {}
        for status in session.scalars(select(Delivery.status)):
            found[status] = found.get(status, 0) + 1
        return found


@pytest.fixture
def published(app: Flask) -> Published:
    """What the console hands to the workers, kept instead of sent."""
    batches = Published()
    app.extensions["newsalerts"].publish = batches
    return batches


# --- who may see it ---------------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
def test_anonymous_pages_go_to_login(client: FlaskClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize("path", JSON + PAGES)
def test_anonymous_json_gets_401(client: FlaskClient, path: str) -> None:
    answer = client.get(path, headers={"Accept": "application/json"})
    assert answer.status_code == 401
    assert answer.get_json()["error"]["message"] == "sign in first"


@pytest.mark.parametrize("path", POSTS)
def test_anonymous_posts_go_to_login(client: FlaskClient, path: str) -> None:
    answer = client.post(path, data={"csrf_token": csrf_token(client)})
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith("/login")
    assert client.post(path).status_code == 400  # and without the token, not even that


def test_editors_may_not(app: Flask) -> None:
    client = signed_in_client(app, Role.EDITOR)
    for path in PAGES + JSON:
        assert client.get(path).status_code == 403, path
    for path in POSTS:
        assert client.post(path, data={"csrf_token": csrf_token(client)}).status_code == 403


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.ADMIN])
def test_operators_and_admins_may(app: Flask, role: Role, published: Published) -> None:
    ids = seed(app)
    client = signed_in_client(app, role)
    for path in PAGES + JSON:
        assert client.get(path).status_code == 200, path
    token = csrf_token(client)
    assert client.post(f"/ops/issues/{ids['issue']}/pause", data={"csrf_token": token}
                       ).status_code == 303  # fmt: skip
    assert client.post(f"/ops/alerts/{ids['alert']}/pause", data={"csrf_token": token}
                       ).status_code == 303  # fmt: skip
    retry = {"csrf_token": token, "reply_code": "421", "domain": "example.com", "confirm": "yes"}
    assert client.post("/ops/failures/retry", data=retry).status_code == 303


# --- what it shows ----------------------------------------------------------------------


def test_console_shows_the_send_in_progress(app: Flask) -> None:
    seed(app)
    client = signed_in_client(app, Role.OPERATOR)
    page = client.get("/ops").get_data(as_text=True)
    assert "Daily briefing" in page and "Breaking: Dam breaks upstream" in page
    assert 'http-equiv="refresh"' in page  # without JavaScript it still refreshes
    assert "<svg" in page and "Messages a minute" in page
    assert "onclick" not in page and "<script nonce=" in page

    data = client.get("/ops/status.json").get_json()
    issue = next(send for send in data["status"]["sends"] if send["kind"] == "issue")
    assert (issue["total"], issue["sent"], issue["pending"], issue["failed"]) == (10, 3, 5, 2)
    key = f"send.issue-{issue['id']}"
    assert (data["figures"][f"{key}.sent"], data["figures"][f"{key}.done"]) == ("3", "50.0 %")
    assert data["bars"][f"issue-{issue['id']}"]["sent"] == "30.00%"
    assert data["layout"] and data["status"]["version"] == 2
    for name, value in data["figures"].items():  # every figure has its place on the page
        if name.startswith(("send.", "deliveries.sent", "oldest_pending")):
            assert f'data-figure="{name}"' in page, name
            if not name.endswith(("oldest", "oldest_pending")):  # ages move between the two
                assert f">{value}<" in page, name

    svg = client.get("/ops/chart.svg")
    assert svg.content_type.startswith("image/svg+xml")
    assert b"3 sent and 2 failed" in svg.data

    failures = client.get("/ops/failures").get_data(as_text=True)
    assert "421" in failures and "Retry these" in failures and "Dead letters" in failures


def test_the_console_never_connects_to_a_relay(web_settings: Settings, redis_url: str) -> None:
    # A console left open refreshes every few seconds: an EHLO each time would look like
    # abuse to a provider. The relay is a listening socket that would see any connection.
    with socket.socket() as relay:
        relay.bind(("127.0.0.1", 0))
        relay.listen(8)
        relay.settimeout(0.5)
        port = relay.getsockname()[1]
        settings = web_settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{port}?tls=none"})
        app = create_app(settings)
        app.config["TESTING"] = True
        seed(app)
        client = signed_in_client(app, Role.OPERATOR)
        page = client.get("/ops").get_data(as_text=True)
        data = client.get("/ops/status.json").get_json()
        with pytest.raises(TimeoutError):
            relay.accept()
    relay_name = f"smtp:127.0.0.1:{port}"
    assert relay_name in page
    # Its last messages (sent, then failed, in one commit) say how it is doing instead.
    state = data["status"]["services"][relay_name]
    assert state == "ok", state  # it accepted messages in the same minute as the failures


def test_progress_counts_only_the_readers_a_send_has_something_for(app: Flask) -> None:
    seed(app, skipped=10)
    client = signed_in_client(app, Role.OPERATOR)
    data = client.get("/ops/status.json").get_json()
    issue = next(send for send in data["status"]["sends"] if send["kind"] == "issue")
    assert (issue["total"], issue["skipped"]) == (10, 10)
    key = f"send.issue-{issue['id']}"
    assert (data["figures"][f"{key}.total"], data["figures"][f"{key}.done"]) == ("10", "50.0 %")
    assert data["bars"][f"issue-{issue['id']}"]["sent"] == "30.00%"


# --- what its buttons do ----------------------------------------------------------------


def test_pause_and_resume_change_the_ledger(app: Flask, published: Published) -> None:
    ids = seed(app, pending=4, sent=0, failed=0)
    client = signed_in_client(app, Role.OPERATOR, "ops@newsroom.example.com")
    token = csrf_token(client)

    answer = client.post(f"/ops/issues/{ids['issue']}/pause", data={"csrf_token": token})
    assert (answer.status_code, answer.headers["Location"]) == (303, "/ops?done=pause")
    with app.extensions["newsalerts"].runtime.session() as session:
        issue = session.get(Issue, ids["issue"])
        assert issue is not None and issue.status is IssueStatus.PAUSED
    assert "Paused." in client.get("/ops?done=pause").get_data(as_text=True)
    assert published == []

    answer = client.post(f"/ops/issues/{ids['issue']}/resume", data={"csrf_token": token})
    assert answer.status_code == 303
    with app.extensions["newsalerts"].runtime.session() as session:
        issue = session.get(Issue, ids["issue"])
        assert issue is not None and issue.status is IssueStatus.OPEN
        waiting = session.scalars(
            select(Delivery.id).where(Delivery.issue_id == ids["issue"]).order_by(Delivery.id)
        ).all()
        events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert sorted(published[0]) == list(waiting)  # resumed rows are queued at once
    assert published.urgent == []  # a digest's
    assert [(e.actor, e.action) for e in events if e.action.startswith("issue.")] == [
        ("user:ops@newsroom.example.com", "issue.pause"),
        ("user:ops@newsroom.example.com", "issue.resume"),
    ]

    answer = client.post(f"/ops/issues/{ids['issue']}/cancel", data={"csrf_token": token})
    assert answer.status_code == 303
    assert statuses(app)[DeliveryStatus.CANCELLED] == 4
    again = client.post(f"/ops/issues/{ids['issue']}/resume", data={"csrf_token": token})
    assert again.status_code == 409
    assert "cancelled" in again.get_data(as_text=True)
    assert client.post(f"/ops/issues/{ids['issue']}/explode",
                       data={"csrf_token": token}).status_code == 404  # fmt: skip


def test_alerts_pause_resume_and_cancel(app: Flask, published: Published) -> None:
    ids = seed(app, pending=0, sent=0, failed=0)
    client = signed_in_client(app, Role.ADMIN)
    token = csrf_token(client)
    client.post(f"/ops/alerts/{ids['alert']}/pause", data={"csrf_token": token})
    with app.extensions["newsalerts"].runtime.session() as session:
        alert = session.get(BreakingAlert, ids["alert"])
        assert alert is not None and alert.status is IssueStatus.PAUSED
        [row] = session.scalars(select(Delivery.id).where(Delivery.alert_id == ids["alert"]))
    client.post(f"/ops/alerts/{ids['alert']}/resume", data={"csrf_token": token})
    assert published == published.urgent == [[row]]  # an alert's rows jump the digests' queue
    client.post(f"/ops/alerts/{ids['alert']}/pause", data={"csrf_token": token})
    client.post(f"/ops/alerts/{ids['alert']}/cancel", data={"csrf_token": token})
    assert statuses(app) == {DeliveryStatus.CANCELLED: 1}


def test_retry_these_queues_the_group_again(app: Flask, published: Published) -> None:
    seed(app, pending=0, sent=0, failed=3)
    client = signed_in_client(app, Role.OPERATOR)
    retry = {
        "csrf_token": csrf_token(client),
        "reply_code": "421",
        "domain": "example.com",
        "confirm": "yes",
    }
    answer = client.post("/ops/failures/retry", data=retry)
    assert (answer.status_code, answer.headers["Location"]) == (303, "/ops/failures?done=retry")
    assert statuses(app) == {DeliveryStatus.PENDING: 4}  # the alert's row was pending already
    assert len(published) == 1 and len(published[0]) == 3
    assert published.urgent == []
    answer = client.post("/ops/failures/retry", data=retry)
    assert answer.headers["Location"] == "/ops/failures?done=retry-none"


def test_retry_these_says_how_many_and_sends_nothing_unconfirmed(
    app: Flask, published: Published
) -> None:
    seed(app, pending=0, sent=0, failed=3)
    client = signed_in_client(app, Role.OPERATOR)
    page = client.get("/ops/failures").get_data(as_text=True)
    assert 'name="confirm" value="yes" required> Send 3 messages again' in page
    retry = {"csrf_token": csrf_token(client), "reply_code": "421", "domain": "example.com"}
    answer = client.post("/ops/failures/retry", data=retry)
    assert answer.headers["Location"] == "/ops/failures?done=retry-unconfirmed"
    assert statuses(app) == {DeliveryStatus.FAILED: 3, DeliveryStatus.PENDING: 1}
    assert published == []


def _failed_rows(app: Flask) -> dict[int, tuple[DeliveryStatus, str | None]]:
    with app.extensions["newsalerts"].runtime.session() as session:
        rows = session.execute(select(Delivery.id, Delivery.status, Delivery.last_error))
        return {row_id: (status, error) for row_id, status, error in rows}


def _unknown_ids(app: Flask) -> list[int]:
    return sorted(
        row_id
        for row_id, (status, error) in _failed_rows(app).items()
        if status is DeliveryStatus.FAILED
        and (error or "").startswith((UNKNOWN_OUTCOME, UNKNOWN_REPLY))
    )


def test_unknowns_are_listed_apart_as_may_have_arrived(app: Flask) -> None:
    seed(app, pending=0, sent=0, failed=2, unknown=3)
    client = signed_in_client(app, Role.OPERATOR)
    page = client.get("/ops/failures").get_data(as_text=True)
    assert "May have arrived" in page
    assert "<strong>3</strong> messages may have arrived" in page
    assert "the connection broke before the relay answered" in page  # the reason
    assert "the worker stopped during the SMTP exchange" in page
    # The groups table shows the temporary failures only, with their retry button.
    groups = page.split('id="groups-title"')[1].split('id="unknown-title"')[0]
    assert ">unknown<" not in groups and ">temporary<" in groups
    assert groups.count("Retry these") == 1
    # The re-send asks for a ticked box and names the newest row shown.
    unknown = page.split('id="unknown-title"')[1].split('id="dead-title"')[0]
    assert 'name="confirm" value="send-again" required' in unknown
    assert f'name="up_to" value="{max(_unknown_ids(app))}"' in unknown

    document = client.get("/ops/status.json").get_json()["status"]
    assert document["unknowns"]["count"] == 3
    assert len(document["unknowns"]["rows"]) == 3
    assert {row["recipient"][:1] for row in document["unknowns"]["rows"]} == {"r"}
    assert all("***@example.com" in row["recipient"] for row in document["unknowns"]["rows"])


def test_retry_these_never_sends_an_unknown_again(app: Flask, published: Published) -> None:
    seed(app, pending=0, sent=0, failed=2, unknown=2)
    unknown = _unknown_ids(app)
    temporary = sorted(
        row_id
        for row_id, (status, _) in _failed_rows(app).items()
        if status is DeliveryStatus.FAILED and row_id not in unknown
    )
    client = signed_in_client(app, Role.OPERATOR)
    retry = {
        "csrf_token": csrf_token(client),
        "reply_code": "421",
        "domain": "example.com",
        "confirm": "yes",
    }
    assert client.post("/ops/failures/retry", data=retry).status_code == 303
    assert published == [temporary]  # the unknown with a 421 reply is in no retry
    rows = _failed_rows(app)
    assert {rows[row_id][0] for row_id in unknown} == {DeliveryStatus.FAILED}


def test_sending_unknowns_again_needs_the_box_ticked(app: Flask, published: Published) -> None:
    seed(app, pending=0, sent=0, failed=0, unknown=2)
    unknown = _unknown_ids(app)
    client = signed_in_client(app, Role.OPERATOR)
    form = {"csrf_token": csrf_token(client), "up_to": str(max(unknown))}
    answer = client.post("/ops/failures/resend-unknown", data=form)
    assert answer.status_code == 400
    assert "Nothing was sent. Tick the box" in answer.get_data(as_text=True)
    answer = client.post("/ops/failures/resend-unknown", data={**form, "confirm": "yes"})
    assert answer.status_code == 400  # only the box's own value confirms
    assert _unknown_ids(app) == unknown and published == []


def test_a_confirmed_resend_queues_the_unknowns_shown_and_is_audited(
    app: Flask, published: Published
) -> None:
    seed(app, pending=0, sent=0, failed=1, unknown=3)
    unknown = _unknown_ids(app)
    client = signed_in_client(app, Role.ADMIN, "ops@newsroom.example.com")
    # The page listed the first two; the third became unknown after the operator looked.
    form = {"csrf_token": csrf_token(client), "up_to": str(unknown[1]), "confirm": "send-again"}
    answer = client.post("/ops/failures/resend-unknown", data=form)
    assert (answer.status_code, answer.headers["Location"]) == (
        303, "/ops/failures?done=resend",
    )  # fmt: skip
    assert published == [unknown[:2]]
    rows = _failed_rows(app)
    assert [rows[row_id] for row_id in unknown[:2]] == [(DeliveryStatus.PENDING, None)] * 2
    assert rows[unknown[2]][0] is DeliveryStatus.FAILED
    # The temporary failure stays for its own retry.
    assert sum(status is DeliveryStatus.FAILED for status, _ in rows.values()) == 2
    with app.extensions["newsalerts"].runtime.session() as session:
        event = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "deliveries.resend-unknown")
        ).one()
    assert event.actor == "user:ops@newsroom.example.com"
    assert event.details == {"rows": 2, "confirmed": True}
    again = client.post("/ops/failures/resend-unknown", data=form)
    assert again.headers["Location"] == "/ops/failures?done=resend-none"
    assert "queued again, as you confirmed" in client.get("/ops/failures?done=resend").get_data(
        as_text=True
    )


@pytest.mark.parametrize("up_to", ["", "x", "-1", "99999999999", "1\x00"])
def test_a_resend_without_a_row_id_is_400(app: Flask, up_to: str) -> None:
    client = signed_in_client(app, Role.OPERATOR)
    form = {"csrf_token": csrf_token(client), "up_to": up_to, "confirm": "send-again"}
    assert client.post("/ops/failures/resend-unknown", data=form).status_code == 400


# --- the audit log ----------------------------------------------------------------------


def test_the_audit_log_is_for_admins_only(app: Flask) -> None:
    operator = signed_in_client(app, Role.OPERATOR)
    refused = operator.get("/ops/audit")
    assert refused.status_code == 403
    assert "Audit log" not in operator.get("/ops").get_data(as_text=True)
    admin = signed_in_client(app, Role.ADMIN)
    assert admin.get("/ops/audit").status_code == 200
    for path in ("/ops", "/ops/failures"):
        assert 'href="/ops/audit"' in admin.get(path).get_data(as_text=True), path


def _events(page: str) -> list[str]:
    """The actions in the table, in order."""
    return re.findall(r'<tr id="event-\d+">\s*<td[^>]*>.*?</td>\s*<td>.*?</td>\s*<td>(.*?)</td>',
                      page, re.S)  # fmt: skip


def test_the_audit_log_pages_newest_first_and_filters_by_actor(app: Flask) -> None:
    admin = signed_in_client(app, Role.ADMIN, "admin@newsroom.example.com")
    start = utcnow()
    with app.extensions["newsalerts"].runtime.session() as session:
        for number in range(PAGE_SIZE + 5):
            at = start + timedelta(seconds=number)
            audit.record(session, actor="token:cms", action=f"article.created.{number}",
                         target=f"article:{number}", now=at)  # fmt: skip
        audit.record(session, actor=audit.ANONYMOUS, action="login.failed",
                     target='user:<script>alert(1)</script>', details={"why": "<b>Élection</b>"},
                     now=start + timedelta(minutes=5))  # fmt: skip
        session.commit()

    first = admin.get("/ops/audit").get_data(as_text=True)
    actions = _events(first)
    assert actions[:3] == ["login.failed", f"article.created.{PAGE_SIZE + 4}",
                           f"article.created.{PAGE_SIZE + 3}"]  # fmt: skip
    assert len(actions) == PAGE_SIZE
    assert "<script>alert(1)" not in first and "&lt;script&gt;alert(1)" in first
    assert "<b>" not in first and "&#34;why&#34;: &#34;&lt;b&gt;Élection&lt;/b&gt;&#34;" in first
    older = re.search(r'href="(/ops/audit\?before=\d+)" rel="next"', first)
    assert older, "no link to older events"
    second = admin.get(older.group(1)).get_data(as_text=True)
    # The admin's account was made and signed in before the rest.
    expected = [f"article.created.{n}" for n in range(5, -1, -1)] + ["login", "user.added"]
    assert _events(second) == expected
    assert 'rel="next"' not in second and "← Newest" in second

    cms = admin.get("/ops/audit?actor=cms").get_data(as_text=True)
    assert set(_events(cms)) == {f"article.created.{n}" for n in range(5, PAGE_SIZE + 5)}
    cms_older = re.search(r'href="(/ops/audit\?[^"]+)" rel="next"', cms)
    assert cms_older and "actor=cms" in cms_older.group(1)
    nobody = admin.get("/ops/audit?actor=nobody").get_data(as_text=True)
    assert _events(nobody) == [] and "No events of nobody." in nobody
    assert admin.get("/ops/audit?before=999999").status_code == 200
    # 2**31 was once a 500 on PostgreSQL: the guard let 63-bit ids through to a 32-bit column.
    for before in ("abc", "-1", "0", "9" * 30, str(2**31), str(2**63 - 1), "%00", "%EF%BC%91"):
        assert admin.get(f"/ops/audit?before={before}").status_code == 400, before


@pytest.mark.parametrize("send_id", [2**31, 2**31 + 7, 2**63 - 1, 2**64, 0])
@pytest.mark.parametrize("kind", ["issues", "alerts"])
def test_ids_no_row_can_have_are_404(app: Flask, kind: str, send_id: int) -> None:
    """Once a 500 on PostgreSQL above 2**31: an id column is 32 bits wide."""
    client = signed_in_client(app, Role.OPERATOR)
    token = csrf_token(client)
    for action in ("pause", "resume", "cancel"):
        answer = client.post(f"/ops/{kind}/{send_id}/{action}", data={"csrf_token": token})
        assert answer.status_code == 404, (action, answer.status_code)


@pytest.mark.parametrize("field", ["reply_code", "domain"])
@pytest.mark.parametrize("value", ["42\x001", "\x00", "421\r\n", "\x7f"])
def test_control_characters_in_a_retry_are_400(app: Flask, field: str, value: str) -> None:
    """Once a 500: a NUL in reply_code reached PostgreSQL, which cannot hold one."""
    seed(app)
    client = signed_in_client(app, Role.OPERATOR)
    retry = {
        "csrf_token": csrf_token(client),
        "reply_code": "421",
        "domain": "example.com",
        "confirm": "yes",
    }
    answer = client.post("/ops/failures/retry", data={**retry, field: value})
    assert answer.status_code == 400


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_workers_show_their_host_and_when_they_last_answered(
    web_settings: Settings, broker_url: str
) -> None:
    """A worker that answered two and a half hours ago and no longer does (no worker runs
    here): its own row, its host apart from its name, and how long ago it answered."""
    name, host = "celery@mail-2.example.net", "mail-2.example.net"
    seen = time.time() - 9030
    remembered = {"processed": 7, "since": seen, "last_seen": seen, "pid": 4242, "concurrency": 4}
    redis.Redis.from_url(broker_url).hset(SEEN_KEY, name, json.dumps(remembered))
    application = create_app(web_settings.model_copy(update={"redis_url": broker_url}))
    try:
        client = signed_in_client(application, Role.OPERATOR)
        page = client.get("/ops").get_data(as_text=True)
        data = client.get("/ops/status.json").get_json()
    finally:
        application.extensions["newsalerts"].runtime.close()

    heading = re.search(r'<h2 id="workers-title">.*?<thead>(.*?)</thead>', page, re.DOTALL)
    assert heading is not None
    columns = re.findall(r"<th[^>]*>([^<]*)</th>", heading.group(1))
    assert columns == ["Worker", "Host", "Queues", "pid", "Processes", "Running", "Tasks done",
                       "Last answer", "State"]  # fmt: skip
    row = re.search(rf"<tr>\s*<td[^>]*>{re.escape(name)}</td>(.*?)</tr>", page, re.DOTALL)
    assert row is not None
    cells = [re.sub(r"<[^>]+>", " ", cell).split() for cell in re.findall(
        r"<td[^>]*>(.*?)</td>", row.group(1), re.DOTALL)]  # fmt: skip
    # Which queues it takes is known only from a worker that answers.
    assert [" ".join(cell) for cell in cells] == [host, "—", "4242", "4", "0", "7",
                                                  "2 h 30 min ago", "not answering"]  # fmt: skip
    assert data["figures"][f"worker.{name}.last_seen"] == "2 h 30 min ago"
    assert f'data-figure="worker.{name}.last_seen"' in page  # and the script keeps it current
    assert [(w["name"], w["host"]) for w in data["status"]["workers"]] == [(name, host)]


def test_the_console_with_a_slash_is_the_console(app: Flask) -> None:
    operator = signed_in_client(app, Role.OPERATOR)
    answer = operator.get("/ops/")
    assert answer.status_code == 308
    assert answer.headers["Location"] == "/ops"
    assert operator.get("/ops/", follow_redirects=True).status_code == 200
