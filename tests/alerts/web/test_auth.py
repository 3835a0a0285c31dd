"""Staff sign-in: login and logout, cookies, CSRF, rate limits, and the role checks that
the desk and the console rely on (tried on blueprints that exist only in these tests)."""

from __future__ import annotations

from collections.abc import Iterator
from http.cookies import SimpleCookie

import pytest
from flask import Blueprint, Flask, jsonify
from flask.testing import FlaskClient
from sqlalchemy import select

from alerts.access.staff import deactivate, set_password
from alerts.config import load_settings
from alerts.models import AuditEvent, Role, StaffUser
from alerts.web.app import create_app
from alerts.web.auth import (
    LOGIN_IP_EMAIL_LIMIT,
    LOGIN_IP_LIMIT,
    NOT_RIGHT,
    STAFF_DESK,
    STAFF_OPS,
    current_staff,
    require_role,
    roles_required,
    safe_next,
)
from alerts.web.pages import page
from subscribers.database import utcnow
from tests.support.staff import PASSWORD, csrf_token, login, make_staff, signed_in_client

ALL_ROLES = tuple(Role)


def _probes() -> list[Blueprint]:
    desk = Blueprint("desk_probe", __name__, url_prefix="/desk/_probe")
    ops = Blueprint("ops_probe", __name__, url_prefix="/ops/_probe")
    desk.before_request(lambda: require_role(*STAFF_DESK))
    ops.before_request(lambda: require_role(*STAFF_OPS))

    @desk.route("", methods=["GET", "POST", "DELETE"])
    def desk_home() -> str:
        user = current_staff()
        assert user is not None
        return f"desk for {user.email}"

    @ops.get("")
    def ops_home() -> str:
        return "ops"

    @ops.get("/status.json")
    def ops_status() -> object:
        return jsonify({"ok": True})

    admin = Blueprint("admin_probe", __name__, url_prefix="/desk/_admin")

    @admin.get("")
    @roles_required(Role.ADMIN)
    def admin_home() -> str:
        return "admin"

    layout = Blueprint("layout_probe", __name__)

    @layout.get("/_layout_probe")
    def layout_page() -> tuple[str, int]:
        return page("staff/error.html", title="Layout", message="A page in the staff layout.")

    return [desk, ops, admin, layout]


@pytest.fixture
def app(app: Flask) -> Flask:
    for probe in _probes():
        app.register_blueprint(probe)
    return app


def _events(app: Flask, action: str) -> list[AuditEvent]:
    with app.extensions["newsalerts"].runtime.session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# --- login -----------------------------------------------------------------------------


def test_login_page_renders_with_a_csrf_field(client: FlaskClient) -> None:
    answer = client.get("/login")
    assert answer.status_code == 200
    html = answer.get_data(as_text=True)
    assert 'name="csrf_token"' in html and 'type="password"' in html
    assert 'autocomplete="current-password"' in html


def test_login_lands_on_the_desk_and_records_it(app: Flask, client: FlaskClient) -> None:
    make_staff(app, "ed@newsroom.example.com", Role.EDITOR)
    answer = login(client, "Ed@Newsroom.example.com")
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/desk"
    assert client.get("/desk/_probe").get_data(as_text=True) == "desk for ed@newsroom.example.com"
    [event] = _events(app, "login")
    assert event.actor == "user:ed@newsroom.example.com"
    with app.extensions["newsalerts"].runtime.session() as session:
        assert session.scalar(select(StaffUser.last_login_at)) is not None


def test_operator_lands_on_the_console(app: Flask, client: FlaskClient) -> None:
    make_staff(app, "op@newsroom.example.com", Role.OPERATOR)
    assert login(client, "op@newsroom.example.com").headers["Location"] == "/ops"


@pytest.mark.parametrize(
    ("email", "target"),
    [
        ("ed@newsroom.example.com", "user:ed@newsroom.example.com"),
        ("nobody@newsroom.example.com", "user:n***@newsroom.example.com"),
    ],
)
def test_wrong_password_and_unknown_address_get_the_same_answer(
    app: Flask, client: FlaskClient, email: str, target: str
) -> None:
    make_staff(app, "ed@newsroom.example.com")
    answer = login(client, email, "not the password at all")
    assert answer.status_code == 422
    assert NOT_RIGHT in answer.get_data(as_text=True)
    assert client.get("/desk/_probe").status_code == 303
    [event] = _events(app, "login.failed")
    assert event.actor == "anonymous" and event.target == target
    assert "not the password" not in str(event.details)


