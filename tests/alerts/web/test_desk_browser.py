"""An editor's morning in a real headless Chromium: sign in, create a topic edition, curate
its issue, preview it in the sandboxed frame, send a test, send it now, watch the progress
panel count to the end. Pages are photographed at desktop width (set
NEWSALERTS_SCREENSHOTS=docs/screenshots to keep them as desk-*.png)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from alerts.config import Settings
from alerts.models import Role
from tests.alerts.web.app_support import EDITOR, app_session
from tests.alerts.web.browser import low_contrast, message_texts, screenshot_folder
from tests.alerts.web.desk_support import newsroom, settle
from tests.support.builders import reader
from tests.support.smtp_server import RecordingSMTPServer
from tests.support.staff import PASSWORD, make_staff


@pytest.fixture
def web_settings(live_settings: Settings) -> Settings:
    return live_settings


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    return screenshot_folder(tmp_path)


def photograph(page: Page, shots: Path, name: str) -> None:
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / f"desk-{name}.png"), full_page=True)
    assert low_contrast(page) == [], name


def test_an_editor_runs_a_topic_edition_from_the_desk(
    app: Flask, live_server: str, page: Page, shots: Path, smtp_server: RecordingSMTPServer
) -> None:
    newsroom(app)
    with app_session(app) as session:  # two more climate readers: three in all for the edition
        reader(session, "dan@example.com", topics=("climate",))
        reader(session, "eve@example.com", topics=("climate", "business"))
        session.commit()
    make_staff(app, EDITOR, Role.EDITOR)
    errors: list[str] = []
    page.on(
        "console", lambda message: errors.append(message.text) if message.type == "error" else None
    )

    page.goto(f"{live_server}/desk")
    page.get_by_label("Email").fill(EDITOR)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Editors' desk")).to_be_visible()
    photograph(page, shots, "overview")

    page.get_by_role("link", name="New edition").click()
    page.get_by_label("Name", exact=True).fill("Climate watch")
    page.get_by_label("Short name in addresses (slug)").fill("climate-watch")
    # The subject's live preview follows the typing, typos included.
    subject = page.get_by_label("Subject")
    subject.fill("{leed} today")
    expect(page.locator("#subject-preview")).to_contain_text("{leed} is not a placeholder")
    subject.fill("{lead} — and {more} more")
    expect(page.locator("#subject-preview")).to_have_text("Preview: A headline — and 2 more")
    page.get_by_label("Climate").check()
    page.get_by_label("Intro (above the articles, every issue)").fill("The day in climate.")
    page.get_by_role("button", name="Create edition").click()
    expect(page.get_by_text("Edition “Climate watch” created.")).to_be_visible()
    photograph(page, shots, "edition")

    page.get_by_role("link", name="Today's issue").click()
    expect(page.get_by_role("heading", name="Climate watch")).to_be_visible()
    page.get_by_role("button", name="Pin Story glaciers").click()
    expect(page.get_by_text("Pinned: it leads every reader's copy.")).to_be_visible()
    page.get_by_role("button", name="Drop Story heatwave").click()
    expect(page.get_by_text("Dropped: no reader gets it in this issue.")).to_be_visible()
    minutes_left = page.locator('#progress [data-field="minutes_left"]')
    expect(minutes_left).to_have_text("—")  # nothing queued: no estimate

    page.get_by_label("Reader's email address").fill("dan@example.com")
    page.get_by_role("button", name="Show preview").click()
    frame = page.frame_locator("iframe[title='HTML version']")
    expect(frame.get_by_role("link", name="Story glaciers")).to_be_visible()
    expect(frame.get_by_text("Story heatwave")).to_have_count(0)
    expect(page.locator(".subject-line")).to_contain_text("Story glaciers")
    expect(page.get_by_label("Text version")).to_contain_text("/unsubscribe/test-copy")
    photograph(page, shots, "issue-preview")

    page.get_by_role("button", name=f"Send a test to {EDITOR}").click()
    expect(page.get_by_text(f"Test sent to {EDITOR}.")).to_be_visible()
    [test_copy] = smtp_server.wait_for(1)
    assert test_copy.recipients == [EDITOR]
    assert test_copy.message["Subject"].startswith("[TEST] ")
    assert "Story glaciers" in message_texts(test_copy.message)

    page.get_by_role("button", name="Send now").click()  # the box is not ticked: no send
    assert smtp_server.messages[1:] == []
    page.get_by_label("Yes, send it now to 3 readers").check()
    page.get_by_role("button", name="Send now").click()
    expect(page.get_by_text("Sending now: 3 new")).to_be_visible()
    expect(page.locator('#progress [data-field="sent"]')).to_have_text("3", timeout=20_000)
    expect(page.locator('#progress [data-field="to_send"]')).to_have_text("0")
    expect(minutes_left).to_have_text("—")  # as the page's script updates it
    settle(app)
    delivered = smtp_server.wait_for(4)[1:]
    assert sorted(m.recipients[0] for m in delivered) == [
        "ann@example.com", "dan@example.com", "eve@example.com",
    ]  # fmt: skip
    page.evaluate("window.scrollTo(0, 0)")
    photograph(page, shots, "issue-sent")
    assert not [e for e in errors if "Content Security Policy" in e or "Refused" in e], errors
