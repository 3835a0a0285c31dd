"""The editors' desk through the Flask test client, on both database backends: who may
open it, the overview, editions' settings, curation, and hostile input."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from alerts.editions.issues import find_issue
from alerts.editions.schedules import get_edition
from alerts.feeds.articles import ArticleInput, upsert_articles
from alerts.models import Article, Edition, EditionImages, Role
from subscribers.database import utcnow
from subscribers.keywords import parse_keywords, set_keywords
from tests.alerts.web.app_support import app_session
from tests.alerts.web.desk_support import audit_actions, follow, newsroom, post, today
from tests.support.builders import reader
from tests.support.staff import signed_in_client

# --- who may open what ---------------------------------------------------------------------


def _pages(app: Flask) -> list[str]:
    ids = newsroom(app)
    day = today(app).isoformat()
    issue = f"/desk/editions/daily/issues/{day}"
    return [
        "/desk",
        "/desk/editions/new",
        "/desk/editions/daily",
        issue,
        f"{issue}?preview=1&mode=topics&timezone=UTC",
        f"{issue}/preview.html?mode=topics&timezone=UTC",
        f"/desk/alerts/new/{ids['heatwave']}",
    ]


def test_role_matrix_for_every_desk_page(app: Flask) -> None:
    pages = _pages(app)
    day = today(app).isoformat()
    progress = f"/desk/editions/daily/issues/{day}/progress.json"
    anonymous = app.test_client()
    for path in pages:
        answer = anonymous.get(path)
        assert answer.status_code == 303, path
        assert answer.headers["Location"].startswith("/login?next="), path
    assert anonymous.get(progress).status_code == 401
    assert anonymous.get("/desk", headers={"Accept": "application/json"}).status_code == 401

    operator = signed_in_client(app, Role.OPERATOR)
    for path in [*pages, progress]:
        assert operator.get(path).status_code == 403, path
    refused = post(operator, f"/desk/editions/daily/issues/{day}/pause")
    assert refused.status_code == 403
    with app_session(app) as session:  # the refusal changed nothing
        assert find_issue(session, get_edition(session, "daily").id, today(app)) is None

    for role in (Role.EDITOR, Role.ADMIN):
        client = signed_in_client(app, role)
        for path in [*pages, progress]:
            assert client.get(path).status_code == 200, (role, path)


def test_the_subject_preview_answers_as_the_editor_types(app: Flask, editor: FlaskClient) -> None:
    answer = editor.get(
        "/desk/subject-preview",
        query_string={"template": "{lead} — and {more} more", "edition": "Daily briefing"},
    )
    assert (answer.status_code, answer.json) == (200, {"subject": "A headline — and 2 more"})
    typo = editor.get("/desk/subject-preview", query_string={"template": "{leed}"})
    assert typo.status_code == 400
    assert typo.json is not None and "{leed} is not a placeholder" in typo.json["error"]
    assert editor.get("/desk/subject-preview").status_code == 400  # nothing typed yet
    anonymous = app.test_client().get(
        "/desk/subject-preview", headers={"Accept": "application/json"}
    )
    assert anonymous.status_code == 401
    html = editor.get("/desk/editions/new").get_data(as_text=True)
    assert 'data-subject-preview="subject-preview"' in html and "<code>{lead}</code>" in html


def test_posts_need_the_csrf_token(app: Flask, editor: FlaskClient) -> None:
    newsroom(app)
    day = today(app).isoformat()
    answer = editor.post(f"/desk/editions/daily/issues/{day}/pause", data={})
    assert answer.status_code == 400
    with app_session(app) as session:
        assert find_issue(session, get_edition(session, "daily").id, today(app)) is None


# --- the overview ----------------------------------------------------------------------------


def test_overview_lists_editions_issues_and_latest_articles(
    app: Flask, editor: FlaskClient
) -> None:
    newsroom(app)
    html = editor.get("/desk").get_data(as_text=True)
    assert "Daily briefing" in html and "Weekly round-up" in html
    assert f"/desk/editions/daily/issues/{today(app).isoformat()}" in html
    assert "not started" in html
    assert "Story heatwave" in html and "Send as breaking alert" in html
    assert "No breaking alert has been sent yet" in html


# --- editions --------------------------------------------------------------------------------

EDITION = {
    "slug": "climate-watch",
    "name": "Climate watch",
    "cadence": "weekly",
    "weekday": "4",
    "send_hour": "8",
    "subject_template": "{{ edition }}: {{ lead }}",
    "intro": "The week in climate.",
    "max_articles": "10",
    "summary_chars": "180",
    "images": "lead_and_thumbnails",
    "topics": ["climate"],
    "active": "1",
    "click_tracking": "1",
}


def test_create_and_edit_an_edition(app: Flask, editor: FlaskClient) -> None:
    newsroom(app)
    created = post(editor, "/desk/editions/new", **EDITION)
    assert created.headers["Location"] == "/desk/editions/climate-watch"
    assert "Edition “Climate watch” created." in follow(editor, created)
    with app_session(app) as session:
        edition = get_edition(session, "climate-watch")
        assert (edition.cadence.value, edition.weekday, edition.send_hour) == ("weekly", 4, 8)
        assert [t.slug for t in edition.topics] == ["climate"]
        assert edition.click_tracking and not edition.open_tracking and edition.active
        assert edition.max_articles == 10 and edition.intro == "The week in climate."
        assert edition.summary_chars == 180
        assert edition.images is EditionImages.LEAD_AND_THUMBNAILS

    changed = {**EDITION, "name": "Climate weekly", "send_hour": "", "topics": []}
    del changed["active"]
    saved = post(editor, "/desk/editions/climate-watch", **changed)
    assert "Edition saved." in follow(editor, saved)
    with app_session(app) as session:
        edition = get_edition(session, "climate-watch")
        assert edition.name == "Climate weekly"
        assert edition.send_hour is None and edition.topics == [] and not edition.active
    assert audit_actions(app)[-2:] == ["edition.create", "edition.update"]


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"slug": "Bad Slug!"}, "slug", "lowercase letters"),
        ({"slug": "daily"}, "slug", "exists already"),
        ({"name": "  "}, "name", "1 to 200 characters"),
        ({"send_hour": "24"}, "send_hour", "from 0 to 23"),
        ({"send_hour": "seven"}, "send_hour", "from 0 to 23"),
        ({"weekday": "9"}, "weekday", "Monday to Sunday"),
        ({"cadence": "daily"}, "weekday", "every day"),
        ({"cadence": "hourly"}, "cadence", "daily or weekly"),
        ({"max_articles": "0"}, "max_articles", "from 1 to 100"),
        ({"max_articles": "-3"}, "max_articles", "whole number"),
        ({"summary_chars": "2001"}, "summary_chars", "0 (headlines only) to 2,000"),
        ({"summary_chars": "short"}, "summary_chars", "whole number"),
        ({"subject_template": "{{ lead"}, "subject_template", "cannot be used"),
        ({"subject_template": "{{ nope }}"}, "subject_template", "cannot be used"),
        ({"topics": ["no-such-topic"]}, "topics", "no such topic"),
        ({"intro": "x" * 2001}, "intro", "2,000"),
        ({"images": "all"}, "images", "which images"),
    ],
)
def test_edition_errors_are_shown_by_their_field_with_the_input_kept(
    app: Flask, editor: FlaskClient, change: dict[str, str], field: str, message: str
) -> None:
    newsroom(app)
    answer = post(editor, "/desk/editions/new", **{**EDITION, "name": "Kept name", **change})
    html = answer.get_data(as_text=True)
    assert answer.status_code == 400
    assert f'id="{field}-error"' in html and message.lower() in html.lower()
    if field != "name":
        assert 'value="Kept name"' in html
    with app_session(app) as session:
        assert session.scalar(select(Edition.id).where(Edition.slug == "climate-watch")) is None


def test_an_invalid_change_to_an_edition_keeps_the_old_settings(
    app: Flask, editor: FlaskClient
) -> None:
    newsroom(app)
    answer = post(editor, "/desk/editions/daily", name="Daily", cadence="daily", send_hour="99")
    assert answer.status_code == 400
    assert 'value="Daily"' in answer.get_data(as_text=True)
    with app_session(app) as session:
        edition = get_edition(session, "daily")
        assert edition.name == "Daily briefing" and edition.send_hour is None


# --- the issue page --------------------------------------------------------------------------


def test_opening_an_issue_stores_nothing_and_curating_it_does(
    app: Flask, editor: FlaskClient
) -> None:
    ids = newsroom(app)
    day = today(app)
    base = f"/desk/editions/daily/issues/{day.isoformat()}"
    html = editor.get(base).get_data(as_text=True)
    assert html.index("Story heatwave") < html.index("Story merger")  # newest first
    with app_session(app) as session:
        assert find_issue(session, get_edition(session, "daily").id, day) is None

    for action, article in [("pin", "merger"), ("pin", "markets"), ("up", "markets"),
                            ("drop", "glaciers")]:  # fmt: skip
        answer = post(editor, f"{base}/curate", action=action, article_id=str(ids[article]))
        assert answer.status_code == 303
        assert answer.headers["Location"].startswith(base)
    html = follow(editor, answer)
    assert "Dropped: no reader gets it in this issue." in html
    assert html.index("Story markets") < html.index("Story merger") < html.index("Story heatwave")
    assert "<s>Story glaciers</s>" in html
    assert "Pinned 1" in html and "Pinned 2" in html
    with app_session(app) as session:
        issue = find_issue(session, get_edition(session, "daily").id, day)
        assert issue is not None
        assert issue.pinned_ids == [ids["markets"], ids["merger"]]
        assert issue.dropped_ids == [ids["glaciers"]]
    post(editor, f"{base}/curate", action="restore", article_id=str(ids["glaciers"]))
    post(editor, f"{base}/curate", action="unpin", article_id=str(ids["merger"]))
    with app_session(app) as session:
        issue = find_issue(session, get_edition(session, "daily").id, day)
        assert issue is not None
        assert issue.pinned_ids == [ids["markets"]] and issue.dropped_ids == []
    assert audit_actions(app)[-6:] == ["issue.pin", "issue.pin", "issue.up", "issue.drop",
                                       "issue.restore", "issue.unpin"]  # fmt: skip


def test_subject_and_intro_overrides(app: Flask, editor: FlaskClient) -> None:
    newsroom(app)
    base = f"/desk/editions/daily/issues/{today(app).isoformat()}"
    bad = post(editor, f"{base}/texts", subject="{{ broken", intro="")
    assert "Not saved: cannot be used" in follow(editor, bad)
    saved = post(editor, f"{base}/texts", subject="Big day: {{ lead }}", intro="Hello readers")
    html = follow(editor, saved)
    assert "Subject and intro saved." in html and "Hello readers" in html
    preview = editor.get(f"{base}?preview=1&mode=reader&email=cat@example.com")
    assert "Big day: Story heatwave" in preview.get_data(as_text=True)


def test_the_preview_shows_images_as_the_edition_says(app: Flask, editor: FlaskClient) -> None:
    ids = newsroom(app)
    with app_session(app) as session:
        heatwave = session.get(Article, ids["heatwave"])
        assert heatwave is not None
        heatwave.image_url = "https://img.example.com/heatwave.jpg"
        session.commit()
    frame = f"/desk/editions/daily/issues/{today(app).isoformat()}/preview.html"
    query = "?mode=reader&email=cat@example.com"
    shown = editor.get(frame + query)
    assert '<img src="https://img.example.com/heatwave.jpg" width="552"' in shown.get_data(
        as_text=True
    )
    assert "img-src https:" in shown.headers["Content-Security-Policy"]
    post(editor, "/desk/editions/daily", name="Daily briefing", cadence="daily", active="1",
         subject_template="{{ lead }}", max_articles="25", summary_chars="300",
         images="none")  # fmt: skip
    assert "img.example.com" not in editor.get(frame + query).get_data(as_text=True)


def test_a_weekly_issue_has_one_date_a_week(app: Flask, editor: FlaskClient) -> None:
    newsroom(app)
    answer = editor.get("/desk/editions/weekly/issues/2026-12-10")  # a Thursday
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/desk/editions/weekly/issues/2026-12-07"
    refused = post(editor, "/desk/editions/weekly/issues/2026-12-10/pause")
    assert refused.status_code == 404


# --- hostile input ---------------------------------------------------------------------------

HOSTILE_GETS = [
    "/desk/editions/nope",
    "/desk/editions/nope/issues/2026-01-01",
    "/desk/editions/daily/issues/2026-02-30",
    "/desk/editions/daily/issues/yesterday",
    "/desk/editions/daily/issues/99999-01-01",
    "/desk/editions/daily/issues/2026-01-01/progress.json",
    "/desk/editions/%00%ff/issues/0000-00-00",
    "/desk/editions/daily/issues/0001-01-01",
    "/desk/editions/daily/issues/9999-12-31",
    "/desk/alerts/new/999999",
    "/desk/alerts/new/abc",
    "/desk/alerts/new/99999999999999999999999",
    "/desk/editions/daily/issues/2026-01-01?preview=1&mode=reader&email=nobody@example.com",
    "/desk/editions/daily/issues/2026-01-01?preview=1&mode=reader&email=%00%0d%0a@@",
    "/desk/editions/daily/issues/2026-01-01?preview=1&mode=reader&email=",
    "/desk/editions/daily/issues/2026-01-01?preview=1&mode=topics&topics=nope&timezone=Mars/Base",
    "/desk/editions/daily/issues/2026-01-01/preview.html?mode=topics&timezone=../../etc",
    "/desk/editions/daily/issues/2026-01-01/preview.html?mode=reader&email=x",
    "/desk/editions/daily/issues/2026-01-01?preview=1&mode=topics&topics=%00",
    "/desk/editions/daily/issues/2026-01-01?preview=1&mode=topics&topics=Climate%20%C3%A9",
]


@pytest.mark.parametrize("edition", ["daily", "weekly"])
@pytest.mark.parametrize("day", ["9999-12-31", "9999-12-27", "0001-01-01", "0001-01-07"])
def test_dates_at_the_ends_of_the_calendar_are_404(
    app: Flask, editor: FlaskClient, edition: str, day: str
) -> None:
    """Once a 500: a weekly issue's date past 9999-12-26 overflowed finding its week."""
    newsroom(app)
    base = f"/desk/editions/{edition}/issues/{day}"
    for path in (base, f"{base}/progress.json", f"{base}/preview.html"):
        assert editor.get(path).status_code == 404, path
    for action in ("send", "pause", "lock", "texts"):
        assert post(editor, f"{base}/{action}").status_code == 404, action


