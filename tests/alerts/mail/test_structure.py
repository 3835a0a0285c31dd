"""What a screen reader and a mail client read from our emails: headings for the masthead
and the stories, the site's language, a List-Id of its own for breaking alerts, a subject
without bidi controls, and each edition's summary length."""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.config import Settings
from alerts.digests.breaking import create_alert, plan_alert
from alerts.digests.planning import plan_digests
from alerts.editions.schedules import EditionInput, get_edition, update_edition
from alerts.feeds.articles import ArticleInput, upsert_articles
from alerts.mail.digest import DigestComposer
from alerts.mail.excerpts import ELLIPSIS
from alerts.mail.notices import Notice, compose_notice
from alerts.mail.rendering import default_renderer
from alerts.models import Article, Delivery
from tests.alerts.mail.test_digest import NOW, parts_of
from tests.alerts.mail.test_hostile_feed import html_and_text
from tests.support.builders import reader

SUMMARY = "<p>" + " ".join(f"word{n}" for n in range(200)) + "</p>"


class _Outline(HTMLParser):
    """The headings of a page, and the attributes of its <html>."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[tuple[str, str]] = []
        self.root: dict[str, str | None] = {}
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "html":
            self.root = dict(attrs)
        if tag in ("h1", "h2", "h3"):
            self._open = tag
            self.headings.append((tag, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == self._open:
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open:
            tag, text = self.headings[-1]
            self.headings[-1] = (tag, (text + data).strip())


def outline(html: str) -> _Outline:
    parser = _Outline()
    parser.feed(html)
    return parser


def _stories(session: Session, *titles: str) -> None:
    upsert_articles(
        session,
        [
            ArticleInput(
                url=f"https://news.example.com/story/{number}",
                title=title,
                summary=SUMMARY,
                section="Politik",
                topics=("Wirtschaft",),
                published_at=NOW - timedelta(minutes=10 * (number + 1)),
            )
            for number, title in enumerate(titles)
        ],
        source=None,
        now=NOW,
    )


def _digest(session: Session, settings: Settings) -> bytes:
    reader(session, "ada@example.com", topics=("Wirtschaft",))
    session.commit()
    plan_digests(session, now=NOW, force=True)
    session.commit()
    delivery = session.scalars(select(Delivery)).one()
    composer = DigestComposer(session, settings=settings, renderer=default_renderer())
    return composer.compose(delivery).data


def test_the_masthead_is_an_h1_and_each_story_an_h2(session: Session, settings: Settings) -> None:
    _stories(session, "Haushalt beschlossen", "Zinsen steigen")
    _, html = parts_of(_digest(session, settings))
    headings = outline(html).headings
    assert headings == [
        ("h1", settings.site_name),
        ("h2", "Haushalt beschlossen"),
        ("h2", "Zinsen steigen"),
    ]


@pytest.mark.parametrize(("language", "direction"), [("de", "ltr"), ("ar", "rtl"), ("en", "ltr")])
def test_the_language_of_every_email_is_the_sites(
    session: Session, settings: Settings, language: str, direction: str
) -> None:
    settings = settings.model_copy(update={"default_language": language})
    _stories(session, "Haushalt beschlossen")
    _, html = parts_of(_digest(session, settings))
    assert outline(html).root["lang"] == language
    assert outline(html).root["dir"] == direction
    subscriber = reader(session, "jo@example.com", confirmed=False)
    session.commit()
    notice = compose_notice(
        Notice.CONFIRM, subscriber, settings=settings, renderer=default_renderer()
    )
    _, confirm_html = parts_of(notice.data)
    assert outline(confirm_html).root["lang"] == language


def test_a_breaking_alert_has_a_list_id_of_its_own_and_no_bidi_controls_in_its_subject(
    session: Session, settings: Settings
) -> None:
    reader(session, "ada@example.com", topics=("Wirtschaft",)).breaking_alerts = True
    _stories(session, "Eilmeldung: \u202eNEMO\u202c Kanzler \u2067tritt\u2069 zurück")
    session.commit()
    article = session.scalars(select(Article)).one()
    alert = create_alert(session, article_id=article.id, created_by="cli", now=NOW)
    plan_alert(session, alert, now=NOW, per_day=3)
    session.commit()
    delivery = session.scalars(select(Delivery)).one()
    composer = DigestComposer(session, settings=settings, renderer=default_renderer())
    message, html, text, _ = html_and_text(composer.compose(delivery).data)

    assert message["List-Id"] == "Breaking news alerts <breaking.news-alerts.example.com>"
    assert f"alert-{alert.id}" not in message["List-Id"]
    assert message["Subject"] == "Breaking: Eilmeldung: NEMO Kanzler tritt zurück"
    assert ("h2", "Eilmeldung: NEMO Kanzler tritt zurück") in outline(html).headings
    # An alert's summary is a standfirst too.
    assert ELLIPSIS in text and "word199" not in text


def test_a_digest_has_its_editions_own_list_id(session: Session, settings: Settings) -> None:
    _stories(session, "Haushalt beschlossen")
    message, _, _, _ = html_and_text(_digest(session, settings))
    # The edition's name and slug, under the rest of LIST_ID (daily.news-alerts...).
    assert message["List-Id"] == "Daily briefing <daily.news-alerts.example.com>"
    assert message["List-Unsubscribe"].endswith("?edition=daily>")


@pytest.mark.parametrize("chars", [0, 40, 300])
def test_each_edition_shows_its_own_length_of_summary(
    session: Session, settings: Settings, chars: int
) -> None:
    edition = get_edition(session, "daily")
    update_edition(
        session,
        edition,
        data=EditionInput(name=edition.name, summary_chars=chars),
        now=NOW - timedelta(days=1),
    )
    _stories(session, "Haushalt beschlossen")
    text, html = parts_of(_digest(session, settings))
    if chars == 0:
        assert "word0" not in text and "word0" not in html
        return
    shown = " ".join(text.split()).partition("word0")[2].partition(ELLIPSIS)[0]
    assert 0 < len("word0" + shown) <= chars
    assert "word199" not in html and f"{ELLIPSIS}</p>" in html