@pytest.mark.parametrize(
    ("typed", "target"),
    [
        # A staff account in another spelling: named, so a burst on it shows a guesser.
        ("  ED@newsroom.EXAMPLE.com", "user:ed@newsroom.example.com"),
        # A visitor's own address, in a local part the old masking let through.
        ("jose{secret}@example.com", "user:j***@example.com"),
        # A password typed into the address field.
        ("hunter2 my secret passphrase", "user:***"),
    ],
)
def test_a_failed_login_keeps_what_was_typed_masked_in_the_audit_log(
    app: Flask, client: FlaskClient, typed: str, target: str
) -> None:
    make_staff(app, "ed@newsroom.example.com")
    assert login(client, typed, "not the password at all").status_code == 422
    [event] = _events(app, "login.failed")
    assert event.target == target
    assert "secret" not in f"{event.target} {event.details}"


def test_deactivated_user_cannot_sign_in(app: Flask, client: FlaskClient) -> None:
    make_staff(app, "ed@newsroom.example.com")
    with app.extensions["newsalerts"].runtime.session() as session:
        deactivate(session, email="ed@newsroom.example.com", now=utcnow(), actor="cli")
        session.commit()
    answer = login(client, "ed@newsroom.example.com")
    assert answer.status_code == 422
    assert NOT_RIGHT in answer.get_data(as_text=True)


@pytest.mark.parametrize("change", ["password", "deactivate"])
def test_password_change_or_deactivation_ends_open_sessions(app: Flask, change: str) -> None:
    client = signed_in_client(app, Role.EDITOR, "ed@newsroom.example.com")
    assert client.get("/desk/_probe").status_code == 200
    with app.extensions["newsalerts"].runtime.session() as session:
        if change == "password":
            set_password(
                session,
                email="ed@newsroom.example.com",
                password="a whole new passphrase",
                now=utcnow(),
                actor="cli",
            )
        else:
            deactivate(session, email="ed@newsroom.example.com", now=utcnow(), actor="cli")
        session.commit()
    answer = client.get("/desk/_probe")
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith("/login?next=")


def test_logout_ends_the_session(app: Flask) -> None:
    client = signed_in_client(app, Role.EDITOR)
    answer = client.post("/logout", data={"csrf_token": csrf_token(client)})
    assert (answer.status_code, answer.headers["Location"]) == (303, "/login")
    assert client.get("/desk/_probe").status_code == 303
    assert len(_events(app, "logout")) == 1