def test_hostile_input_never_gets_a_server_error(app: Flask, editor: FlaskClient) -> None:
    newsroom(app)
    for path in HOSTILE_GETS:
        answer = editor.get(path)
        assert answer.status_code < 500, (path, answer.status_code)
    assert editor.get("/desk/editions/nope").status_code == 404
    assert editor.get("/desk/editions/daily/issues/2026-02-30").status_code == 404
    assert editor.get("/desk/alerts/new/999999").status_code == 404

    base = f"/desk/editions/daily/issues/{today(app).isoformat()}"
    posts = [
        (f"{base}/curate", {"action": "pin", "article_id": "999999"}, 400),
        (f"{base}/curate", {"action": "pin", "article_id": "-1"}, 400),
        (f"{base}/curate", {"action": "pin", "article_id": "1" * 40}, 400),
        (f"{base}/curate", {"action": "explode", "article_id": "1"}, 400),
        (f"{base}/curate", {"action": "up", "article_id": "1"}, 303),  # not pinned: a notice
        (f"{base}/texts", {"subject": "{% for x in range(10**9) %}x{% endfor %}"}, 303),
        (f"{base}/texts", {"subject": "{{ ''.__class__.__mro__ }}"}, 303),
        (f"{base}/texts", {"intro": "y" * 5000}, 303),
        (f"{base}/explode", {}, 404),
        (f"{base}/test-send", {"mode": "reader", "email": "nobody@example.com"}, 303),
        (f"{base}/test-send", {"mode": "topics", "timezone": "Nowhere"}, 303),
        ("/desk/editions/nope/issues/2026-01-01/send", {}, 404),
        ("/desk/editions/daily/issues/2026-13-01/send", {}, 404),
        ("/desk/editions/nope", {"name": "x"}, 404),
        ("/desk/editions/new", {"slug": "x" * 500, "name": "y" * 500, "cadence": "z"}, 400),
        ("/desk/editions/new", {"slug": "ok", "name": "ok", "max_articles": "9" * 50}, 400),
        ("/desk/alerts", {"article_id": "abc", "confirm": "yes"}, 400),
        ("/desk/editions/new", {**EDITION, "name": "nul\x00"}, 400),
        ("/desk/editions/new", {**EDITION, "topics": ["\x00"]}, 400),
        (f"{base}/texts", {"intro": "nul\x00"}, 400),
        ("/desk/alerts", {"article_id": "999999", "confirm": "yes"}, 303),
    ]
    for path, form, status in posts:
        answer = post(editor, path, **form)
        assert answer.status_code == status, (path, form, answer.status_code)


