"""The digest in a real headless Chromium emulating a light and a dark system: every piece of
text meets WCAG AA on the background behind it, in both schemes and with a light brand
colour, and the dark scheme really is dark (the email asks for it; Apple Mail honours it).

Screenshots go to the test's temporary folder (NEWSALERTS_SCREENSHOTS to keep them)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from sqlalchemy.orm import Session

from alerts.config import Settings
from alerts.mail.branding import DARK_INK, parse_hex_colour, relative_luminance
from tests.alerts.web.browser import (
    CHROMIUM,
    DESKTOP,
    PHONE,
    launch_chromium,
    low_contrast,
    screenshot_folder,
)
from tests.support.rendered import digest_html

Scheme = Literal["light", "dark"]
BRANDS = {
    "default": {},
    # Too light for white text: the masthead's text must turn dark.
    "yellow": {"brand_color": "#f5d90a", "site_logo_url": "https://news.example.com/logo.png"},
}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium", pytrace=False)
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@contextmanager
def _open(browser: Browser, html: str, scheme: Scheme) -> Iterator[Page]:
    context = browser.new_context(viewport=DESKTOP, color_scheme=scheme)
    context.set_default_timeout(15_000)
    page = context.new_page()
    # Nothing leaves the machine: the logo and the open pixel are refused, as a client
    # that blocks remote images would.
    page.route("**/*", lambda route: route.abort())
    page.set_content(html, wait_until="domcontentloaded")
    yield page
    context.close()


def _colour(page: Page, selector: str, prop: str) -> tuple[float, float, float]:
    value = page.eval_on_selector(selector, f"e => getComputedStyle(e).{prop}")
    red, green, blue = (float(part) for part in re.findall(r"[\d.]+", value)[:3])
    return red, green, blue


@pytest.mark.parametrize("brand", sorted(BRANDS))
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_text_meets_aa_in_light_and_dark(
    session: Session,
    settings: Settings,
    browser: Browser,
    tmp_path: Path,
    scheme: Scheme,
    brand: str,
) -> None:
    html = digest_html(session, settings.model_copy(update=BRANDS[brand]))
    with _open(browser, html, scheme) as page:
        for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            folder = screenshot_folder(tmp_path)
            page.screenshot(
                path=str(folder / f"digest-{brand}-{scheme}-{label}.png"), full_page=True
            )
            assert low_contrast(page) == [], f"{brand} brand, {scheme} scheme, {label}"

        container = relative_luminance(_colour(page, ".container", "backgroundColor"))
        headline = relative_luminance(_colour(page, ".headline a", "color"))
        if scheme == "dark":
            # Dark for real: a dark container under light headlines, not light left as is.
            assert container < 0.05 and headline > 0.3
        else:
            assert container > 0.9 and headline < 0.05

        masthead = _colour(page, ".masthead", "backgroundColor")
        expected = parse_hex_colour(BRANDS[brand].get("brand_color", "#14213d"))
        assert masthead == tuple(float(channel) for channel in expected)
        if brand == "yellow":
            ink = tuple(float(channel) for channel in parse_hex_colour(DARK_INK))
            assert _colour(page, ".dateline", "color") == ink
            alt = page.get_attribute(".masthead img", "alt")
            assert alt == settings.site_name
