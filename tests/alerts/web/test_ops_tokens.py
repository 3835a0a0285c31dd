"""/ops/tokens: admins list, create (shown once) and revoke the API's tokens (both backends)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from alerts.models import AuditEvent, Role
from tests.support.staff import csrf_token, signed_in_client


def test_only_admins_see_the_tokens(app: Flask, client: FlaskClient) -> None:
    assert client.get("/ops/tokens").status_code == 303  # to the login page
    for role in (Role.EDITOR, Role.OPERATOR):
        assert signed_in_client(app, role).get("/ops/tokens").status_code == 403
    admin = signed_in_client(app, Role.ADMIN)
    assert "No API tokens yet." in admin.get("/ops/tokens").get_data(as_text=True)
    assert 'href="/ops/tokens"' in admin.get("/ops").get_data(as_text=True)
    operator = signed_in_client(app, Role.OPERATOR, "ops@newsroom.example.com")
    assert 'href="/ops/tokens"' not in operator.get("/ops").get_data(as_text=True)


def test_a_token_is_shown_once_works_and_is_revoked(app: Flask, client: FlaskClient) -> None:
    admin = signed_in_client(app, Role.ADMIN, "boss@newsroom.example.com")
    token = csrf_token(admin)
    made = admin.post(
        "/ops/tokens", data={"csrf_token": token, "name": "cms", "scopes": ["articles"]}
    )
    assert made.status_code == 201
    html = made.get_data(as_text=True)
    assert "Copy it now: it is shown only this once." in html
    value = html.split('<p class="token-value">')[1].split("</p>")[0]
    assert value.startswith("na_")
    listed = admin.get("/ops/tokens").get_data(as_text=True)
    assert value not in listed and "cms" in listed and "articles" in listed and "never" in listed
    assert (
        client.get("/api/v1/editions", headers={"Authorization": f"Bearer {value}"}).status_code
        == 403
    )
    again = admin.post("/ops/tokens", data={"csrf_token": token, "name": "cms"})
    assert again.status_code == 422 and "Not created:" in again.get_data(as_text=True)
    revoked = admin.post("/ops/tokens/revoke", data={"csrf_token": token, "name": "cms"})
    assert (revoked.status_code, revoked.headers["Location"]) == (303, "/ops/tokens?done=revoked")
    answer = client.get("/api/v1/editions", headers={"Authorization": f"Bearer {value}"})
    assert answer.status_code == 401
    with app.extensions["newsalerts"].runtime.session() as session:
        events = session.execute(
            select(AuditEvent.actor, AuditEvent.action).where(AuditEvent.action.like("token.%"))
        ).all()
    assert [tuple(e) for e in events] == [
        ("user:boss@newsroom.example.com", "token.created"),
        ("user:boss@newsroom.example.com", "token.revoked"),
    ]


@pytest.mark.parametrize("name", ["cms\x00", "two\nlines"])
def test_a_name_no_token_can_have_is_400(app: Flask, name: str) -> None:
    admin = signed_in_client(app, Role.ADMIN)
    token = csrf_token(admin)
    assert admin.post("/ops/tokens", data={"csrf_token": token, "name": name}).status_code == 400
    revoke = admin.post("/ops/tokens/revoke", data={"csrf_token": token, "name": name})
    assert revoke.status_code == 400
