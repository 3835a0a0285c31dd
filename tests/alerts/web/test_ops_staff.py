"""/ops/staff: admins list, add, change the role of and deactivate staff and make one-time
reset links; /account: a user changes their own password, and a reset link sets one."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from alerts.models import AuditEvent, Role
from tests.support.sending import app_runtime
from tests.support.staff import PASSWORD, csrf_token, login, signed_in_client

BOSS = "boss@newsroom.example.com"
NEW = "a brand new passphrase"


def _actions(app: Flask) -> list[tuple[str, str, str | None]]:
    with app.extensions["newsalerts"].runtime.session() as session:
        rows = session.execute(
            select(AuditEvent.actor, AuditEvent.action, AuditEvent.target)
            .where(AuditEvent.action.like("user.%"))
            .order_by(AuditEvent.id)
        )
        return [(actor, action, target) for actor, action, target in rows]


def test_only_admins_see_the_staff_page(app: Flask, client: FlaskClient) -> None:
    assert client.get("/ops/staff").status_code == 303  # to the login page
    for role in (Role.EDITOR, Role.OPERATOR):
        assert signed_in_client(app, role).get("/ops/staff").status_code == 403
    operator = signed_in_client(app, Role.OPERATOR, "ops@newsroom.example.com")
    assert 'href="/ops/staff"' not in operator.get("/ops").get_data(as_text=True)
    admin = signed_in_client(app, Role.ADMIN, BOSS)
    assert 'href="/ops/staff"' in admin.get("/ops").get_data(as_text=True)
    html = admin.get("/ops/staff").get_data(as_text=True)
    for shown in (BOSS, "editor@newsroom.example.com", "operator", "never"):
        assert shown in html


def test_an_admin_adds_changes_resets_and_deactivates(app: Flask, client: FlaskClient) -> None:
    admin = signed_in_client(app, Role.ADMIN, BOSS)
    token = csrf_token(admin)
    form = {"csrf_token": token, "email": "Ed@Newsroom.example.com", "role": "editor",
            "password": PASSWORD}  # fmt: skip
    added = admin.post("/ops/staff", data=form)
    assert (added.status_code, added.headers["Location"]) == (303, "/ops/staff?done=added")
    again = admin.post("/ops/staff", data=form)
    assert again.status_code == 422 and "exists already" in again.get_data(as_text=True)
    weak = admin.post("/ops/staff", data={**form, "email": "cy@example.com", "password": "short"})
    assert weak.status_code == 422 and "at least 12" in weak.get_data(as_text=True)
    odd = admin.post("/ops/staff", data={**form, "email": "cy@example.com", "role": "owner"})
    assert odd.status_code == 422 and "choose a role" in odd.get_data(as_text=True)

    ed = app.test_client()
    assert login(ed, "ed@newsroom.example.com").status_code == 303
    assert ed.get("/desk").status_code == 200
    role = {"csrf_token": token, "email": "ed@newsroom.example.com", "role": "operator"}
    assert admin.post("/ops/staff/role", data=role).headers["Location"] == "/ops/staff?done=role"
    assert ed.get("/desk").status_code == 303  # their session ended with the change
    self_demote = admin.post("/ops/staff/role", data={**role, "email": BOSS})
    assert self_demote.status_code == 422 and "your own admin role" in self_demote.get_data(
        as_text=True
    )

    made = admin.post(
        "/ops/staff/reset", data={"csrf_token": token, "email": "ed@newsroom.example.com"}
    )
    assert made.status_code == 201
    html = made.get_data(as_text=True)
    link = html.split('<p class="reset-link">')[1].split("</p>")[0]
    path = "/account/reset/" + link.split("/account/reset/")[1]
    assert link.startswith(app_runtime(app).settings.base_url) and "shown only this once" in html
    assert link not in admin.get("/ops/staff").get_data(as_text=True)

    stranger = app.test_client()
    opened = stranger.get(path)
    assert opened.status_code == 200 and "ed@newsroom.example.com" in opened.get_data(as_text=True)
    short = stranger.post(path, data={"csrf_token": csrf_token(stranger), "new": "short"})
    assert short.status_code == 422 and "at least 12" in short.get_data(as_text=True)
    done = stranger.post(path, data={"csrf_token": csrf_token(stranger), "new": NEW})
    assert done.status_code == 200 and "Password set." in done.get_data(as_text=True)
    used = stranger.get(path)
    assert used.status_code == 410 and "used or replaced" in used.get_data(as_text=True)
    assert stranger.get("/account/reset/not-a-code").status_code == 410
    assert login(app.test_client(), "ed@newsroom.example.com").status_code == 422
    assert login(app.test_client(), "ed@newsroom.example.com", NEW).status_code == 303

    gone = admin.post(
        "/ops/staff/deactivate", data={"csrf_token": token, "email": "ed@newsroom.example.com"}
    )
    assert gone.headers["Location"] == "/ops/staff?done=deactivated"
    assert login(app.test_client(), "ed@newsroom.example.com", NEW).status_code == 422
    myself = admin.post("/ops/staff/deactivate", data={"csrf_token": token, "email": BOSS})
    assert myself.status_code == 422 and "deactivate yourself" in myself.get_data(as_text=True)
    unknown = admin.post("/ops/staff/role", data={**role, "email": "nobody@example.com"})
    assert unknown.status_code == 422 and "no staff user" in unknown.get_data(as_text=True)
    assert admin.post("/ops/staff/role", data={**role, "csrf_token": "forged"}).status_code == 400

    actor, target = f"user:{BOSS}", "user:ed@newsroom.example.com"
    assert _actions(app)[-5:] == [
        (actor, "user.added", target),
        (actor, "user.role_changed", target),
        (actor, "user.password_reset_issued", target),
        (target, "user.password_reset", target),
        (actor, "user.deactivated", target),
    ]


def test_a_user_changes_their_own_password(app: Flask) -> None:
    editor = signed_in_client(app, Role.EDITOR)
    other = app.test_client()  # a second browser
    assert login(other, "editor@newsroom.example.com").status_code == 303
    page = editor.get("/account/password")
    assert page.status_code == 200 and "Current password" in page.get_data(as_text=True)
    token = csrf_token(editor)
    wrong = editor.post(
        "/account/password", data={"csrf_token": token, "current": "nope", "new": NEW}
    )
    assert wrong.status_code == 422 and "current password is not right" in wrong.get_data(
        as_text=True
    )
    changed = editor.post(
        "/account/password", data={"csrf_token": token, "current": PASSWORD, "new": NEW}
    )
    assert changed.status_code == 200 and "Password changed." in changed.get_data(as_text=True)
    assert editor.get("/desk").status_code == 200  # this browser stays signed in
    assert other.get("/desk").status_code == 303  # the other one is signed out
    assert login(app.test_client(), "editor@newsroom.example.com", NEW).status_code == 303
    assert app.test_client().get("/account/password").status_code == 303
    assert _actions(app)[-1] == (
        "user:editor@newsroom.example.com", "user.password_changed",
        "user:editor@newsroom.example.com",
    )  # fmt: skip