def _cookie_copy(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of `client`'s session cookie (a stolen one)."""
    cookie = client.get_cookie("newsalerts_session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("newsalerts_session", cookie.value)
    return thief


def test_a_session_cookie_copied_before_logout_is_dead_after_it(app: Flask) -> None:
    client = signed_in_client(app, Role.EDITOR, "ed@newsroom.example.com")
    thief = _cookie_copy(app, client)
    assert thief.get("/desk/_probe").status_code == 200  # the copy works while signed in
    assert client.post("/logout", data={"csrf_token": csrf_token(client)}).status_code == 303

    page = thief.get("/desk/_probe")
    assert (page.status_code, page.headers["Location"]) == (303, "/login?next=/desk/_probe")
    assert thief.get("/desk/_probe", headers={"Accept": "application/json"}).status_code == 401
    # Signing in again gives a new session; the old copy stays dead.
    assert login(client, "ed@newsroom.example.com").status_code == 303
    assert client.get("/desk/_probe").status_code == 200
    assert thief.get("/desk/_probe").status_code == 303


def test_logout_ends_the_users_sessions_in_other_browsers_too(app: Flask) -> None:
    """The documented price of revoking by session version: one logout ends them all."""
    laptop = signed_in_client(app, Role.EDITOR, "ed@newsroom.example.com")
    phone = app.test_client()
    assert login(phone, "ed@newsroom.example.com").status_code == 303
    assert laptop.post("/logout", data={"csrf_token": csrf_token(laptop)}).status_code == 303
    assert phone.get("/desk/_probe").status_code == 303


ATTACKER, COLLEAGUE = "203.0.113.66", "198.51.100.7"


def _from(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def test_login_limit_holds_the_guessing_client_not_the_account(app: Flask) -> None:
    make_staff(app, "ed@newsroom.example.com")
    attacker = _from(app, ATTACKER)
    for _ in range(LOGIN_IP_EMAIL_LIMIT):
        assert login(attacker, "ed@newsroom.example.com", "wrong password!!").status_code == 422
    limited = login(attacker, "ed@newsroom.example.com")  # even the right password now
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0
    assert attacker.get("/desk/_probe").status_code == 303

    # The account's owner, elsewhere, is not locked out by someone else's guesses.
    owner = _from(app, COLLEAGUE)
    assert login(owner, "ed@newsroom.example.com").headers["Location"] == "/desk"
    assert owner.get("/desk/_probe").status_code == 200
    assert login(attacker, "ed@newsroom.example.com").status_code == 429


def test_every_spelling_of_an_address_counts_towards_one_limit(app: Flask) -> None:
    """A full-width letter in the domain reaches the same account, so it counts with the
    plain spelling; so do case and surrounding spaces, and (though the lookup refuses it)
    a full-width letter in the local part."""
    make_staff(app, "editor@staff.example")
    attacker = _from(app, ATTACKER)
    spellings = [
        "editor@staff.example",
        "editor@\uff53taff.example",
        " EDITOR@Staff.Example ",
        "\uff45ditor@staff.example",
    ]
    for number in range(LOGIN_IP_EMAIL_LIMIT):
        typed = spellings[number % len(spellings)]
        assert login(attacker, typed, "wrong password!!").status_code == 422, typed
    for typed in spellings:
        assert login(attacker, typed).status_code == 429, typed


def test_login_rate_limit_per_client(app: Flask, client: FlaskClient) -> None:
    answers = [
        login(client, f"guess{number}@newsroom.example.com", "wrong password!!").status_code
        for number in range(LOGIN_IP_LIMIT + 1)
    ]
    assert answers[:-1] == [422] * LOGIN_IP_LIMIT
    assert answers[-1] == 429
    assert login(_from(app, COLLEAGUE), "guess0@newsroom.example.com").status_code == 422


def test_an_ipv6_client_is_counted_by_its_64(app: Flask) -> None:
    """One IPv6 host usually holds a whole /64: a new address per try must not reset the
    count."""
    make_staff(app, "ed@newsroom.example.com")
    for number in range(LOGIN_IP_EMAIL_LIMIT):
        guesser = _from(app, f"2001:db8:7:7::{number + 1:x}")
        assert login(guesser, "ed@newsroom.example.com", "wrong password!!").status_code == 422
    assert login(_from(app, "2001:db8:7:7::ffff"), "ed@newsroom.example.com").status_code == 429
    assert login(_from(app, "2001:db8:7:8::1"), "ed@newsroom.example.com").status_code == 303


# --- next ------------------------------------------------------------------------------


def test_login_follows_a_local_next(app: Flask, client: FlaskClient) -> None:
    make_staff(app, "ed@newsroom.example.com")
    first = client.get("/desk/_probe?tab=today")
    assert first.status_code == 303
    assert first.headers["Location"] == "/login?next=/desk/_probe?tab%3Dtoday"
    answer = login(client, "ed@newsroom.example.com", next="/desk/_probe?tab=today")
    assert answer.headers["Location"] == "/desk/_probe?tab=today"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example.net/",
        "//evil.example.net/",
        "/\\evil.example.net",
        "\\\\evil.example.net",
        "javascript:alert(1)",
        "/desk\r\nLocation: https://evil.example.net",
        "desk",
        "",
    ],
)
def test_next_never_leaves_the_site(app: Flask, client: FlaskClient, target: str) -> None:
    assert safe_next(target) is None
    make_staff(app, "ed@newsroom.example.com")
    page = client.get("/login", query_string={"next": target}).get_data(as_text=True)
    assert "evil" not in page
    answer = login(client, "ed@newsroom.example.com", next=target)
    assert answer.headers["Location"] == "/desk"


# --- cookie ----------------------------------------------------------------------------


def _session_cookie(set_cookie: list[str]) -> str:
    [header] = [value for value in set_cookie if value.startswith("newsalerts_session=")]
    return header


def test_session_cookie_flags(app: Flask, client: FlaskClient) -> None:
    make_staff(app, "ed@newsroom.example.com")
    answer = login(client, "ed@newsroom.example.com")
    header = _session_cookie(answer.headers.getlist("Set-Cookie"))
    flags = {part.strip().split("=")[0].lower() for part in header.split(";")}
    assert {"httponly", "secure", "expires"} <= flags
    assert "SameSite=Lax" in header
    morsel = SimpleCookie(header)["newsalerts_session"]
    assert morsel["httponly"] and morsel["secure"]


@pytest.fixture
def http_app(web_settings: object, redis_url: str) -> Iterator[Flask]:
    settings = load_settings(
        **{**web_settings.model_dump(), "base_url": "http://localhost:8000"},  # type: ignore[attr-defined]
        _env_file=None,
    )
    application = create_app(settings)
    yield application
    application.extensions["newsalerts"].runtime.close()


def test_cookie_is_not_secure_on_plain_http(http_app: Flask) -> None:
    make_staff(http_app, "ed@newsroom.example.com")
    client = http_app.test_client()
    header = _session_cookie(login(client, "ed@newsroom.example.com").headers.getlist("Set-Cookie"))
    assert "Secure" not in header and "HttpOnly" in header


# --- CSRF ------------------------------------------------------------------------------


@pytest.mark.parametrize("sent", [None, "", "wrong-token"])
def test_staff_posts_need_the_session_csrf_token(app: Flask, sent: str | None) -> None:
    client = signed_in_client(app, Role.EDITOR)
    data = {} if sent is None else {"csrf_token": sent}
    refused = client.post("/desk/_probe", data=data)
    assert refused.status_code == 400
    assert "reload the page" in refused.get_data(as_text=True)
    assert client.post("/logout", data=data).status_code == 400
    assert client.get("/desk/_probe").status_code == 200  # still signed in


def test_csrf_token_in_form_or_header(app: Flask) -> None:
    client = signed_in_client(app, Role.EDITOR)
    token = csrf_token(client)
    assert client.post("/desk/_probe", data={"csrf_token": token}).status_code == 200
    assert client.delete("/desk/_probe", headers={"X-CSRF-Token": token}).status_code == 200
    json_refusal = client.delete(
        "/desk/_probe", headers={"X-CSRF-Token": "nope", "Accept": "application/json"}
    )
    assert json_refusal.status_code == 400
    assert json_refusal.json is not None and json_refusal.json["error"]["field"] == "csrf_token"


def test_another_sessions_token_is_refused(app: Flask) -> None:
    mine = signed_in_client(app, Role.EDITOR, "ed@newsroom.example.com")
    theirs = signed_in_client(app, Role.ADMIN, "admin@newsroom.example.com")
    assert mine.post("/desk/_probe", data={"csrf_token": csrf_token(theirs)}).status_code == 400


def test_login_form_needs_its_csrf_token(app: Flask, client: FlaskClient) -> None:
    make_staff(app, "ed@newsroom.example.com")
    answer = client.post("/login", data={"email": "ed@newsroom.example.com", "password": PASSWORD})
    assert answer.status_code == 400


def test_login_replaces_the_csrf_token(app: Flask, client: FlaskClient) -> None:
    make_staff(app, "ed@newsroom.example.com")
    before = csrf_token(client)
    login(client, "ed@newsroom.example.com")
    assert csrf_token(client) != before


# --- require_role ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/desk/_probe", "/ops/_probe", "/desk/_admin"])
def test_anonymous_page_requests_go_to_login(client: FlaskClient, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"/login?next={path}"


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/ops/_probe/status.json", {}),
        ("/desk/_probe", {"Accept": "application/json"}),
    ],
)
def test_anonymous_json_requests_get_401(
    client: FlaskClient, path: str, headers: dict[str, str]
) -> None:
    answer = client.get(path, headers=headers)
    assert answer.status_code == 401
    assert answer.json is not None and "sign in" in answer.json["error"]["message"]


