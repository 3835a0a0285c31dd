"""Images in the digest: the top story's full width, the others' as thumbnails, or none, as
the edition says; each linked to its story, sized from what its source stated, with alt
text that is escaped and reads as a caption when images are blocked.

The browser tests open the real HTML in Chromium at phone width, with the images served
(a PNG made here) and again with every image request refused.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from alerts.config import Settings
from alerts.mail.digest import DigestSpec, render_digest
from alerts.mail.rendering import RenderedEmail, default_renderer
from alerts.models import DEFAULT_SUBJECT, Article, Cadence, Edition, EditionImages
from tests.alerts.web.browser import CHROMIUM, PHONE, launch_chromium

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
HOSTILE_ALT = 'Boats "at" dusk"><script>alert(1)</script> & <b>more</b>'


class _Images(HTMLParser):
    """Each <img> of a document with its attributes and the link around it."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str | None]] = []
        self.scripts = 0
        self._link: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._link = dict(attrs).get("href")
        elif tag == "img" and dict(attrs).get("width") != "1":  # not an open pixel
            self.images.append({**dict(attrs), "link": self._link})
        elif tag == "script":
            self.scripts += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._link = None


def images_in(html: str) -> list[dict[str, str | None]]:
    parser = _Images()
    parser.feed(html)
    assert parser.scripts == 0
    return parser.images


def stories() -> list[Article]:
    """Three stories: one with a described image of a stated size, one with an image of
    unknown size, one without an image."""
    common = {"section": "World", "updated_at": NOW, "summary_html": "<p>What happened.</p>"}
    return [
        Article(
            id=1, url="https://news.example.com/harbour", title="Harbour reopens after storm",
            image_url="https://img.example.com/harbour.png", image_alt=HOSTILE_ALT,
            image_width=1200, image_height=675, published_at=NOW - timedelta(hours=1), **common,
        ),
        Article(
            id=2, url="https://news.example.com/ferry", title="Ferry timetable changes",
            image_url="https://img.example.com/ferry.png", published_at=NOW - timedelta(hours=2),
            **common,
        ),
        Article(
            id=3, url="https://news.example.com/council", title="Council votes on budget",
            published_at=NOW - timedelta(hours=3), **common,
        ),
    ]  # fmt: skip


def render(
    images: EditionImages,
    *,
    language: str = "en",
    articles: list[Article] | None = None,
    alerts: dict[int, list[str]] | None = None,
) -> RenderedEmail:
    edition = Edition(
        slug="daily", name="Daily briefing", cadence=Cadence.DAILY,
        subject_template=DEFAULT_SUBJECT, intro="", click_tracking=False, open_tracking=False,
        updated_at=NOW, images=images,
    )  # fmt: skip
    return render_digest(
        default_renderer(),
        stories() if articles is None else articles,
        settings=Settings(_env_file=None),  # type: ignore[call-arg]
        spec=DigestSpec(edition, None, NOW.date(), language),
        topic_names=(),
        alerts=alerts,
    )


def test_the_top_storys_image_is_full_width_linked_and_sized_from_its_stated_ratio() -> None:
    [lead] = images_in(render(EditionImages.LEAD).html)
    assert lead["src"] == "https://img.example.com/harbour.png"
    assert lead["link"] == "https://news.example.com/harbour"
    assert (lead["width"], lead["height"]) == ("552", "311")  # 552 × 675 / 1200 = 310.5
    style = lead["style"] or ""
    for rule in ("display:block", "border:0", "max-width:100%", "height:auto"):
        assert rule in style.replace(" ", "")
    assert "font-size:12px" in style.replace(" ", "")  # alt text reads as a small caption


def test_an_image_of_unknown_size_gets_no_height_attribute() -> None:
    articles = stories()[1:]  # the ferry's image, of no stated size, leads
    [lead] = images_in(render(EditionImages.LEAD, articles=articles).html)
    assert lead["src"] == "https://img.example.com/ferry.png"
    assert lead["width"] == "552" and "height" not in lead


def test_alt_text_is_the_description_escaped_else_the_headline() -> None:
    html = render(EditionImages.LEAD_AND_THUMBNAILS).html
    lead, thumbnail = images_in(html)
    assert lead["alt"] == HOSTILE_ALT  # one attribute's value, whatever it holds
    # The quote that would end the attribute stays escaped; the text after it is no tag
    # (images_in counts <script> elements: none).
    assert 'dusk"><script>' not in html
    assert thumbnail["alt"] == "Ferry timetable changes"


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (EditionImages.LEAD_AND_THUMBNAILS, [("harbour", "552"), ("ferry", "120")]),
        (EditionImages.LEAD, [("harbour", "552")]),
        (EditionImages.NONE, []),
    ],
)
def test_each_setting_shows_its_images(
    setting: EditionImages, expected: list[tuple[str, str]]
) -> None:
    rendered = render(setting)
    shown = [
        (str(image["src"]).rsplit("/", 1)[1].removesuffix(".png"), image["width"])
        for image in images_in(rendered.html)
    ]
    assert shown == expected
    assert "img.example.com" not in rendered.text  # the text part carries no images
    assert "Harbour reopens after storm" in rendered.text


