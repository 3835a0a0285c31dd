"""The permission matrix over every staff and API route the app has, found in its URL map.

A route added later is covered without anyone listing it here: under /desk only editors
and admins get in, under /ops only operators and admins, except the routes in NARROWER
(the audit log, lifting a suppression, API tokens and staff accounts are for admins only);
anonymous visitors are sent to the login page (HTML) or told 401 (JSON); the API wants a
valid bearer token.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from alerts.models import Role
from tests.support.staff import csrf_token, signed_in_client

AREAS = {"/desk": (Role.EDITOR, Role.ADMIN), "/ops": (Role.OPERATOR, Role.ADMIN)}
# Routes open to fewer roles than the rest of their area (by sample path).
NARROWER = {
    path: (Role.ADMIN,)
    for path in (
        "/ops/audit",
        "/desk/suppressions/lift",
        "/ops/tokens",
        "/ops/tokens/revoke",
        "/ops/staff",
        "/ops/staff/role",
        "/ops/staff/deactivate",
        "/ops/staff/reset",
    )
}
_SAMPLE_VALUES = {"int": "1", "date": "2026-03-10", "default": "daily"}
_PLACEHOLDER = re.compile(r"<(?:(\w+)(?:\(([^)]*)\))?:)?(\w+)>")


def _sample_path(rule: str) -> str:
    def fill(match: re.Match[str]) -> str:
        converter, arguments, name = match.group(1), match.group(2), match.group(3)
        if converter == "any" and arguments:
            return arguments.split(",")[0].strip().strip("'\"")
        if converter == "int" or name.endswith("_id") or name == "position":
            return _SAMPLE_VALUES["int"]
        if "date" in name:
            return _SAMPLE_VALUES["date"]
        return _SAMPLE_VALUES["default"]

    return _PLACEHOLDER.sub(fill, rule)


def _routes(app: Flask, prefix: str) -> Iterator[tuple[str, str]]:
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(prefix):
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            yield method, _sample_path(rule.rule)


def _call(client: FlaskClient, method: str, path: str, *, as_json: bool = False) -> int:
    headers = {"Accept": "application/json"} if as_json else {}
    if method == "GET":
        return client.get(path, headers=headers).status_code
    headers["X-CSRF-Token"] = csrf_token(client)
    return client.open(path, method=method, headers=headers).status_code


@pytest.mark.parametrize("area", sorted(AREAS))
def test_every_staff_route_keeps_out_anonymous_visitors_and_other_roles(
    app: Flask, area: str
) -> None:
    routes = list(_routes(app, area))
    assert routes, f"no routes under {area}"
    assert {path for _, path in routes} >= {p for p in NARROWER if p.startswith(area)}
    clients = {role: signed_in_client(app, role) for role in Role}
    anonymous = app.test_client()
    for method, path in routes:
        if method == "GET" and not path.endswith(".json"):
            page = anonymous.get(path)
            assert page.status_code == 303, (method, path)
            assert page.headers["Location"].startswith("/login?next="), (method, path)
        assert _call(anonymous, method, path, as_json=True) == 401, (method, path)
        allowed = NARROWER.get(path, AREAS[area])
        for role, client in clients.items():
            status = _call(client, method, path)
            if role in allowed:
                assert status not in (401, 403) and status < 500, (role, method, path, status)
            else:
                assert status == 403, (role, method, path, status)


def test_every_api_route_wants_a_valid_token(app: Flask, client: FlaskClient) -> None:
    routes = [(m, p) for m, p in _routes(app, "/api/v1") if not p.endswith("openapi.json")]
    assert routes
    for method, path in routes:
        for headers in ({}, {"Authorization": "Bearer na_not-a-real-token"},
                        {"Authorization": "Basic dXNlcjpwYXNz"}):  # fmt: skip
            answer = client.open(path, method=method, headers=headers, json={})
            assert answer.status_code == 401, (method, path, headers)
            assert answer.is_json