ALLOWED = {
    "/desk/_probe": {Role.EDITOR, Role.ADMIN},
    "/ops/_probe": {Role.OPERATOR, Role.ADMIN},
    "/ops/_probe/status.json": {Role.OPERATOR, Role.ADMIN},
    "/desk/_admin": {Role.ADMIN},
}


@pytest.mark.parametrize("role", ALL_ROLES)
def test_role_matrix(app: Flask, role: Role) -> None:
    client = signed_in_client(app, role)
    for path, roles in ALLOWED.items():
        answer = client.get(path)
        expected = 200 if role in roles else 403
        assert answer.status_code == expected, (path, role)
        if expected == 403 and path.endswith(".json"):
            assert answer.json is not None and "may not" in answer.json["error"]["message"]


# --- layout ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "desk", "ops"),
    [(Role.EDITOR, True, False), (Role.OPERATOR, False, True), (Role.ADMIN, True, True)],
)
def test_staff_layout_shows_the_areas_of_the_role(
    app: Flask, role: Role, desk: bool, ops: bool
) -> None:
    client = signed_in_client(app, role)
    html = client.get("/_layout_probe").get_data(as_text=True)
    assert ('href="/desk"' in html) is desk
    assert ('href="/ops"' in html) is ops
    assert f"{role.value}@newsroom.example.com" in html
    assert 'action="/logout"' in html and 'name="csrf_token"' in html
    assert "<script" not in html


def test_staff_layout_for_nobody_signed_in(client: FlaskClient) -> None:
    html = client.get("/_layout_probe").get_data(as_text=True)
    assert "A page in the staff layout." in html
    assert 'action="/logout"' not in html and 'href="/desk"' not in html
