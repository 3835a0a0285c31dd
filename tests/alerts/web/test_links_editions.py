"""A choice of editions from the reader's links: an edition's email carries its own List-Id
and an unsubscribe link that names it; a one-click POST to that link leaves only that
edition, GET changes nothing, and the page behind it offers leaving only this edition,
fewer emails, a pause, or everything. The preferences page turns each edition on or off.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from alerts.delivery.sending import send_batch
from alerts.delivery.transports import transport_from_url
from alerts.digests.planning import plan_digests
from alerts.editions.schedules import EditionInput, create_edition, ensure_default_editions
from alerts.ledger.queue import claim_queue
from alerts.mail.notices import reader_links
from alerts.models import Delivery
from subscribers.database import utcnow
from subscribers.editions import editions_off
from subscribers.models import (
    ConsentEvent,
    ConsentKind,
    EditionOptOut,
    Frequency,
    Subscriber,
    SubscriberStatus,
)
from subscribers.services import Origin, add_subscriber
from subscribers.tokens import Purpose
from subscribers.topics import ensure_topics
from tests.alerts.web.app_support import BASE_URL, SECRET, app_session, link_token
from tests.support.builders import articles
from tests.support.smtp_server import RecordingSMTPServer

ELECTION = "Harbour City election"
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def reader(app: Flask) -> int:
    """A daily reader of the election, eligible for the daily briefing and the election
    edition (a topic edition of the same cadence)."""
    with app_session(app) as session:
        now = utcnow()
        ensure_default_editions(session, now=now)
        reader = add_subscriber(
            session, email="ada@example.com", origin=Origin("test"), hash_key=SECRET,
            topics=[ELECTION], timezone="Europe/Paris", send_hour=6, confirmed=True,
        )  # fmt: skip
        create_edition(
            session, slug="election", now=now,
            data=EditionInput(name="Election night", topic_slugs=["harbour-city-election"]),
        )  # fmt: skip
        session.commit()
        return reader.id


def _send_all(
    app: Flask, smtp_server: RecordingSMTPServer, *, days_later: int = 0
) -> dict[str, str]:
    """Plan and send every digest due (forced) now or `days_later`; each edition's
    List-Unsubscribe URL by its List-Id."""
    runtime = app.extensions["newsalerts"].runtime
    now = utcnow() + timedelta(days=days_later)
    before = len(smtp_server.messages)
    with app_session(app) as session:
        articles(session, now, (f"vote-{before}", (ELECTION,), timedelta(minutes=30)))
        session.commit()
        plan_digests(session, now=now, force=True)
        session.commit()
        batches = claim_queue(session, now=now, batch_size=50)
        session.commit()
        for batch in batches:
            send_batch(
                session, batch, composer=runtime.composer(session),
                transport=transport_from_url(smtp_server.url),
            )  # fmt: skip
    sent = smtp_server.messages[before:]
    return {
        received.message["List-Id"]: received.message["List-Unsubscribe"].strip("<>")
        for received in sent
    }


def _path(url: str) -> str:
    assert url.startswith(BASE_URL), url
    return url.removeprefix(BASE_URL)


def _reader(app: Flask, reader: int) -> Subscriber:
    with app_session(app) as session:
        found = session.get(Subscriber, reader)
        assert found is not None
        return found


def _off(app: Flask, reader: int) -> list[str]:
    with app_session(app) as session:
        return editions_off(session, reader)


def _events(app: Flask) -> list[ConsentEvent]:
    with app_session(app) as session:
        return list(session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)))


def _csrf(html: bytes) -> str:
    match = re.search(rb'name="csrf_token" value="([^"]*)"', html)
    assert match
    return match.group(1).decode()


def test_each_edition_has_its_own_list_id_and_unsubscribe_link(
    app: Flask, reader: int, smtp_server: RecordingSMTPServer
) -> None:
    links = _send_all(app, smtp_server)
    assert sorted(links) == [
        "Daily briefing <daily.news-alerts.example.com>",
        "Election night <election.news-alerts.example.com>",
    ]
    daily = links["Daily briefing <daily.news-alerts.example.com>"]
    election = links["Election night <election.news-alerts.example.com>"]
    assert daily.endswith("?edition=daily") and election.endswith("?edition=election")
    assert daily.split("?")[0] != election.split("?")[0]  # each token is signed for its edition


def test_one_click_from_an_editions_email_leaves_only_that_edition(
    app: Flask, client: FlaskClient, reader: int, smtp_server: RecordingSMTPServer
) -> None:
    links = _send_all(app, smtp_server)
    election = links["Election night <election.news-alerts.example.com>"]

    answer = client.post(_path(election), data=ONE_CLICK, content_type="multipart/form-data")

    assert answer.status_code == 200 and "Location" not in answer.headers
    assert answer.get_data(as_text=True) == "Unsubscribed.\n"
    assert _reader(app, reader).status is SubscriberStatus.ACTIVE
    assert _off(app, reader) == ["election"]
    [event] = [e for e in _events(app) if e.details.get("left") == "election"]
    assert (event.kind, event.source) == (ConsentKind.PREFERENCES, "one-click")
    # A provider's retry changes nothing more.
    assert client.post(_path(election), data=ONE_CLICK).status_code == 200
    assert len([e for e in _events(app) if e.details.get("left")]) == 1
    # The next day's send: the daily briefing only.
    tomorrow = _send_all(app, smtp_server, days_later=1)
    assert list(tomorrow) == ["Daily briefing <daily.news-alerts.example.com>"]


def _scoped_token(app: Flask, reader: int, edition: str) -> str:
    """The token of the reader's unsubscribe link from an email of `edition`."""
    subscriber = _reader(app, reader)
    settings = app.extensions["newsalerts"].runtime.settings
    links = reader_links(
        settings, reader, subscriber.email, link_key=subscriber.link_key, edition=edition
    )
    return _path(links.unsubscribe_url).split("/")[-1].split("?")[0]


