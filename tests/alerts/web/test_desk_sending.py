"""What the desk does to real sends, through the Flask test client on both backends, with
a real SMTP server: curation reaches previews and the ledger, test sends, send now, pause,
resume, cancel, progress, and breaking alerts. Without Redis the web app sends in a
background thread, so these wait for the ledger to settle."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from alerts.editions.schedules import EditionInput, create_edition
from alerts.models import Delivery, DeliveryStatus, Edition, IssueStatus
from subscribers.database import utcnow
from tests.alerts.web.app_support import EDITOR, app_session
from tests.alerts.web.browser import message_texts
from tests.alerts.web.desk_support import (
    audit_actions,
    follow,
    newsroom,
    post,
    rows,
    settle,
    titles_in,
    today,
)
from tests.support.builders import articles
from tests.support.smtp_server import RecordingSMTPServer


def _base(app: Flask) -> str:
    return f"/desk/editions/daily/issues/{today(app).isoformat()}"


def _curate(app: Flask, editor: FlaskClient, ids: dict[str, int]) -> None:
    """Pin the oldest business story, then a climate one above it; drop the newest."""
    base = _base(app)
    for action, slug in [("pin", "merger"), ("pin", "glaciers"), ("up", "glaciers"),
                         ("drop", "heatwave")]:  # fmt: skip
        assert (
            post(editor, f"{base}/curate", action=action, article_id=str(ids[slug])).status_code
            == 303
        )


def test_curation_reaches_the_preview_and_the_real_send(
    app: Flask, editor: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    ids = newsroom(app)
    _curate(app, editor, ids)
    base = _base(app)

    # ann follows climate: the pinned ones (whatever their topic) lead, in the editor's order,
    # then her own topic's stories; the dropped one is nowhere.
    page = editor.get(f"{base}?preview=1&mode=reader&email=ann@example.com").get_data(as_text=True)
    preview = page[page.index('id="preview"') :]
    assert titles_in(preview[preview.index("<pre") :])[:2] == ["Story glaciers", "Story merger"]
    assert "Story heatwave" not in preview
    frame = editor.get(f"{base}/preview.html?mode=reader&email=ann@example.com")
    assert frame.status_code == 200
    assert "sandbox" in frame.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self'" in frame.headers["Content-Security-Policy"]
    assert titles_in(frame.get_data(as_text=True))[:2] == ["Story glaciers", "Story merger"]

    sent = post(editor, f"{base}/send", confirm="yes")
    assert "Sending now: 3 new" in follow(editor, sent)
    ledger = settle(app)
    assert {email: row.status for email, row in ledger.items()} == {
        "ann@example.com": DeliveryStatus.SENT,
        "bob@example.com": DeliveryStatus.SENT,
        "cat@example.com": DeliveryStatus.SENT,
    }
    pinned = [ids["glaciers"], ids["merger"]]
    assert ledger["ann@example.com"].article_ids == pinned  # glaciers is hers anyway
    assert ledger["bob@example.com"].article_ids == [*pinned, ids["markets"]]
    assert ledger["cat@example.com"].article_ids == [*pinned, ids["markets"]]
    messages = smtp_server.wait_for(3)
    by_reader = {m.recipients[0]: message_texts(m.message) for m in messages}
    assert set(by_reader) == {"ann@example.com", "bob@example.com", "cat@example.com"}
    for text in by_reader.values():
        assert "Story heatwave" not in text
    assert "issue.send_now" in audit_actions(app)

    again = post(editor, f"{base}/send", confirm="yes")  # nobody gets it twice
    assert "Nothing new to send" in follow(editor, again)
    assert len(smtp_server.messages) == 3

    progress = editor.get(f"{base}/progress.json").get_json()
    assert progress["sent"] == 3 and progress["pending"] == 0 and progress["total"] == 3
    assert progress["per_minute"] == 3 and progress["minutes_left"] == 0
    assert progress["status"] == "open"


def test_a_switched_off_edition_is_not_sent_from_the_desk(
    app: Flask, editor: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    newsroom(app)
    with app_session(app) as session:
        session.execute(update(Edition).where(Edition.slug == "daily").values(active=False))
        session.commit()
    sent = post(editor, f"{_base(app)}/send", confirm="yes")
    assert "Not sent: the Daily briefing is switched off" in follow(editor, sent)
    assert rows(app) == {}
    assert "issue.send_now" not in audit_actions(app)
    assert smtp_server.messages == []


def test_minutes_left_are_shown_only_while_messages_wait(
    app: Flask, editor: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    newsroom(app)
    base = _base(app)

    def minutes_left() -> str:
        found = re.search(
            r'data-field="minutes_left">([^<]*)<', editor.get(base).get_data(as_text=True)
        )
        assert found, "no minutes left in the panel"
        return found.group(1)

    assert minutes_left() == "—"  # not started: no "0.0", which reads as a send ending
    page = editor.get(base).get_data(as_text=True)
    # Before anything is queued these still hold the issue or call it off.
    assert ">Pause</button>" in page and ">Cancel issue</button>" in page
    follow(editor, post(editor, f"{base}/send", confirm="yes"))
    ledger = settle(app)
    smtp_server.wait_for(3)
    assert minutes_left() == "—"  # all sent
    with app_session(app) as session:  # one message waits again; two went out this minute
        session.execute(
            update(Delivery)
            .where(Delivery.id == ledger["ann@example.com"].id)
            .values(status=DeliveryStatus.PENDING, sent_at=None)
        )
        session.commit()
    assert minutes_left() == "0.5"
    # Paused, nothing more goes out: no countdown, however fast it went a minute ago.
    follow(editor, post(editor, f"{base}/pause"))
    assert minutes_left() == "—"
    assert editor.get(f"{base}/progress.json").get_json()["minutes_left"] is None
    follow(editor, post(editor, f"{base}/cancel"))
    assert minutes_left() == "—"


def test_a_locked_issue_takes_nothing_new(
    app: Flask, editor: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    ids = newsroom(app)
    base = _base(app)
    assert "Locked" in follow(editor, post(editor, f"{base}/lock"))
    with app_session(app) as session:
        articles(session, utcnow(), ("latecomer", ("climate",), timedelta(minutes=1)))
        session.commit()
    page = editor.get(base).get_data(as_text=True)
    assert "After lock" in page
    preview = editor.get(f"{base}?preview=1&mode=reader&email=ann@example.com")
    assert "Story latecomer" not in preview.get_data(as_text=True).split('id="preview"')[1]
    follow(editor, post(editor, f"{base}/send", confirm="yes"))
    ledger = settle(app)
    assert ledger["ann@example.com"].article_ids == [ids["heatwave"], ids["glaciers"]]
    smtp_server.wait_for(3)
    assert all("Story latecomer" not in message_texts(m.message) for m in smtp_server.messages)

    unlocked = follow(editor, post(editor, f"{base}/lock", unlock="1"))
    assert "Unlocked" in unlocked
    assert audit_actions(app)[-1] == "issue.unlock"


def test_test_send_goes_to_the_editor_only(
    app: Flask, editor: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    ids = newsroom(app)
    _curate(app, editor, ids)
    base = _base(app)
    answer = post(editor, f"{base}/test-send", mode="topics", topics=["business"],
                  timezone="Europe/Paris")  # fmt: skip
    assert f"Test sent to {EDITOR}." in follow(editor, answer)
    [received] = smtp_server.wait_for(1)
    assert received.recipients == [EDITOR]
    message = received.message
    assert message["Subject"].startswith("[TEST] ")
    assert message["X-Newsalerts-Test"] == "yes"
    assert message["List-Unsubscribe"] is None
    plain = message.get_body(("plain",))
    assert plain is not None
    assert titles_in(plain.get_content())[:3] == ["Story glaciers", "Story merger", "Story markets"]
    assert rows(app) == {}  # no ledger row
    assert audit_actions(app)[-1] == "issue.test_send"

    # As a real reader: their own unsubscribe link never reaches the editor's copy.
    post(editor, f"{base}/test-send", mode="reader", email="bob@example.com")
    bob_copy = message_texts(smtp_server.wait_for(2)[1].message)
    assert "/unsubscribe/test-copy" in bob_copy
    assert "Story markets" in bob_copy


def test_test_send_problems_are_told_plainly(
    app: Flask, editor: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    newsroom(app)
    base = _base(app)
    unknown = post(editor, f"{base}/test-send", mode="reader", email="nobody@example.com")
    assert "No preview: no reader nobody@example.com." in follow(editor, unknown)
    empty = post(editor, f"{base}/test-send", mode="topics", topics=["sport"])
    assert "No preview: no such topic: sport." in follow(editor, empty)

    smtp_server.refuse(EDITOR, "550 5.1.1 mailbox unavailable")
    refused = post(editor, f"{base}/test-send", mode="reader", email="cat@example.com")
    assert refused.status_code == 303
    assert "The test could not be sent: the mail server said 550" in follow(editor, refused)
    assert smtp_server.messages == []


def test_pause_resume_and_cancel_from_the_desk(
    app: Flask, editor: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    newsroom(app)
    base = _base(app)
    assert "Paused" in follow(editor, post(editor, f"{base}/pause"))
    assert editor.get(f"{base}/progress.json").get_json()["status"] == "paused"
    page = editor.get(base).get_data(as_text=True)
    assert ">Resume</button>" in page and ">Pause</button>" not in page
    assert "Resumed" in follow(editor, post(editor, f"{base}/resume"))

    unconfirmed = follow(editor, post(editor, f"{base}/cancel"))
    assert "Tick “Yes, cancel this issue” to cancel it." in unconfirmed
    assert editor.get(f"{base}/progress.json").get_json()["status"] == "open"
    assert "Cancelled" in follow(editor, post(editor, f"{base}/cancel", confirm="yes"))
    assert editor.get(f"{base}/progress.json").get_json()["status"] == IssueStatus.CANCELLED
    refused = follow(editor, post(editor, f"{base}/send", confirm="yes"))
    assert "Not sent: this issue was cancelled" in refused
    assert "can no longer change" in refused
    assert rows(app) == {} and smtp_server.messages == []
    # The refused send left no trace but the notice; the three changes are on record.
    assert audit_actions(app)[-3:] == ["issue.pause", "issue.resume", "issue.cancel"]


def test_a_paused_issue_sends_nothing_until_resumed(
    app: Flask, editor: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    """Send now on a paused issue resumes it (the editor asked for it to go)."""
    newsroom(app)
    base = _base(app)
    follow(editor, post(editor, f"{base}/pause"))
    follow(editor, post(editor, f"{base}/send", confirm="yes"))
    settle(app)
    assert len(smtp_server.wait_for(3)) == 3
    assert editor.get(f"{base}/progress.json").get_json()["status"] == "open"


def test_breaking_alert_from_the_desk(
    app: Flask, editor: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    ids = newsroom(app)
    with app_session(app) as session:
        from sqlalchemy import update

        from subscribers.models import Subscriber

        session.execute(update(Subscriber).values(breaking_alerts=True))
        session.commit()
    confirm = editor.get(f"/desk/alerts/new/{ids['heatwave']}")
    assert "Send a breaking alert?" in confirm.get_data(as_text=True)
    assert "It goes to 2 readers now." in confirm.get_data(as_text=True)  # ann and cat
    unticked = post(editor, "/desk/alerts", article_id=str(ids["heatwave"]))
    assert "Tick the box" in follow(editor, unticked)
    sent = post(editor, "/desk/alerts", article_id=str(ids["heatwave"]), confirm="yes")
    assert "Breaking alert on its way to 2 readers." in follow(editor, sent)  # ann and cat
    ledger = settle(app)
    assert set(ledger) == {"ann@example.com", "cat@example.com"}
    assert {m.recipients[0] for m in smtp_server.wait_for(2)} == set(ledger)
    overview = editor.get("/desk").get_data(as_text=True)
    assert "2 sent · 0 to send" in overview and "Alert sent" in overview
    twice = post(editor, "/desk/alerts", article_id=str(ids["heatwave"]), confirm="yes")
    assert "No alert sent: this article has been sent as an alert already." in follow(editor, twice)
    assert audit_actions(app).count("alert.create") == 1


def _topic_edition(app: Flask) -> str:
    """A daily edition of the climate topic; its issue page today."""
    with app_session(app) as session:
        create_edition(
            session,
            slug="climate-desk",
            data=EditionInput(name="Climate desk", topic_slugs=["climate"]),
            now=utcnow(),
        )
        session.commit()
    return f"/desk/editions/climate-desk/issues/{today(app).isoformat()}"


def test_a_reader_outside_a_topic_editions_audience_is_previewed_as_getting_nothing(
    app: Flask, editor: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    newsroom(app)
    base = _topic_edition(app)
    page = editor.get(f"{base}?preview=1&mode=reader&email=bob@example.com")
    html = page.get_data(as_text=True)
    assert (
        "bob@example.com would get nothing from Climate desk: "
        "they follow none of its topics (Climate)" in html
    )
    assert "Story markets" not in html[html.index('id="preview"') :]
    frame = editor.get(f"{base}/preview.html?mode=reader&email=bob@example.com")
    assert "Story markets" not in frame.get_data(as_text=True)
    refused = post(editor, f"{base}/test-send", mode="reader", email="bob@example.com")
    assert "bob@example.com would get nothing from Climate desk" in follow(editor, refused)
    assert smtp_server.messages == []
    # ann follows climate: she is previewed as she would get it.
    ann = editor.get(f"{base}?preview=1&mode=reader&email=ann@example.com")
    assert "Story heatwave" in ann.get_data(as_text=True)


def test_previews_and_test_copies_of_a_tracked_edition_link_straight_to_the_stories(
    app: Flask, editor: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    newsroom(app)
    with app_session(app) as session:
        session.execute(update(Edition).where(Edition.slug == "daily").values(click_tracking=True))
        session.commit()
    base = _base(app)
    frame = editor.get(f"{base}/preview.html?mode=reader&email=ann@example.com")
    html = frame.get_data(as_text=True)
    assert "/c/" not in html
    assert 'href="https://news.example.com/story/heatwave"' in html
    post(editor, f"{base}/test-send", mode="reader", email="ann@example.com")
    [received] = smtp_server.wait_for(1)
    text = message_texts(received.message)
    assert "/c/" not in text and "https://news.example.com/story/heatwave" in text
    with app_session(app) as session:  # the edition itself still counts clicks
        assert session.scalars(select(Edition.click_tracking).where(Edition.slug == "daily")).one()


def test_send_now_says_how_many_readers_and_needs_the_box_ticked(
    app: Flask, editor: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    newsroom(app)
    base = _base(app)
    page = editor.get(base).get_data(as_text=True)
    assert "Yes, send it now to 3 readers" in page
    assert 'data-field="audience">3<' in page
    overview = editor.get("/desk").get_data(as_text=True)
    assert "3 readers still to reach" in overview
    unticked = follow(editor, post(editor, f"{base}/send"))
    assert "Not sent: tick the box to confirm who it goes to." in unticked
    assert rows(app) == {} and smtp_server.messages == []
    follow(editor, post(editor, f"{base}/send", confirm="yes"))
    settle(app)
    page = editor.get(base).get_data(as_text=True)
    assert 'data-field="audience">0<' in page
    results = f"/desk/results/daily/{today(app).isoformat()}"
    assert f'href="{results}"' in page
    overview = editor.get("/desk").get_data(as_text=True)
    assert "no reader left to reach" in overview and f'href="{results}"' in overview
    assert editor.get(results).status_code == 200