def test_a_thumbnail_is_linked_and_keeps_its_proportions_when_stated() -> None:
    harbour, ferry, _ = stories()
    shown = images_in(render(EditionImages.LEAD_AND_THUMBNAILS, articles=[ferry, harbour]).html)
    thumbnail = shown[1]
    assert thumbnail["src"] == "https://img.example.com/harbour.png"
    assert (thumbnail["width"], thumbnail["height"]) == ("120", "68")  # 120 × 675 / 1200 = 67.5
    assert thumbnail["link"] == "https://news.example.com/harbour"


def test_the_top_story_is_the_readers_first_alert_when_there_is_one() -> None:
    # The ferry story matched the reader's keyword: it comes first, and its image leads.
    rendered = render(EditionImages.LEAD_AND_THUMBNAILS, alerts={2: ["ferry"]})
    shown = [(image["src"], image["width"]) for image in images_in(rendered.html)]
    assert shown == [
        ("https://img.example.com/ferry.png", "552"),
        ("https://img.example.com/harbour.png", "120"),
    ]


def test_an_image_stored_over_http_is_never_shown() -> None:
    articles = stories()
    articles[0].image_url = "http://img.example.com/harbour.png"  # stored before https only
    articles[1].image_url = "https://editor:secret@img.example.com/ferry.png"
    assert images_in(render(EditionImages.LEAD_AND_THUMBNAILS, articles=articles).html) == []


def test_the_render_key_follows_the_setting() -> None:
    edition = Edition(slug="daily", name="Daily", updated_at=NOW, images=EditionImages.LEAD)
    spec = DigestSpec(edition, None, NOW.date())
    before = spec.key
    edition.images = EditionImages.NONE  # updated_at unchanged, as a bulk update leaves it
    assert spec.key != before


# --- in Chromium ------------------------------------------------------------------------------


def png(width: int, height: int) -> bytes:
    """A grey PNG of this size, written by hand (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: this test needs Debian's Chromium.", pytrace=False)
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


def open_digest(browser: Browser, html: str, *, blocked: bool) -> Page:
    page = browser.new_page(viewport=PHONE)
    picture = png(1200, 675)

    def serve(route: Route) -> None:
        if blocked:
            route.abort()
        else:
            route.fulfill(status=200, content_type="image/png", body=picture)

    page.route("https://img.example.com/**", serve)
    page.set_content(html, wait_until="load")
    return page


def loaded(page: Page) -> list[int]:
    return page.eval_on_selector_all(
        "img[src^='https://img.example.com/']", "images => images.map(i => i.naturalWidth)"
    )


@pytest.mark.parametrize("blocked", [False, True], ids=["images", "images-blocked"])
def test_a_digest_with_images_reads_and_fits_a_phone(browser: Browser, blocked: bool) -> None:
    html = render(EditionImages.LEAD_AND_THUMBNAILS).html
    page = open_digest(browser, html, blocked=blocked)
    try:
        assert loaded(page) == ([0, 0] if blocked else [1200, 1200])
        for headline in ("Harbour reopens after storm", "Ferry timetable changes"):
            assert page.locator("h2 a", has_text=headline).is_visible()
        assert page.get_by_text("What happened.").first.is_visible()
        lead = page.get_by_alt_text(HOSTILE_ALT, exact=True)
        assert lead.is_visible()
        box = lead.bounding_box()
        assert box is not None and box["width"] <= PHONE["width"] - 32 + 1
        if blocked:  # the alt text is drawn in the image's place
            assert page.get_by_alt_text("Ferry timetable changes").is_visible()
        width = page.evaluate("document.documentElement.scrollWidth")
    finally:
        page.close()
    assert width <= PHONE["width"], f"the digest is {width} px wide at {PHONE['width']} px"


@pytest.mark.parametrize(("language", "thumbnail_side"), [("en", "right"), ("ar", "left")])
def test_thumbnails_sit_at_the_end_of_the_text_in_either_direction(
    browser: Browser, language: str, thumbnail_side: str
) -> None:
    html = render(EditionImages.LEAD_AND_THUMBNAILS, language=language).html
    page = open_digest(browser, html, blocked=False)
    try:
        thumbnail = page.get_by_alt_text("Ferry timetable changes").bounding_box()
        text = page.locator("h2 a", has_text="Ferry timetable changes").bounding_box()
    finally:
        page.close()
    assert thumbnail is not None and text is not None
    if thumbnail_side == "right":
        assert thumbnail["x"] >= text["x"] + text["width"]
    else:
        assert thumbnail["x"] + thumbnail["width"] <= text["x"]