def test_the_desk_with_a_slash_is_the_overview(editor: FlaskClient) -> None:
    answer = editor.get("/desk/")
    assert answer.status_code == 308
    assert answer.headers["Location"] == "/desk"
    assert editor.get("/desk/", follow_redirects=True).status_code == 200


def test_overview_lists_the_most_followed_keywords(app: Flask, editor: FlaskClient) -> None:
    with app_session(app) as session:
        for name in ("ann", "bob", "cat"):
            follower = reader(session, f"{name}@example.com")
            set_keywords(session, follower, parse_keywords(["Central Bank", "reservoir"]))
        loner = reader(session, "dan@example.com")
        set_keywords(session, loner, parse_keywords(["Dan Okafor"]))
        later = reader(session, "eve@example.com")
        set_keywords(session, later, parse_keywords(["Reservoir"]))
        story = ArticleInput(url="https://news.example.com/r", title="Reservoir levels fall")
        upsert_articles(session, [story], source=None, now=utcnow())
        session.commit()
    html = editor.get("/desk").get_data(as_text=True)
    assert "What readers follow" in html
    assert "<tr><td>reservoir</td><td>4</td><td>1</td></tr>" in html
    assert "<tr><td>central bank</td><td>3</td><td>0</td></tr>" in html
    assert "dan okafor" not in html  # one follower: not shown
