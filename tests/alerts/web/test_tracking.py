"""Tracked links and the open pixel, followed from a message a real send delivered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.mail.tracking import tracking_token
from alerts.models import Article, Click, Delivery
from alerts.web.tracking import PIXEL
from subscribers.database import utcnow
from tests.alerts.web.app_support import BASE_URL
from tests.support.sending import (
    add_reader,
    add_stories,
    app_runtime,
    backdate_sends,
    images_in,
    links_in,
    recorded_clicks,
    relative,
    send_issue,
    tracked_edition,
)
from tests.support.smtp_server import RecordingSMTPServer

CHROME = {"User-Agent": "Mozilla/5.0 (Macintosh) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"}
HYPOTHESIS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@dataclass
class Digest:
    message: EmailMessage
    clicks: list[str]  # tracked article links, in the digest's order
    pixel: str | None


def _send(app: Flask, db: Session, smtp: RecordingSMTPServer, *, opens: bool = True) -> Digest:
    now = utcnow()
    tracked_edition(db, clicks=True, opens=opens, now=now)
    add_stories(db, now=now)
    add_reader(db, "ada", now=now)
    send_issue(app_runtime(app), "morning", now=now)
    [received] = smtp.wait_for(1)
    message = received.message
    clicks = [link for link in links_in(message) if link.startswith(f"{BASE_URL}/c/")]
    pixels = [src for src in images_in(message) if src.startswith(f"{BASE_URL}/o/")]
    return Digest(message, clicks, pixels[0] if pixels else None)


def test_each_tracked_link_leads_to_its_article_and_is_counted(
    app: Flask, client: FlaskClient, db: Session, smtp_server: RecordingSMTPServer
) -> None:
    digest = _send(app, db, smtp_server)
    assert len(digest.clicks) == 3
    backdate_sends(db, timedelta(minutes=2))
    delivery = db.scalars(select(Delivery)).one()
    for position, link in enumerate(digest.clicks, start=1):
        answer = client.get(relative(link, BASE_URL), headers=CHROME)
        assert answer.status_code == 302
        article = db.get(Article, delivery.article_ids[position - 1])
        assert article is not None
        assert answer.headers["Location"] == article.url
        assert answer.headers["Cache-Control"] == "no-store"
    # A second click on the first story is stored too.
    client.get(relative(digest.clicks[0], BASE_URL), headers=CHROME)
    assert [(c.position, c.delivery_id) for c in recorded_clicks(db)] == [
        (1, delivery.id), (2, delivery.id), (3, delivery.id), (1, delivery.id),
    ]  # fmt: skip


def test_the_redirect_never_takes_its_target_from_the_request(
    app: Flask, client: FlaskClient, db: Session, smtp_server: RecordingSMTPServer
) -> None:
    digest = _send(app, db, smtp_server)
    path = relative(digest.clicks[0], BASE_URL)
    answer = client.get(
        path + "?url=https://evil.example/&next=//evil.example",
        headers={**CHROME, "Referer": "https://evil.example/", "Host": "evil.example"},
    )
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("https://news.example.com/")


def test_scanners_are_redirected_but_not_counted(
    app: Flask, client: FlaskClient, db: Session, smtp_server: RecordingSMTPServer
) -> None:
    digest = _send(app, db, smtp_server)
    path = relative(digest.clicks[0], BASE_URL)
    # Right after the send: a receiving gateway's scanner, whatever it calls itself.
    assert client.get(path, headers=CHROME).status_code == 302
    backdate_sends(db, timedelta(minutes=2))
    safe_links = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0) BingPreview/1.0b"}
    assert client.get(path, headers=safe_links).status_code == 302
    assert client.get(path, headers={"User-Agent": "python-requests/2.32"}).status_code == 302
    assert client.head(path, headers=CHROME).status_code == 302
    assert recorded_clicks(db) == []
    assert client.get(path, headers=CHROME).status_code == 302
    assert len(recorded_clicks(db)) == 1


def test_the_pixel_marks_the_delivery_opened_once(
    app: Flask, client: FlaskClient, db: Session, smtp_server: RecordingSMTPServer
) -> None:
    digest = _send(app, db, smtp_server)
    assert digest.pixel is not None
    answer = client.get(relative(digest.pixel, BASE_URL))
    assert answer.status_code == 200
    assert answer.content_type == "image/gif"
    assert answer.data == PIXEL
    assert answer.headers["Cache-Control"] == "no-store"
    db.expire_all()
    first = db.scalars(select(Delivery.opened_at)).one()
    assert first is not None
    client.get(relative(digest.pixel, BASE_URL))
    db.expire_all()
    assert db.scalars(select(Delivery.opened_at)).one() == first


def test_without_open_tracking_there_is_no_pixel(
    app: Flask, client: FlaskClient, db: Session, smtp_server: RecordingSMTPServer
) -> None:
    digest = _send(app, db, smtp_server, opens=False)
    assert digest.pixel is None
    # Even a pixel URL made up from the message's token records nothing.
    token = digest.clicks[0].split("/")[-2]
    assert client.get(f"/o/{token}.gif").data == PIXEL
    db.expire_all()
    assert db.scalars(select(Delivery.opened_at)).one() is None


@pytest.mark.parametrize(
    "path",
    [
        "/c/not-a-token/1",
        "/c/{token}x/1",
        "/c/{token}/0",
        "/c/{token}/4",
        "/c/{token}/99999",
        "/c/{token}/-1",
        "/c/{token}/1.0",
        "/c/{token}/%C2%B2",  # a superscript two is a digit to str.isdigit
        "/c/{other}/1",  # a well-signed token of a delivery that does not exist
    ],
)
def test_links_that_are_not_ours_get_a_404_page(
    app: Flask, client: FlaskClient, db: Session, smtp_server: RecordingSMTPServer, path: str
) -> None:
    digest = _send(app, db, smtp_server)
    token = digest.clicks[0].split("/")[-2]
    other = tracking_token(app_runtime(app).settings.secret_key, 10**6)
    answer = client.get(path.format(token=token, other=other), headers=CHROME)
    assert answer.status_code == 404
    assert "not valid" in answer.get_data(as_text=True)
    assert recorded_clicks(db) == []


@HYPOTHESIS
@given(token=st.text(max_size=200), position=st.text(max_size=12))
def test_garbage_never_breaks_the_tracking_routes(
    client: FlaskClient, token: str, position: str
) -> None:
    for path in (
        f"/c/{quote(token, safe='')}/{quote(position, safe='')}",
        f"/o/{quote(token, safe='')}.gif",
    ):
        answer = client.get(path, headers=CHROME)
        assert answer.status_code in (200, 302, 308, 404, 405), (path, answer.status_code)


def test_no_click_is_stored_without_a_delivery(client: FlaskClient, db: Session) -> None:
    assert client.get("/c/1.abc/1").status_code == 404
    assert db.scalar(select(func.count()).select_from(Click)) == 0


@pytest.mark.parametrize(
    "stored", ["https://news.example.com/a\r\nSet-Cookie: x=1", "https://news.example.com/\x00b"]
)
def test_a_stored_url_that_cannot_be_a_location_is_a_404_not_a_500(
    app: Flask, client: FlaskClient, db: Session, smtp_server: RecordingSMTPServer, stored: str
) -> None:
    """Once a 500: a CR/LF in an article's URL raised on the Location header. Ingestion
    refuses such URLs now; one stored before must still never break the redirect."""
    digest = _send(app, db, smtp_server)
    backdate_sends(db, timedelta(minutes=2))
    delivery = db.scalars(select(Delivery)).one()
    article = db.get(Article, delivery.article_ids[0])
    assert article is not None
    if "\x00" in stored and db.get_bind().dialect.name == "postgresql":
        stored = stored.replace("\x00", "\x01")  # PostgreSQL cannot hold a NUL at all
    article.url = stored
    db.commit()
    answer = client.get(relative(digest.clicks[0], BASE_URL), headers=CHROME)
    assert answer.status_code == 404
    assert "Location" not in answer.headers and "Set-Cookie" not in answer.headers
    assert recorded_clicks(db) == []
