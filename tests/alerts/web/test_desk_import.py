"""The desk's CSV import through the app: a preview that writes nothing, per-row errors, the
import itself, "start tomorrow", and a file that is not CSV refused with a page (no 5xx)."""

from __future__ import annotations

import io
from datetime import datetime

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from alerts.desk.imports import next_midnight
from alerts.models import AuditEvent
from subscribers.models import Subscriber, SubscriberStatus
from tests.alerts.web.app_support import app_session
from tests.support.builders import reader
from tests.support.staff import csrf_token

FILE = (
    "email,name,topics,hour\n"
    "ada@example.com,Ada,Climate;Business,7\n"
    "not-an-address,Bo,,7\n"
    "cy@example.com,Cy,,25\n"
    "known@example.com,Known,,9\n"
    "dee@example.com,Dee,,8\n"
)


def _upload(client: FlaskClient, path: str, data: bytes, **form: str) -> tuple[int, str]:
    answer = client.post(
        path,
        data={"csrf_token": csrf_token(client), "file": (io.BytesIO(data), "readers.csv"), **form},
        content_type="multipart/form-data",
    )
    if answer.status_code == 303:
        return 303, client.get(answer.headers["Location"]).get_data(as_text=True)
    return answer.status_code, answer.get_data(as_text=True)


def test_a_preview_then_an_import_that_starts_tomorrow(app: Flask, editor: FlaskClient) -> None:
    with app_session(app) as session:
        reader(session, "known@example.com")
        session.commit()
    status, html = _upload(editor, "/desk/readers/import/preview", FILE.encode(),
                           confirmed="yes", start="tomorrow")  # fmt: skip
    assert status == 200
    assert "3 rows can be imported; 2 will be refused." in html
    assert "line 3: invalid email address" in html and "line 4: hour: 25 is not between" in html
    assert "ada@example.com" in html and "Import 3 readers" in html
    with app_session(app) as session:
        assert session.scalars(select(Subscriber.email)).all() == ["known@example.com"]

    answer = editor.post(
        "/desk/readers/import",
        data={"csrf_token": csrf_token(editor), "content": FILE, "confirmed": "yes",
              "start": "tomorrow"},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert answer.status_code == 303
    html = editor.get(answer.headers["Location"]).get_data(as_text=True)
    assert "Imported 2 readers (active from tomorrow), skipped 1" in html
    assert "refused 2" in html and "line 3" in html

    with app_session(app) as session:
        readers = {s.email: s for s in session.scalars(select(Subscriber))}
        assert set(readers) == {"known@example.com", "ada@example.com", "dee@example.com"}
        ada, known = readers["ada@example.com"], readers["known@example.com"]
        assert ada.status is SubscriberStatus.ACTIVE
        assert ada.paused_until == next_midnight(ada.created_at, "UTC")
        assert known.paused_until is None
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "readers.import"))
        assert event.actor == "user:editor@newsroom.example.com"
        assert (event.details["created"], event.details["errors"]) == (2, 2)


def test_an_unconfirmed_import_starting_today_pauses_nobody(
    app: Flask, editor: FlaskClient
) -> None:
    _, html = _upload(editor, "/desk/readers/import", b"email\nada@example.com\n",
                      confirmed="no", start="today")  # fmt: skip
    assert "Imported 1 readers (waiting to confirm by email)" in html
    with app_session(app) as session:
        [ada] = session.scalars(select(Subscriber))
        assert ada.status is SubscriberStatus.PENDING and ada.paused_until is None


def test_files_that_cannot_be_imported_are_refused_with_a_page(editor: FlaskClient) -> None:
    for data, expected in (
        (b"", "Choose a CSV file to import."),
        (b"\xff\xfe\x00binary", "The file is not UTF-8 text"),
        (b"name;email\nada;ada@example.com\n", "separate columns with semicolons"),
        (b"email,colour\nada@example.com,red\n", "unknown column"),
    ):
        status, html = _upload(editor, "/desk/readers/import/preview", data)
        assert status == 400 and expected in html, (data, html[-500:])
    big = b"email\n" + b"a@example.com\n" * (9 * 1024 * 1024 // 14)
    status, html = _upload(editor, "/desk/readers/import/preview", big)
    assert status == 400 and "larger than 8 MB" in html


def test_next_midnight_is_the_start_of_tomorrow_in_the_zone() -> None:
    moment = datetime.fromisoformat("2026-03-28T23:30:00+00:00")
    assert next_midnight(moment, "Europe/Paris").isoformat() == "2026-03-30T00:00:00+02:00"
    assert next_midnight(moment, "UTC").isoformat() == "2026-03-29T00:00:00+00:00"
