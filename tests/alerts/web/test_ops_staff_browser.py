"""The staff page in a real headless Chromium: an admin reaches it from the console's
navigation, adds an editor, makes them an operator, makes a one-time reset link; the
colleague opens it in their own browser, sets a password and signs in with it; they change
it again on their own password page; the admin deactivates them."""

from __future__ import annotations

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from alerts.config import Settings
from alerts.models import Role
from tests.alerts.web.browser import DESKTOP, PHONE, low_contrast
from tests.support.staff import PASSWORD, make_staff

ADMIN = "admin@newsroom.example.com"
COLLEAGUE = "night.editor@newsroom.example.com"
FIRST, CHOSEN, LATER = "a first passphrase", "my own passphrase here", "and a later passphrase"


@pytest.fixture
def web_settings(live_settings: Settings) -> Settings:
    return live_settings


def sign_in(page: Page, live_server: str, email: str, password: str) -> None:
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_an_admin_manages_staff_in_the_browser(
    app: Flask, live_server: str, page: Page, browser: Browser
) -> None:
    make_staff(app, ADMIN, Role.ADMIN)
    sign_in(page, live_server, ADMIN, PASSWORD)
    page.get_by_role("link", name="Operations", exact=True).click()
    page.get_by_role("link", name="Staff", exact=True).click()
    expect(page.get_by_role("heading", name="Staff", exact=True)).to_be_visible()
    assert low_contrast(page) == []

    page.get_by_label("Email").fill(COLLEAGUE)
    page.get_by_label("Role", exact=True).select_option("editor")
    page.get_by_label("First password").fill(FIRST)
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text("Added: they can sign in now.")).to_be_visible()
    expect(page.get_by_role("cell", name=COLLEAGUE, exact=True)).to_be_visible()

    page.get_by_label(f"Role of {COLLEAGUE}").select_option("operator")
    page.get_by_role("button", name=f"Change role of {COLLEAGUE}").click()
    expect(page.get_by_text("Role changed")).to_be_visible()
    page.get_by_role("button", name=f"Reset link for {COLLEAGUE}").click()
    expect(page.get_by_text("shown only this once")).to_be_visible()
    link = page.locator(".reset-link").inner_text().strip()
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size(DESKTOP)

    colleague = browser.new_context(viewport=PHONE, locale="en-GB").new_page()
    try:
        colleague.goto(link)
        expect(colleague.get_by_text(f"A new password for {COLLEAGUE}")).to_be_visible()
        colleague.get_by_label("New password").fill(CHOSEN)
        colleague.get_by_role("button", name="Set password").click()
        expect(colleague.get_by_text("Password set.")).to_be_visible()
        colleague.goto(link)
        expect(colleague.get_by_text("used or replaced")).to_be_visible()
        sign_in(colleague, live_server, COLLEAGUE, CHOSEN)
        expect(colleague.get_by_role("link", name="Operations", exact=True)).to_be_visible()
        colleague.get_by_role("link", name="Password", exact=True).click()
        colleague.get_by_label("Current password").fill(CHOSEN)
        colleague.get_by_label("New password").fill(LATER)
        colleague.get_by_role("button", name="Change password").click()
        expect(colleague.get_by_text("Password changed.")).to_be_visible()
        assert colleague.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    finally:
        colleague.context.close()

    page.get_by_role("button", name=f"Deactivate {COLLEAGUE}").click()
    expect(page.get_by_text("Deactivated: they cannot sign in")).to_be_visible()
    page.get_by_role("link", name="Audit log", exact=True).click()
    for action in ("user.added", "user.role_changed", "user.password_reset_issued",
                   "user.password_reset", "user.password_changed", "user.deactivated"):  # fmt: skip
        expect(page.get_by_text(action, exact=True).first).to_be_visible()