def _edition_path(app: Flask, reader: int, edition: str = "election") -> str:
    return f"/unsubscribe/{_scoped_token(app, reader, edition)}?edition={edition}"


def test_the_edition_in_the_link_is_covered_by_its_signature(
    app: Flask, client: FlaskClient, reader: int
) -> None:
    token = link_token(app, Purpose.UNSUBSCRIBE, reader)  # the plain, every-edition token
    scoped = _scoped_token(app, reader, "election")
    for path in (
        f"/unsubscribe/{token}?edition=election",  # a plain token with an edition added
        f"/unsubscribe/{scoped}?edition=daily",  # another edition named
        f"/unsubscribe/{scoped}",  # the edition taken off: would leave everything
    ):
        assert client.get(path).status_code == 404, path
        assert client.post(path, data=ONE_CLICK).status_code == 404, path
    assert _reader(app, reader).status is SubscriberStatus.ACTIVE
    assert _off(app, reader) == []


def test_get_on_an_editions_link_changes_nothing_and_offers_every_way_out(
    app: Flask, client: FlaskClient, reader: int
) -> None:
    events = len(_events(app))
    page = client.get(_edition_path(app, reader))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Stop “Election night” and keep your other news alerts." in html
    for button in ("leave-edition", "fewer-emails", "pause", "leave-all"):
        assert f'id="{button}"' in html, button
    assert client.get(_edition_path(app, reader)).status_code == 200
    subscriber = _reader(app, reader)
    assert (subscriber.status, subscriber.frequency, subscriber.paused_until) == (
        SubscriberStatus.ACTIVE, Frequency.DAILY, None,
    )  # fmt: skip
    assert _off(app, reader) == [] and len(_events(app)) == events


def _choose(client: FlaskClient, path: str, **form: str) -> str:
    page = client.get(path)
    answer = client.post(path, data={"csrf_token": _csrf(page.data), **form})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_data(as_text=True)


def test_the_page_leaves_only_this_edition_and_still_offers_leaving_everything(
    app: Flask, client: FlaskClient, reader: int
) -> None:
    path = _edition_path(app, reader)
    html = _choose(client, path, action="edition")
    assert "You will no longer get this edition. Your other news alerts go on." in html
    assert 'id="leave-all"' in html and 'id="leave-edition"' not in html
    assert _off(app, reader) == ["election"]
    assert _reader(app, reader).status is SubscriberStatus.ACTIVE
    assert "You are unsubscribed" in _choose(client, path, action="all")
    assert _reader(app, reader).status is SubscriberStatus.UNSUBSCRIBED


def test_the_page_offers_fewer_emails_to_a_daily_reader(
    app: Flask, client: FlaskClient, reader: int
) -> None:
    path = _edition_path(app, reader)
    html = _choose(client, path, action="weekly")
    assert "one email a week instead of one a day" in html
    assert 'id="fewer-emails"' not in html  # a weekly reader has nothing fewer to choose
    subscriber = _reader(app, reader)
    assert (subscriber.status, subscriber.frequency) == (SubscriberStatus.ACTIVE, Frequency.WEEKLY)
    assert _off(app, reader) == []
    [event] = [e for e in _events(app) if e.details.get("frequency") == "weekly"]
    assert (event.kind, event.source) == (ConsentKind.PREFERENCES, "unsubscribe-page")


