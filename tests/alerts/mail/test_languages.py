"""Each reader's emails in their own language: the digest, a breaking alert and the
confirmation, subject, text and HTML, dates as the reader's locale writes them; and one
render per selection and language, whatever the number of readers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.config import Settings
from alerts.digests.breaking import create_alert, plan_alert
from alerts.digests.planning import plan_digests
from alerts.feeds.articles import ArticleInput, upsert_articles
from alerts.mail.digest import DigestComposer
from alerts.mail.notices import Notice, compose_notice
from alerts.mail.rendering import EmailRenderer, RenderedEmail, default_renderer
from alerts.models import Article, Delivery
from tests.alerts.mail.test_digest import NOW, parts_of
from tests.alerts.mail.test_hostile_feed import html_and_text
from tests.alerts.mail.test_structure import outline
from tests.support.builders import reader

# NOW is Wednesday 25 November 2026, 08:00 UTC; readers here live in UTC.
EXPECTED = {
    "de": {
        "subject": "Haushalt beschlossen \u2013 und 1 weitere Meldung",
        "intro": "2 neue Meldungen zu Ihren Themen seit Ihrem letzten Überblick.",
        "date": "Mittwoch, 25. November 2026",
        "footer": "Abmelden",
        "alert": "Eilmeldung: Haushalt beschlossen",
        "confirm": "Bitte bestätigen Sie Ihre Nachrichten-Alerts von",
        "dir": "ltr",
    },
    "fr": {
        "subject": "Haushalt beschlossen — et 1 autre article",
        "intro": "2 nouveaux articles sur les sujets que vous suivez depuis votre dernière "
        "newsletter.",
        "date": "mercredi 25 novembre 2026",
        "footer": "Se désinscrire",
        "alert": "Alerte info : Haushalt beschlossen",  # a subject has plain spaces
        "confirm": "Merci de confirmer vos alertes info de",
        "dir": "ltr",
    },
    "es": {
        "subject": "Haushalt beschlossen — y 1 noticia más",
        "intro": "2 noticias nuevas sobre los temas que sigues desde tu último boletín.",
        "date": "miércoles, 25 de noviembre de 2026",
        "footer": "Darse de baja",
        "alert": "Última hora: Haushalt beschlossen",
        "confirm": "Confirma tus alertas de noticias de",
        "dir": "ltr",
    },
    "ar": {
        "subject": "Haushalt beschlossen — وخبر آخر",
        "intro": "خبران جديدان في المواضيع التي تتابعها منذ نشرتك الأخيرة.",
        "date": "الأربعاء، 25 نوفمبر 2026",
        "footer": "إلغاء الاشتراك",
        "alert": "عاجل: Haushalt beschlossen",
        "confirm": "يرجى تأكيد تنبيهاتك الإخبارية من",
        "dir": "rtl",
    },
}


def _stories(session: Session, *titles: str) -> None:
    upsert_articles(
        session,
        [
            ArticleInput(
                url=f"https://news.example.com/story/{number}",
                title=title,
                summary="<p>Der Bundestag hat abgestimmt.</p>",
                section="Politik",
                topics=("Wirtschaft",),
                published_at=NOW - timedelta(minutes=10 * (number + 1)),
            )
            for number, title in enumerate(titles)
        ],
        source=None,
        now=NOW,
    )


class _CountingRenderer(EmailRenderer):
    def __init__(self) -> None:
        super().__init__()
        self.renders: list[tuple[str, str]] = []

    def render(
        self, kind: str, context: dict[str, object], *, language: str = "en"
    ) -> RenderedEmail:
        self.renders.append((kind, language))
        return super().render(kind, context, language=language)


@pytest.mark.parametrize("language", sorted(EXPECTED))
def test_a_readers_digest_alert_and_confirmation_are_in_their_language(
    session: Session, settings: Settings, language: str
) -> None:
    expected = EXPECTED[language]
    subscriber = reader(session, "ada@example.com", topics=("Wirtschaft",))
    subscriber.language = language
    subscriber.breaking_alerts = True
    _stories(session, "Haushalt beschlossen", "Zinsen steigen")
    session.commit()
    plan_digests(session, now=NOW, force=True)
    session.commit()
    composer = DigestComposer(session, settings=settings, renderer=default_renderer())

    digest = composer.compose(session.scalars(select(Delivery)).one())
    message, html, text, _ = html_and_text(digest.data)
    assert message["Subject"] == expected["subject"]
    for part in (text, html):
        assert expected["intro"] in part
        assert expected["date"] in part
        assert expected["footer"] in part
        assert "new stories" not in part and "Unsubscribe" not in part
    assert outline(html).root == {
        "lang": language,
        "dir": expected["dir"],
        "xmlns": "http://www.w3.org/1999/xhtml",
    }
    if expected["dir"] == "rtl":  # Outlook reads a table's dir, Gmail an inline alignment
        assert 'dir="rtl"' in html.partition("<body")[2][:200]
        assert "text-align: right" in html

    article = session.scalars(select(Article).where(Article.title == "Haushalt beschlossen")).one()
    alert = create_alert(session, article_id=article.id, created_by="cli", now=NOW)
    plan_alert(session, alert, now=NOW, per_day=3)
    session.commit()
    row = session.scalars(select(Delivery).where(Delivery.alert_id == alert.id)).one()
    message, html, text, _ = html_and_text(composer.compose(row).data)
    assert message["Subject"] == expected["alert"]
    assert expected["footer"] in text and "Read the story" not in text

    notice = compose_notice(
        Notice.CONFIRM, subscriber, settings=settings, renderer=default_renderer()
    )
    message, html, text, _ = html_and_text(notice.data)
    assert message["Subject"].startswith(expected["confirm"])
    assert outline(html).root["lang"] == language


def test_a_reader_without_a_language_gets_the_sites(session: Session, settings: Settings) -> None:
    settings = settings.model_copy(update={"default_language": "fr"})
    reader(session, "ada@example.com", topics=("Wirtschaft",))
    _stories(session, "Haushalt beschlossen", "Zinsen steigen")
    session.commit()
    plan_digests(session, now=NOW, force=True)
    session.commit()
    composer = DigestComposer(session, settings=settings, renderer=default_renderer())
    text, _ = parts_of(composer.compose(session.scalars(select(Delivery)).one()).data)
    assert EXPECTED["fr"]["intro"] in text


def test_a_digest_is_rendered_once_per_language_not_per_reader(
    session: Session, settings: Settings
) -> None:
    languages = ["de", "de", "de", "ar", "ar", None, None]
    for number, language in enumerate(languages):
        reader(session, f"r{number}@example.com", topics=("Wirtschaft",)).language = language
    _stories(session, "Haushalt beschlossen", "Zinsen steigen")
    session.commit()
    plan_digests(session, now=NOW, force=True)
    session.commit()
    renderer = _CountingRenderer()
    composer = DigestComposer(session, settings=settings, renderer=renderer)
    subjects = []
    for delivery in session.scalars(select(Delivery).order_by(Delivery.id)):
        message, _, _, _ = html_and_text(composer.compose(delivery).data)
        subjects.append(message["Subject"])
    assert sorted(renderer.renders) == [("digest", "ar"), ("digest", "de"), ("digest", "en")]
    assert subjects.count(EXPECTED["de"]["subject"]) == 3
    assert subjects.count(EXPECTED["ar"]["subject"]) == 2
    assert subjects.count("Haushalt beschlossen — and 1 more story") == 2
