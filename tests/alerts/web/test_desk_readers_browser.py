"""The readers and topics pages in a real headless Chromium, at desktop and phone width: an
admin finds a reader by topic, opens their page, lifts a suppression, unsubscribes a
reader, imports a file after its preview, and makes a topic public; no page scrolls
sideways at 390 px."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from alerts.config import Settings
from alerts.models import Role
from subscribers.services import suppress
from tests.alerts.web.app_support import SECRET, app_session
from tests.alerts.web.browser import DESKTOP, PHONE, low_contrast
from tests.support.builders import reader
from tests.support.staff import PASSWORD, make_staff

ADMIN = "admin@newsroom.example.com"


@pytest.fixture
def web_settings(live_settings: Settings) -> Settings:
    return live_settings


def fits(page: Page, name: str) -> None:
    """At phone width the page has no horizontal scroll; at both widths, readable contrast."""
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= size["width"], f"{name} is {width} px wide at {size['width']} px"
        assert low_contrast(page) == [], name


def test_an_admin_manages_readers_and_topics_in_the_browser(
    app: Flask, live_server: str, page: Page
) -> None:
    with app_session(app) as session:
        reader(session, "ada.lovelace.with.a.very.long.address@example.com", topics=("Climate",))
        bo = reader(session, "bo@example.com", topics=("Business", "Climate"))
        reader(session, "cy@example.com", topics=("Business",))
        bo.status = bo.status.BOUNCED
        suppress(session, "bo@example.com", reason="hard_bounce", hash_key=SECRET)
        session.commit()
    make_staff(app, ADMIN, Role.ADMIN)

    page.goto(f"{live_server}/desk")
    page.get_by_label("Email").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Readers", exact=True).click()
    expect(page.get_by_role("heading", name="Readers")).to_be_visible()
    fits(page, "the reader list")

    page.get_by_label("Topic").select_option("climate")
    page.get_by_role("button", name="Show readers").click()
    expect(page.get_by_role("link", name="cy@example.com")).to_have_count(0)
    expect(page.get_by_role("link", name="bo@example.com")).to_be_visible()
    page.get_by_role("link", name="bo@example.com").click()
    expect(page.get_by_text("on the suppression list")).to_be_visible()
    fits(page, "a reader's page")

    page.get_by_label("Reason for lifting the suppression").fill("asked by letter, ticket 31")
    page.get_by_role("button", name="Lift the suppression").click()
    expect(page.get_by_text("Suppression lifted")).to_be_visible()
    expect(page.get_by_text("on the suppression list")).to_have_count(0)

    page.get_by_role("link", name="Readers", exact=True).click()
    page.get_by_label("Address starts with").fill("ada")
    page.get_by_role("button", name="Show readers").click()
    page.get_by_role("link", name="ada.lovelace.with.a.very.long.address@example.com").click()
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_text("Unsubscribed: nothing more is sent to this reader.")).to_be_visible()

    page.get_by_role("link", name="Readers", exact=True).click()
    page.get_by_role("link", name="Import readers from CSV").click()
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "readers.csv", "mimeType": "text/csv",
                "buffer": b"email,topics\ndee@example.com,Climate\nnot-an-address,\n"}]
    )  # fmt: skip
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_text("1 row can be imported; 1 will be refused.")).to_be_visible()
    fits(page, "the import preview")
    page.get_by_label("These readers already agreed elsewhere").check()
    page.get_by_role("button", name="Import 1 reader").click()
    expect(page.get_by_text("Imported 1 readers (active from tomorrow)")).to_be_visible()

    page.get_by_role("link", name="Topics", exact=True).click()
    expect(page.get_by_role("heading", name="Topics")).to_be_visible()
    fits(page, "the topics page")
    page.get_by_role("button", name=re.compile(r"^Make public\W+Climate$")).click()
    expect(page.get_by_text("“Climate” is offered on the sign-up form.")).to_be_visible()
    page.goto(f"{live_server}/subscribe")
    expect(page.get_by_label("Climate")).to_be_visible()
    expect(page.get_by_label("Business")).to_have_count(0)