def test_the_page_pauses_for_the_weeks_chosen(app: Flask, client: FlaskClient, reader: int) -> None:
    path = _edition_path(app, reader)
    before = utcnow()
    html = _choose(client, path, action="pause", pause_weeks="8")
    assert "Your news alerts are paused." in html
    subscriber = _reader(app, reader)
    assert subscriber.status is SubscriberStatus.ACTIVE
    assert subscriber.paused_until is not None
    assert before + timedelta(weeks=8) <= subscriber.paused_until <= utcnow() + timedelta(weeks=8)


@pytest.mark.parametrize(
    "form",
    [
        pytest.param({"action": "pause", "pause_weeks": "500"}, id="weeks-out-of-range"),
        pytest.param({"action": "pause", "pause_weeks": "x"}, id="weeks-not-a-number"),
        pytest.param({"action": "delete-everyone"}, id="unknown-action"),
    ],
)
def test_the_page_refuses_what_it_does_not_offer(
    app: Flask, client: FlaskClient, reader: int, form: dict[str, str]
) -> None:
    path = _edition_path(app, reader)
    events = len(_events(app))
    page = client.get(path)
    answer = client.post(path, data={"csrf_token": _csrf(page.data), **form})
    assert answer.status_code == 422
    assert "Choose one of the options on the page." in answer.get_data(as_text=True)
    assert _reader(app, reader).paused_until is None and len(_events(app)) == events


def test_leaving_one_edition_needs_a_link_that_names_one(
    app: Flask, client: FlaskClient, reader: int
) -> None:
    path = f"/unsubscribe/{link_token(app, Purpose.UNSUBSCRIBE, reader)}"
    assert 'id="leave-edition"' not in client.get(path).get_data(as_text=True)
    page = client.get(path)
    answer = client.post(path, data={"csrf_token": _csrf(page.data), "action": "edition"})
    assert answer.status_code == 422
    assert _off(app, reader) == []


def _prefs(app: Flask, reader: int) -> str:
    return f"/preferences/{link_token(app, Purpose.PREFERENCES, reader)}"


def test_preferences_list_the_eligible_editions_and_turn_one_off(
    app: Flask, client: FlaskClient, reader: int
) -> None:
    with app_session(app) as session:
        ensure_topics(session, ["Chip shortage"], public=True)
        create_edition(
            session, slug="chips", now=utcnow(),
            data=EditionInput(name="Chip watch", topic_slugs=["chip-shortage"]),
        )  # fmt: skip
        session.commit()
    html = client.get(_prefs(app, reader)).get_data(as_text=True)
    offered = re.findall(r'name="editions_offered" value="([^"]+)"', html)
    assert offered == ["daily", "election"]  # not weekly (a daily reader), not chips
    assert len(re.findall(r'name="editions" value="[^"]+" checked', html)) == 2

    form = {
        "csrf_token": _csrf(client.get(_prefs(app, reader)).data),
        "topics": "harbour-city-election", "frequency": "daily", "hour": "6",
        "timezone": "Europe/Paris", "pause_weeks": "0",
        "editions_offered": ["daily", "election", "weekly-forged-slug"], "editions": ["daily"],
    }  # fmt: skip
    assert client.post(_prefs(app, reader), data=form).status_code == 303
    assert _off(app, reader) == ["election"]
    [event] = [e for e in _events(app) if "editions_off" in e.details]
    assert event.details["editions_off"] == ["election"]
    assert event.kind is ConsentKind.PREFERENCES
    html = client.get(_prefs(app, reader)).get_data(as_text=True)
    assert re.findall(r'name="editions" value="([^"]+)" checked', html) == ["daily"]

    form["editions"] = ["daily", "election"]
    assert client.post(_prefs(app, reader), data=form).status_code == 303
    assert _off(app, reader) == []


def test_export_and_api_list_the_opt_outs_and_erasure_removes_them(
    app: Flask, client: FlaskClient, reader: int
) -> None:
    client.post(_edition_path(app, reader), data=ONE_CLICK)
    export = client.get(_prefs(app, reader) + "/data.json").get_json()
    assert export["editions_off"] == ["election"]
    page = client.get(_prefs(app, reader))
    erase_csrf = re.findall(rb'name="csrf_token" value="([^"]*)"', page.data)[1].decode()
    erased = client.post(
        _prefs(app, reader) + "/erase", data={"csrf_token": erase_csrf, "confirm_erase": "yes"}
    )
    assert erased.status_code == 200
    with app_session(app) as session:
        assert session.scalars(select(EditionOptOut)).all() == []
        assert session.scalars(select(Delivery)).all() == []
