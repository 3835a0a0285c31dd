"""Staff users and signed-in test clients, for tests of the desk, the console and sign-in."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from alerts.access.staff import add_user, password_hasher
from alerts.models import Role, StaffUser
from subscribers.database import utcnow

PASSWORD = "correct horse battery staple"
_CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def make_staff(
    app: Flask, email: str, role: Role = Role.EDITOR, *, password: str = PASSWORD
) -> int:
    """Store an active staff user (cheap password hash) and return its id."""
    with app.extensions["newsalerts"].runtime.session() as session:
        user: StaffUser = add_user(
            session,
            email=email,
            password=password,
            role=role,
            now=utcnow(),
            actor="cli",
            hasher=password_hasher("fast"),
        )
        session.commit()
        return user.id


def csrf_token(client: FlaskClient) -> str:
    """The client's session CSRF token (made by showing the login page if it has none)."""
    with client.session_transaction() as session:
        token = session.get("csrf")
    if isinstance(token, str):
        return token
    match = _CSRF_INPUT.search(client.get("/login").get_data(as_text=True))
    assert match, "the login page has no CSRF field"
    return match.group(1)


def login(client: FlaskClient, email: str, password: str = PASSWORD, **form: str) -> TestResponse:
    """Sign in through the login form, CSRF token and all; returns the POST's answer."""
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": csrf_token(client), **form},
    )


def signed_in_client(app: Flask, role: Role = Role.EDITOR, email: str | None = None) -> FlaskClient:
    """A test client signed in as a new staff user of `role`."""
    address = email or f"{role.value}@newsroom.example.com"
    make_staff(app, address, role)
    client = app.test_client()
    answer = login(client, address)
    assert answer.status_code == 303, answer.get_data(as_text=True)
    return client
