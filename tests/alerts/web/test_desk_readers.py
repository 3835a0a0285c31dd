"""The desk's readers pages through the app: the list, its filters and CSV export, a reader's
page, and the actions there, with their answers for bad input (never a 5xx)."""

from __future__ import annotations

import csv
import io

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from alerts.models import AuditEvent, Role
from subscribers.editions import leave_edition
from subscribers.models import Subscriber, SubscriberStatus
from subscribers.services import Origin, is_suppressed, suppress
from tests.alerts.web.app_support import SECRET, app_session
from tests.support.builders import reader
from tests.support.smtp_server import RecordingSMTPServer
from tests.support.staff import csrf_token, signed_in_client


def _arrange(app: Flask) -> dict[str, int]:
    with app_session(app) as session:
        made = {
            "ada": reader(session, "ada@example.com", topics=("Climate",)),
            "bo": reader(session, "bo@example.com", topics=("Business",), confirmed=False),
            "cy": reader(session, "=cy@example.com", topics=("Climate",)),
        }
        session.commit()
        return {name: subscriber.id for name, subscriber in made.items()}


def _post(client: FlaskClient, path: str, **form: str) -> tuple[int, str]:
    answer = client.post(path, data={"csrf_token": csrf_token(client), **form})
    location = answer.headers.get("Location", "")
    if answer.status_code == 303:
        return 303, client.get(location).get_data(as_text=True)
    return answer.status_code, answer.get_data(as_text=True)


def test_the_list_filters_and_refuses_bad_input_clearly(app: Flask, editor: FlaskClient) -> None:
    _arrange(app)
    html = editor.get("/desk/readers").get_data(as_text=True)
    assert html.index("=cy@example.com") < html.index("bo@example.com") < html.index("ada@")
    only = editor.get("/desk/readers?topic=climate&status=active").get_data(as_text=True)
    assert "ada@example.com" in only and "=cy@example.com" in only and "bo@" not in only
    assert "bo@example.com" in editor.get("/desk/readers?q=BO").get_data(as_text=True)
    for query, status in (("status=gone", 400), ("after=abc", 400), ("before=0", 400),
                          ("topic=nothing-like-it", 404), ("q=" + "a" * 300, 400),
                          ("q=%00", 400)):  # fmt: skip
        answer = editor.get(f"/desk/readers?{query}")
        assert answer.status_code == status, query
        assert "Please check" in answer.get_data(as_text=True) or status == 404


def test_the_export_is_the_filtered_list_safe_to_open(app: Flask, editor: FlaskClient) -> None:
    _arrange(app)
    answer = editor.get("/desk/readers.csv?topic=climate")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/csv")
    assert "readers-climate.csv" in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    assert [row["email"] for row in rows] == ["ada@example.com", "'=cy@example.com"]
    assert rows[0]["topics"] == "climate" and rows[0]["status"] == "active"


def test_a_readers_page_and_its_actions_are_audited(
    app: Flask, editor: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    ids = _arrange(app)
    html = editor.get(f"/desk/readers/{ids['bo']}").get_data(as_text=True)
    assert "bo@example.com" in html and "Send the confirmation again" in html
    assert "Nothing has been sent to this reader" in html and "subscribe" in html
    assert "Lift the suppression" not in html  # not suppressed, and not an admin anyway

    status, html = _post(editor, f"/desk/readers/{ids['bo']}/confirmation")
    assert status == 303 and "The confirmation email is on its way." in html
    [message] = smtp_server.wait_for(1)
    assert message.recipients == ["bo@example.com"]
    status, html = _post(editor, f"/desk/readers/{ids['ada']}/confirmation")
    assert "Only a reader waiting to confirm" in html

    status, html = _post(editor, f"/desk/readers/{ids['ada']}/unsubscribe")
    assert "Unsubscribed: nothing more is sent to this reader." in html
    status, html = _post(editor, f"/desk/readers/{ids['cy']}/erase")
    assert "Tick the box to confirm the erasure." in html
    status, html = _post(editor, f"/desk/readers/{ids['cy']}/erase", confirm="yes")
    assert f"Reader {ids['cy']} erased" in html
    assert editor.get(f"/desk/readers/{ids['cy']}").status_code == 404
    assert editor.post(f"/desk/readers/{ids['cy']}/unsubscribe",
                       data={"csrf_token": csrf_token(editor)}).status_code == 404  # fmt: skip

    with app_session(app) as session:
        ada = session.get(Subscriber, ids["ada"])
        assert ada is not None and ada.status is SubscriberStatus.UNSUBSCRIBED
        assert is_suppressed(session, "=cy@example.com", hash_key=SECRET)
        actions = [(e.actor, e.action, e.target) for e in session.scalars(
            select(AuditEvent).where(AuditEvent.action.startswith("reader.")).order_by(AuditEvent.id)
        )]  # fmt: skip
    actor = "user:editor@newsroom.example.com"
    assert actions == [
        (actor, "reader.confirmation", f"reader/{ids['bo']}"),
        (actor, "reader.unsubscribe", f"reader/{ids['ada']}"),
        (actor, "reader.erase", f"reader/{ids['cy']}"),
    ]


def test_only_an_admin_lifts_a_suppression_and_must_say_why(
    app: Flask, editor: FlaskClient
) -> None:
    ids = _arrange(app)
    with app_session(app) as session:
        suppress(session, "ada@example.com", reason="complaint", hash_key=SECRET)
        subscriber = session.get(Subscriber, ids["ada"])
        assert subscriber is not None
        subscriber.status = SubscriberStatus.COMPLAINED
        session.commit()
    form = {"email": "ada@example.com", "reason": "asked us to, ticket 7"}
    refused = editor.post(
        "/desk/suppressions/lift", data={"csrf_token": csrf_token(editor), **form}
    )
    assert refused.status_code == 403
    admin = signed_in_client(app, Role.ADMIN)
    page = admin.get(f"/desk/readers/{ids['ada']}").get_data(as_text=True)
    assert "on the suppression list" in page and "Lift the suppression" in page
    back = f"/desk/readers/{ids['ada']}"
    status, html = _post(admin, "/desk/suppressions/lift", email="ada@example.com", reason=" ",
                         back=back)  # fmt: skip
    assert "Say why the suppression is lifted." in html
    status, html = _post(admin, "/desk/suppressions/lift", email="not an address", reason="x")
    assert status == 422
    status, html = _post(admin, "/desk/suppressions/lift", back=back, **form)
    assert "Suppression lifted" in html and "on the suppression list" not in html
    status, html = _post(admin, "/desk/suppressions/lift", **form)
    assert "That address was not on the suppression list." in html
    with app_session(app) as session:
        assert not is_suppressed(session, "ada@example.com", hash_key=SECRET)
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "suppression.lift"))
        assert event.details == {"email": "a***@example.com", "reason": "asked us to, ticket 7"}


def test_a_readers_page_names_the_editions_they_turned_off(app: Flask, editor: FlaskClient) -> None:
    ids = _arrange(app)
    assert "Editions turned off" not in editor.get(f"/desk/readers/{ids['ada']}").get_data(
        as_text=True
    )
    with app_session(app) as session:
        ada = session.get(Subscriber, ids["ada"])
        assert ada is not None
        leave_edition(session, ada, "weekly", origin=Origin("test"))
        session.commit()
    html = editor.get(f"/desk/readers/{ids['ada']}").get_data(as_text=True)
    assert "<dt>Editions turned off</dt><dd>weekly</dd>" in html
