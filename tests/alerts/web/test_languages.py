"""A reader's language on the web: chosen at sign-up (the embed's `lang`, else the
browser's Accept-Language, else the site's default), shown and changed in preferences,
carried by the API; and every reader page in each shipped language."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from alerts.access.tokens import create_token
from subscribers.database import utcnow
from subscribers.models import Subscriber
from subscribers.services import Origin, add_subscriber
from subscribers.tokens import Purpose
from subscribers.topics import ensure_topics
from tests.alerts.web.app_support import PUBLISHER, SECRET, app_session, form_field, link_token
from tests.support.smtp_server import RecordingSMTPServer

FROM_PUBLISHER = {"Origin": PUBLISHER}
# What the sign-up page's heading says in each shipped language.
HEADINGS = {
    "en": "Sign up to our daily news alerts",
    "de": "Abonnieren Sie unseren täglichen Nachrichten-Newsletter",
    "fr": "Inscrivez-vous à notre newsletter quotidienne",
    "es": "Suscríbete a nuestro boletín diario de noticias",
    "ar": "اشترك في نشرتنا الإخبارية اليومية",
}
CONFIRM_SUBJECTS = {
    "en": "Please confirm your news alerts from Example News",
    "de": "Bitte bestätigen Sie Ihre Nachrichten-Alerts von Example News",
    "fr": "Merci de confirmer vos alertes info de Example News",
    "ar": "يرجى تأكيد تنبيهاتك الإخبارية من Example News",
}


def _language(app: Flask, email: str) -> str | None:
    with app_session(app) as session:
        reader = session.scalar(select(Subscriber).where(Subscriber.email == email))
        assert reader is not None
        return reader.language


def _sign_up(client: FlaskClient, email: str, headers: dict[str, str] | None = None,
             **fields: Any) -> None:  # fmt: skip
    answer = client.post(
        "/subscribe", data={"email": email, **fields}, headers={**FROM_PUBLISHER, **(headers or {})}
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)


def _reader(app: Flask, email: str, language: str | None) -> int:
    with app_session(app) as session:
        reader = add_subscriber(
            session, email=email, origin=Origin("test"), hash_key=SECRET, confirmed=True
        )
        reader.language = language
        session.commit()
        return reader.id


def _html_root(html: str) -> str:
    found = re.search(r"<html[^>]*>", html)
    assert found
    return found.group(0)


@pytest.mark.parametrize("language", ["de", "ar"])
def test_the_embeds_lang_gives_the_form_its_language_and_the_reader_theirs(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer, language: str
) -> None:
    frame = client.get(f"/embed/frame?lang={language}")
    html = frame.get_data(as_text=True)
    assert HEADINGS[language] in html
    direction = "rtl" if language == "ar" else "ltr"
    assert _html_root(html) == f'<html lang="{language}" dir="{direction}">'
    assert form_field(frame.data, "language") == language
    snippet = client.get(f"/embed?lang={language}").get_data(as_text=True)
    assert HEADINGS[language] in snippet and f'lang="{language}" dir="{direction}"' in snippet
    assert f"/embed/frame?lang={language}" in snippet

    # The browser says English; the form the publisher embedded says otherwise, and wins.
    _sign_up(client, "ada@example.com", {"Accept-Language": "en-GB,en"}, language=language)
    assert _language(app, "ada@example.com") == language
    [message] = smtp_server.messages
    assert message.message["Subject"] == CONFIRM_SUBJECTS[language]


def test_without_a_lang_the_browsers_language_is_the_readers(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    browser = {"Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5"}
    page = client.get("/subscribe", headers=browser).get_data(as_text=True)
    assert HEADINGS["fr"] in page and _html_root(page) == '<html lang="fr" dir="ltr">'
    assert "Accept-Language" in client.get("/subscribe").headers["Vary"]
    _sign_up(client, "bea@example.com", browser)
    assert _language(app, "bea@example.com") == "fr"
    assert smtp_server.messages[0].message["Subject"] == CONFIRM_SUBJECTS["fr"]


def test_a_browser_asking_for_no_shipped_language_leaves_the_sites_default(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    browser = {"Accept-Language": "pt-BR,pt;q=0.9"}
    assert HEADINGS["en"] in client.get("/subscribe", headers=browser).get_data(as_text=True)
    _sign_up(client, "cy@example.com", browser)
    _sign_up(client, "dee@example.com")
    assert _language(app, "cy@example.com") is None  # NULL: whatever DEFAULT_LANGUAGE says
    assert _language(app, "dee@example.com") is None
    assert {str(m.message["Subject"]) for m in smtp_server.messages} == {CONFIRM_SUBJECTS["en"]}


def test_a_language_that_is_not_shipped_is_refused_by_name(app: Flask, client: FlaskClient) -> None:
    answer = client.post(
        "/subscribe", json={"email": "eve@example.com", "language": "tlh"}, headers=FROM_PUBLISHER
    )
    assert answer.status_code == 422
    error = answer.get_json()["error"]
    assert error["field"] == "language" and "de" in error["message"]
    with app_session(app) as session:
        assert session.scalar(select(Subscriber)) is None


def test_the_preferences_show_the_readers_language_and_change_it(
    app: Flask, client: FlaskClient
) -> None:
    reader_id = _reader(app, "fay@example.com", "de")
    path = f"/preferences/{link_token(app, Purpose.PREFERENCES, reader_id)}"
    page = client.get(path, headers={"Accept-Language": "fr"})
    html = page.get_data(as_text=True)
    assert "Ihre Nachrichten-Alerts" in html  # the reader's language, not the browser's
    assert '<option value="de" lang="de" selected>Deutsch</option>' in html
    csrf = form_field(page.data, "csrf_token")
    saved = client.post(
        path,
        data={"csrf_token": csrf, "frequency": "daily", "hour": "7", "timezone": "Asia/Beirut",
              "language": "ar", "pause_weeks": "0"},
    )  # fmt: skip
    assert saved.status_code == 303
    assert _language(app, "fay@example.com") == "ar"
    again = client.get(saved.headers["Location"]).get_data(as_text=True)
    assert _html_root(again) == '<html lang="ar" dir="rtl">'
    assert "حُفظت تعديلاتك." in again


def test_a_readers_link_pages_are_in_their_language(app: Flask, client: FlaskClient) -> None:
    reader_id = _reader(app, "gus@example.com", "es")
    token = link_token(app, Purpose.UNSUBSCRIBE, reader_id)
    page = client.get(f"/unsubscribe/{token}").get_data(as_text=True)
    assert "¿Dejar de enviar todas las alertas de noticias de Example News" in page
    csrf = form_field(client.get(f"/unsubscribe/{token}").data, "csrf_token")
    done = client.post(f"/unsubscribe/{token}", data={"csrf_token": csrf}).get_data(as_text=True)
    assert "Te has dado de baja" in done and "/subscribe?lang=es" in done


def test_the_api_takes_and_gives_the_language(app: Flask, client: FlaskClient) -> None:
    with app_session(app) as session:
        ensure_topics(session, ["Business"], public=True)
        token = create_token(
            session, name="crm", scopes=["subscribers"], can_import_confirmed=True, now=utcnow()
        )
        session.commit()
    auth = {"Authorization": f"Bearer {token}"}
    made = client.post(
        "/api/v1/subscribers",
        json={"email": "hal@example.com", "language": "ar", "confirmed": True},
        headers=auth,
    )
    assert made.status_code == 201, made.get_json()
    assert made.get_json()["language"] == "ar"
    assert _language(app, "hal@example.com") == "ar"
    shown = client.get("/api/v1/subscribers/hal@example.com", headers=auth).get_json()
    assert shown["language"] == "ar"
    refused = client.post(
        "/api/v1/subscribers", json={"email": "ian@example.com", "language": 7}, headers=auth
    )
    assert refused.status_code == 422 and refused.get_json()["error"]["field"] == "language"


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("en", "Please check the address:"),
        ("de", "Bitte prüfen Sie die E-Mail-Adresse"),
        ("ar", "يرجى التحقق من عنوان البريد الإلكتروني"),
    ],
)
def test_a_refused_address_is_explained_in_the_readers_language(
    client: FlaskClient, language: str, said: str
) -> None:
    headers = {**FROM_PUBLISHER, "Accept-Language": language}
    page = client.post("/subscribe", data={"email": "not an address"}, headers=headers)
    as_json = client.post("/subscribe", json={"email": "x@"}, headers=headers)

    assert page.status_code == 422 and said in page.get_data(as_text=True)
    assert as_json.status_code == 422 and said in as_json.get_json()["error"]["message"]


def test_a_refused_preference_is_explained_in_the_readers_language(
    app: Flask, client: FlaskClient
) -> None:
    reader_id = _reader(app, "ines@example.com", "es")
    path = f"/preferences/{link_token(app, Purpose.PREFERENCES, reader_id)}"
    csrf = form_field(client.get(path).data, "csrf_token")

    answer = client.post(
        path,
        data={"csrf_token": csrf, "frequency": "hourly", "hour": "7",
              "timezone": "Europe/Madrid", "pause_weeks": "0"},
        headers={"Accept-Language": "en"},
    )  # fmt: skip

    assert answer.status_code == 422
    assert "Elige diario o semanal." in answer.get_data(as_text=True)  # the reader's language
