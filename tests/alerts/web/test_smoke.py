"""The reader journey through the test client: sign up, confirm, preferences, unsubscribe."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

from tests.alerts.web.app_support import form_field
from tests.support.smtp_server import RecordingSMTPServer


def test_journey(client: FlaskClient, smtp_server: RecordingSMTPServer) -> None:
    form = client.get("/subscribe")
    assert form.status_code == 200
    answer = client.post(
        "/subscribe",
        data={
            "email": "Ada@Example.com",
            "form_stamp": form_field(form.data, "form_stamp"),
            "frequency": "daily",
            "hour": "6",
            "timezone": "Europe/Paris",
        },
    )
    assert answer.status_code == 200 and b"Check your inbox" in answer.data
    [received] = smtp_server.wait_for(1)
    assert received.recipients == ["ada@example.com"]
    text = received.message.get_body(("plain",)).get_content()
    confirm_path = re.search(r"https://alerts\.example\.com(/confirm/\S+)", text).group(1)  # type: ignore[union-attr]

    page = client.get(confirm_path)
    assert b"Yes, confirm my subscription" in page.data
    done = client.post(confirm_path, data={"csrf_token": form_field(page.data, "csrf_token")})
    assert b"You are subscribed" in done.data

    unsubscribe_path = re.search(r"https://alerts\.example\.com(/unsubscribe/\S+)", text).group(1)  # type: ignore[union-attr]
    one_click = client.post(unsubscribe_path, data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200
    assert one_click.headers.get("Location") is None
