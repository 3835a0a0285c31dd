"""Pages reached from links in emails: confirm, preferences (with export and erasure) and
unsubscribe. GET never changes anything; every form needs its link-bound CSRF token except
the RFC 8058 one-click POST. Real database (both backends), Redis, SMTP server."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import func, select

from alerts.config import Settings
from alerts.delivery.sending import send_batch
from alerts.delivery.transports import transport_from_url
from alerts.digests.planning import plan_digests
from alerts.editions.schedules import ensure_default_editions
from alerts.ledger.queue import claim_queue
from alerts.models import Delivery, DeliveryStatus, Edition
from alerts.web.context import WORDING_VERSION
from subscribers.addresses import email_hash
from subscribers.database import utcnow
from subscribers.models import (
    ConsentEvent,
    ConsentKind,
    Frequency,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from subscribers.services import Origin, add_subscriber
from subscribers.tokens import Purpose, TokenSigner
from tests.alerts.web.app_support import SECRET, app_session, link_key, link_token
from tests.support.builders import articles
from tests.support.smtp_server import RecordingSMTPServer

UA = {"User-Agent": "ReaderBrowser/2.0"}
DAY = 24 * 3600


# --- helpers ---------------------------------------------------------------------------


def _make_reader(
    app: Flask,
    email: str = "ada@example.com",
    *,
    confirmed: bool = True,
    topics: tuple[str, ...] = ("Harbour City election",),
) -> int:
    with app_session(app) as session:
        reader = add_subscriber(
            session,
            email=email,
            origin=Origin("test"),
            hash_key=SECRET,
            topics=topics,
            timezone="Europe/Paris",
            send_hour=6,
            confirmed=confirmed,
        )
        session.commit()
        return reader.id


def _get(app: Flask, subscriber_id: int) -> Subscriber | None:
    with app_session(app) as session:
        return session.get(Subscriber, subscriber_id)


def _status(app: Flask, subscriber_id: int) -> SubscriberStatus | None:
    reader = _get(app, subscriber_id)
    return reader.status if reader else None


def _events(app: Flask) -> list[ConsentEvent]:
    with app_session(app) as session:
        return list(session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)))


# The app of the running test, whose database `_token` reads the reader's link key from.
_APPS: list[Flask] = []


@pytest.fixture(autouse=True)
def _current_app(app: Flask) -> Iterator[None]:
    _APPS.append(app)
    yield
    _APPS.pop()


def _token(purpose: Purpose, subscriber_id: int, *, age: float = 0, key: str = SECRET) -> str:
    """A link token signed for real with the reader's link key, as if made `age` seconds ago."""

    class _Then(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - age)

    salt = f"newsalerts.{purpose.value}"
    reader_key = link_key(_APPS[-1], subscriber_id)
    if reader_key is not None:
        salt += f".{reader_key}"
    serializer = URLSafeTimedSerializer(key, salt=salt, signer=_Then)
    token = serializer.dumps(subscriber_id)
    assert isinstance(token, str)
    return token


def _csrf(html: bytes, *, action: str | None = None) -> str:
    """The csrf_token of the page's (first, or `action`-posting) form."""
    text = html.decode()
    if action is not None:
        text = text[text.index(f'action="{action}"') :]
    match = re.search(r'name="csrf_token" value="([^"]*)"', text)
    assert match, "no csrf_token"
    return match.group(1)


def _tampered(token: str) -> str:
    return token[:-2] + ("AA" if not token.endswith("AA") else "BB")


def _no_cookies(*responses: Any) -> None:
    for response in responses:
        assert "Set-Cookie" not in response.headers


@pytest.fixture
def reader(app: Flask) -> int:
    return _make_reader(app)


@pytest.fixture
def pending(app: Flask) -> int:
    return _make_reader(app, "pending@example.com", confirmed=False)


# --- confirm ---------------------------------------------------------------------------


def _confirm(app: Flask, client: FlaskClient, *, send_hour: int, timezone: str = "UTC") -> str:
    """A pending reader in `timezone` with this hour confirms; the page they are shown."""
    with app_session(app) as session:
        reader = add_subscriber(
            session,
            email="cleo@example.com",
            origin=Origin("test"),
            hash_key=SECRET,
            timezone=timezone,
            send_hour=send_hour,
            confirmed=False,
        )
        session.commit()
    path = f"/confirm/{_token(Purpose.CONFIRM, reader.id)}"
    page = client.get(path, headers=UA)
    done = client.post(path, data={"csrf_token": _csrf(page.data)}, headers=UA)
    assert done.status_code == 200
    return done.get_data(as_text=True)


def test_a_reader_whose_hour_has_passed_is_told_the_digest_comes_now(
    app: Flask, client: FlaskClient
) -> None:
    html = _confirm(app, client, send_hour=0)  # 00:00 has always passed today
    assert "Your first digest is on its way: it should arrive within a few minutes." in html
    assert "at the hour you chose" not in html


def test_a_reader_whose_hour_is_to_come_is_told_when(app: Flask, client: FlaskClient) -> None:
    # A zone where it is not yet 21:00 whatever the hour of the run, so two hours on is
    # still today there (in UTC, a run after 22:00 would ask for an hour already past).
    utc_hour = utcnow().hour
    offset = 0 if utc_hour < 21 else -6
    zone = "UTC" if offset == 0 else "Etc/GMT+6"  # POSIX signs: Etc/GMT+6 is UTC-6
    hour = (utc_hour + offset) % 24 + 2
    html = _confirm(app, client, send_hour=hour, timezone=zone)
    assert "Your first digest goes out today " in html
    assert f"at {hour:02d}:00 ({zone} time)." in html


def test_confirm_link_from_the_email_activates_only_on_post(
    app: Flask, client: FlaskClient, smtp_server: RecordingSMTPServer
) -> None:
    answer = client.post(
        "/subscribe",
        data={"email": "bram@example.com"},
        headers={"Origin": "https://news.example.com"},
    )
    assert answer.status_code == 200
    [received] = smtp_server.messages
    text = received.message.get_body(("plain",)).get_content()
    path = re.search(r"https://alerts\.example\.com(/confirm/\S+)", text).group(1)  # type: ignore[union-attr]
    with app_session(app) as session:
        reader_id = session.scalar(select(Subscriber.id))
    assert reader_id is not None

    page = client.get(path, headers=UA)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Yes, confirm my subscription" in html and "bram@example.com" in html
    assert client.get(path).status_code == 200  # a mail scanner opening it again
    assert _status(app, reader_id) is SubscriberStatus.PENDING
    assert [event.kind for event in _events(app)] == [ConsentKind.SUBSCRIBE]

    done = client.post(path, data={"csrf_token": _csrf(page.data)}, headers=UA)
    assert done.status_code == 200
    assert "You are subscribed" in done.get_data(as_text=True)
    reader = _get(app, reader_id)
    assert reader is not None and reader.status is SubscriberStatus.ACTIVE
    assert reader.confirmed_at is not None
    confirm_event = _events(app)[-1]
    assert confirm_event.kind is ConsentKind.CONFIRM
    assert confirm_event.subscriber_id == reader_id
    assert (confirm_event.ip_address, confirm_event.user_agent) == ("127.0.0.1", UA["User-Agent"])
    assert confirm_event.wording_version == WORDING_VERSION
    assert confirm_event.source == "confirm-link"
    _no_cookies(page, done)

    # Confirming twice changes nothing more; the page now leads to the preferences.
    again = client.post(path, data={"csrf_token": _csrf(page.data)})
    assert again.status_code == 200
    assert len(_events(app)) == 2
    later = client.get(path)
    assert later.status_code == 200 and b"/preferences/" in later.data


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({}, id="missing"),
        pytest.param({"csrf_token": ""}, id="empty"),
        pytest.param({"csrf_token": "0" * 64}, id="wrong"),
        pytest.param({"csrf_token": "é" * 10}, id="non-ascii"),
    ],
)
def test_confirm_post_needs_the_csrf_token(
    app: Flask, client: FlaskClient, pending: int, data: dict[str, str]
) -> None:
    answer = client.post(f"/confirm/{_token(Purpose.CONFIRM, pending)}", data=data)
    assert answer.status_code == 400
    assert "This form is not valid" in answer.get_data(as_text=True)
    assert _status(app, pending) is SubscriberStatus.PENDING
    assert [event.kind for event in _events(app)] == [ConsentKind.SUBSCRIBE]


def test_csrf_token_is_bound_to_its_link_and_action(
    app: Flask, client: FlaskClient, pending: int
) -> None:
    other = _make_reader(app, "other@example.com", confirmed=False)
    mine = f"/confirm/{_token(Purpose.CONFIRM, pending)}"
    theirs_page = client.get(f"/confirm/{_token(Purpose.CONFIRM, other)}")
    unsubscribe_page = client.get(f"/unsubscribe/{_token(Purpose.UNSUBSCRIBE, pending)}")
    for stolen in (_csrf(theirs_page.data), _csrf(unsubscribe_page.data)):
        assert client.post(mine, data={"csrf_token": stolen}).status_code == 400
    assert _status(app, pending) is SubscriberStatus.PENDING
    assert _status(app, other) is SubscriberStatus.PENDING


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda i: _tampered(_token(Purpose.CONFIRM, i)), id="tampered"),
        pytest.param(lambda i: _token(Purpose.UNSUBSCRIBE, i), id="unsubscribe-token"),
        pytest.param(lambda i: _token(Purpose.PREFERENCES, i), id="preferences-token"),
        pytest.param(lambda i: _token(Purpose.CONFIRM, i, key="another-key"), id="other-key"),
        pytest.param(lambda i: "garbage", id="garbage"),
        pytest.param(lambda i: "x" * 3000, id="long"),
        pytest.param(lambda i: "%3Cscript%3E", id="script"),
    ],
)
def test_foreign_or_tampered_confirm_token_is_not_found(
    app: Flask, client: FlaskClient, pending: int, make_token: Any
) -> None:
    path = f"/confirm/{make_token(pending)}"
    page = client.get(path)
    assert page.status_code == 404
    assert "We could not use this link" in page.get_data(as_text=True)
    assert b"<script>" not in page.data
    assert client.post(path, data={"csrf_token": "x"}).status_code == 404
    assert _status(app, pending) is SubscriberStatus.PENDING
    assert len(_events(app)) == 1


def test_confirm_token_works_for_seven_days(app: Flask, client: FlaskClient, pending: int) -> None:
    path = f"/confirm/{_token(Purpose.CONFIRM, pending, age=7 * DAY - 3600)}"
    page = client.get(path)
    assert page.status_code == 200
    assert client.post(path, data={"csrf_token": _csrf(page.data)}).status_code == 200
    assert _status(app, pending) is SubscriberStatus.ACTIVE


def test_expired_confirm_link_offers_a_new_email(
    app: Flask, client: FlaskClient, pending: int, smtp_server: RecordingSMTPServer
) -> None:
    old = _token(Purpose.CONFIRM, pending, age=8 * DAY)
    page = client.get(f"/confirm/{old}")
    assert page.status_code == 410
    html = page.get_data(as_text=True)
    assert "This link has expired" in html
    assert f'action="/confirm/{old}/resend"' in html
    resend_csrf = _csrf(page.data)

    # The expired link itself activates nothing, even with a CSRF token for it.
    refused = client.post(f"/confirm/{old}", data={"csrf_token": resend_csrf})
    assert refused.status_code == 410
    assert _status(app, pending) is SubscriberStatus.PENDING

    sent = client.post(f"/confirm/{old}/resend", data={"csrf_token": resend_csrf})
    assert sent.status_code == 200
    assert "a new link is on its way" in sent.get_data(as_text=True)
    [received] = smtp_server.messages
    assert received.recipients == ["pending@example.com"]
    text = received.message.get_body(("plain",)).get_content()
    fresh = re.search(r"https://alerts\.example\.com(/confirm/\S+)", text).group(1)  # type: ignore[union-attr]
    fresh_page = client.get(fresh)
    assert fresh_page.status_code == 200
    assert client.post(fresh, data={"csrf_token": _csrf(fresh_page.data)}).status_code == 200
    assert _status(app, pending) is SubscriberStatus.ACTIVE


def test_resend_is_limited_with_the_sign_ups_of_that_address(
    app: Flask, client: FlaskClient, pending: int, smtp_server: RecordingSMTPServer
) -> None:
    old = _token(Purpose.CONFIRM, pending, age=8 * DAY)
    resend_csrf = _csrf(client.get(f"/confirm/{old}").data)
    answers = [
        client.post(f"/confirm/{old}/resend", data={"csrf_token": resend_csrf}) for _ in range(4)
    ]
    assert [answer.status_code for answer in answers] == [200] * 4
    assert len({answer.data for answer in answers}) == 1
    assert len(smtp_server.messages) == 3
    # The sign-up form counts against the same daily budget of 3 confirmation emails.
    form = client.post(
        "/subscribe",
        data={"email": "pending@example.com"},
        headers={"Origin": "https://news.example.com"},
    )
    assert form.status_code == 200
    assert len(smtp_server.messages) == 3


def test_sign_ups_use_up_the_resend_budget_too(
    app: Flask, client: FlaskClient, pending: int, smtp_server: RecordingSMTPServer
) -> None:
    for _ in range(3):
        client.post("/subscribe", json={"email": "pending@example.com"})
    assert len(smtp_server.messages) == 3
    old = _token(Purpose.CONFIRM, pending, age=8 * DAY)
    resend_csrf = _csrf(client.get(f"/confirm/{old}").data)
    assert (
        client.post(f"/confirm/{old}/resend", data={"csrf_token": resend_csrf}).status_code == 200
    )
    assert len(smtp_server.messages) == 3


def test_resend_needs_its_csrf_token_and_sends_nothing_to_active_readers(
    app: Flask, client: FlaskClient, reader: int, smtp_server: RecordingSMTPServer
) -> None:
    old = _token(Purpose.CONFIRM, reader, age=8 * DAY)
    assert client.post(f"/confirm/{old}/resend", data={}).status_code == 404
    assert client.post(f"/confirm/{_tampered(old)}/resend", data={}).status_code == 404
    page = client.get(f"/confirm/{old}")
    answer = client.post(f"/confirm/{old}/resend", data={"csrf_token": _csrf(page.data)})
    assert answer.status_code == 200  # the same answer as for a pending reader
    assert smtp_server.messages == []


@pytest.mark.parametrize("status", [SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED])
def test_confirm_link_does_not_claim_a_subscription_it_cannot_make(
    app: Flask, client: FlaskClient, pending: int, status: SubscriberStatus
) -> None:
    with app_session(app) as session:
        row = session.get(Subscriber, pending)
        assert row is not None
        row.status = status
        session.commit()
    path = f"/confirm/{_token(Purpose.CONFIRM, pending)}"
    page = client.get(path)
    assert page.status_code == 404
    assert b"Yes, confirm" not in page.data
    csrf = app.extensions["newsalerts"].guard.csrf_token("confirm", path.rsplit("/", 1)[1])
    answer = client.post(path, data={"csrf_token": csrf})
    assert answer.status_code == 404
    assert b"You are subscribed" not in answer.data
    assert _status(app, pending) is status


# --- preferences -----------------------------------------------------------------------


@pytest.fixture
def topics(app: Flask, reader: int) -> None:
    with app_session(app) as session:
        from subscribers.topics import ensure_topics

        ensure_topics(session, ["Chip shortage", "Weather"], public=True)
        session.commit()


def _prefs_path(subscriber_id: int) -> str:
    return f"/preferences/{_token(Purpose.PREFERENCES, subscriber_id)}"


@pytest.mark.usefixtures("topics")
def test_the_weekly_choice_names_the_weekly_editions_day(
    app: Flask, client: FlaskClient, reader: int
) -> None:
    assert "Once a week (Mondays)" in client.get("/subscribe").get_data(as_text=True)
    with app_session(app) as session:
        ensure_default_editions(session, now=utcnow())
        weekly = session.scalars(select(Edition).where(Edition.slug == "weekly")).one()
        weekly.weekday = 3
        session.commit()
    for path in ("/subscribe", "/embed/frame", _prefs_path(reader)):
        html = client.get(path).get_data(as_text=True)
        assert "Once a week (Thursdays)" in html, path
        assert "Mondays" not in html, path


@pytest.mark.usefixtures("topics")
def test_preferences_page_shows_the_current_choices(
    app: Flask, client: FlaskClient, reader: int
) -> None:
    page = client.get(_prefs_path(reader))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "ada@example.com" in html
    assert 'value="harbour-city-election" checked' in html
    assert 'value="chip-shortage">' in html
    assert 'value="daily" checked' in html
    assert '<option value="6" selected>' in html
    assert "<option selected>Europe/Paris</option>" in html
    assert "Your changes are saved" not in html
    assert len(_events(app)) == 1


VALID_CHOICES = {
    "topics": ["chip-shortage", "weather"],
    "frequency": "weekly",
    "hour": "21",
    "timezone": "America/New_York",
    "pause_weeks": "0",
}


@pytest.mark.usefixtures("topics")
def test_preferences_are_saved_with_a_consent_event(
    app: Flask, client: FlaskClient, reader: int
) -> None:
    path = _prefs_path(reader)
    csrf = _csrf(client.get(path).data)
    answer = client.post(path, data={**VALID_CHOICES, "csrf_token": csrf}, headers=UA)
    assert answer.status_code == 303
    assert answer.headers["Location"] == f"{path}?saved=1"
    saved = client.get(f"{path}?saved=1")
    assert "Your changes are saved" in saved.get_data(as_text=True)
    row = _get(app, reader)
    assert row is not None
    assert (row.topic_slugs, row.frequency, row.send_hour, row.timezone) == (
        ["chip-shortage", "weather"],
        Frequency.WEEKLY,
        21,
        "America/New_York",
    )
    assert row.paused_until is None
    assert row.status is SubscriberStatus.ACTIVE
    event = next(e for e in _events(app) if e.kind is ConsentKind.PREFERENCES)
    assert event.subscriber_id == reader
    assert (event.ip_address, event.user_agent, event.wording_version) == (
        "127.0.0.1",
        UA["User-Agent"],
        WORDING_VERSION,
    )
    assert event.details["topics"] == ["chip-shortage", "weather"]
    assert event.details["hour"] == 21
    assert event.details["breaking_alerts"] is False


@pytest.mark.usefixtures("topics")
def test_breaking_alerts_checkbox_opts_in_and_out(
    app: Flask, client: FlaskClient, reader: int
) -> None:
    path = _prefs_path(reader)
    page = client.get(path).get_data(as_text=True)
    assert "Also send me breaking news alerts on my topics" in page
    assert 'name="breaking_alerts" value="yes">' in page  # unticked by default
    csrf = _csrf(client.get(path).data)
    ticked = {**VALID_CHOICES, "breaking_alerts": "yes", "csrf_token": csrf}
    saved = client.post(path, data=ticked)
    assert saved.status_code == 303, saved.get_data(as_text=True)
    row = _get(app, reader)
    assert row is not None and row.breaking_alerts
    assert 'name="breaking_alerts" value="yes" checked' in client.get(path).get_data(as_text=True)
    assert client.post(path, data={**VALID_CHOICES, "csrf_token": csrf}).status_code == 303
    row = _get(app, reader)
    assert row is not None and not row.breaking_alerts


@pytest.mark.usefixtures("topics")
def test_keyword_alerts_checkbox_turns_them_on_from_now_and_off(
    app: Flask, client: FlaskClient, reader: int
) -> None:
    path = _prefs_path(reader)
    page = client.get(path).get_data(as_text=True)
    assert 'id="keyword-alerts"' in page  # where an alert's "turn off" link lands
    assert "at most one email every 60 minutes" in page
    assert 'name="keyword_alerts" value="yes">' in page  # off by default
    csrf = _csrf(client.get(path).data)
    before = utcnow()
    saved = client.post(path, data={**VALID_CHOICES, "keyword_alerts": "yes", "csrf_token": csrf})
    assert saved.status_code == 303, saved.get_data(as_text=True)
    row = _get(app, reader)
    assert row is not None and row.keyword_alerts
    assert row.keyword_alerted_through is not None and row.keyword_alerted_through >= before
    assert 'name="keyword_alerts" value="yes" checked' in client.get(path).get_data(as_text=True)
    assert client.post(path, data={**VALID_CHOICES, "csrf_token": csrf}).status_code == 303
    row = _get(app, reader)
    assert row is not None and not row.keyword_alerts


@pytest.mark.usefixtures("topics")
def test_preferences_post_needs_its_csrf_token(
    app: Flask, client: FlaskClient, reader: int
) -> None:
    path = _prefs_path(reader)
    page = client.get(path)
    other = _make_reader(app, "other@example.com")
    wrong = [
        {},
        {"csrf_token": "nope"},
        {"csrf_token": _csrf(page.data, action=f"{path}/erase")},  # another action's token
        {"csrf_token": _csrf(client.get(_prefs_path(other)).data)},  # another reader's
    ]
    for extra in wrong:
        answer = client.post(path, data={**VALID_CHOICES, **extra})
        assert answer.status_code == 400
    row = _get(app, reader)
    assert row is not None and row.topic_slugs == ["harbour-city-election"]
    assert (row.frequency, row.send_hour) == (Frequency.DAILY, 6)
    assert [e.kind for e in _events(app)] == [ConsentKind.IMPORT, ConsentKind.IMPORT]


@pytest.mark.usefixtures("topics")
@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"topics": ["no-such-topic"]}, "unknown topic", id="topic"),
        pytest.param({"hour": "25"}, "25 is not between 0 and 23", id="hour"),
        pytest.param({"hour": "<b>x</b>"}, "&#39;&lt;b&gt;x&lt;/b&gt;&#39; is not", id="hour-html"),
        pytest.param({"timezone": "Nowhere/Else"}, "We do not know the time zone", id="timezone"),
        pytest.param({"frequency": "hourly"}, "is not one of", id="frequency"),
        pytest.param({"pause_weeks": "many"}, "pause: choose a number of weeks", id="pause-word"),
        pytest.param({"pause_weeks": "53"}, "pause: choose between 0 and 52 weeks", id="pause-53"),
        pytest.param({"pause_weeks": "-1"}, "pause: choose between 0 and 52 weeks", id="pause-neg"),
    ],
)
def test_invalid_preferences_change_nothing(
    app: Flask, client: FlaskClient, reader: int, change: dict[str, Any], message: str
) -> None:
    path = _prefs_path(reader)
    csrf = _csrf(client.get(path).data)
    answer = client.post(path, data={**VALID_CHOICES, **change, "csrf_token": csrf})
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert '<p class="error" role="alert">' in html
    assert message in html
    assert "<b>x</b>" not in html
    row = _get(app, reader)
    assert row is not None
    assert (row.topic_slugs, row.frequency, row.send_hour, row.timezone, row.paused_until) == (
        ["harbour-city-election"],
        Frequency.DAILY,
        6,
        "Europe/Paris",
        None,
    )
    assert [e.kind for e in _events(app)] == [ConsentKind.IMPORT]


@pytest.mark.usefixtures("topics")
def test_a_time_zone_typo_keeps_the_readers_other_choices_and_says_it_plainly(
    app: Flask, client: FlaskClient, reader: int
) -> None:
    path = _prefs_path(reader)
    csrf = _csrf(client.get(path).data)
    typo = {**VALID_CHOICES, "timezone": "America/New_Yrok", "csrf_token": csrf}
    answer = client.post(path, data=typo)
    assert answer.status_code == 422
    html = answer.get_data(as_text=True)
    assert "We do not know the time zone “America/New_Yrok”" in html
    assert "IANA" not in html
    # What the reader chose is still chosen, and the zone is a picker set to the nearest.
    assert 'value="chip-shortage" checked' in html
    assert 'value="harbour-city-election">' in html
    assert 'value="weekly" checked' in html
    assert '<option value="21" selected>' in html
    assert '<select id="timezone" name="timezone"' in html
    assert "<option selected>America/New_York</option>" in html
    # Saving the page as shown saves them all.
    again = client.post(path, data={**VALID_CHOICES, "csrf_token": _csrf(answer.data)})
    assert again.status_code == 303
    row = _get(app, reader)
    assert row is not None
    assert (row.topic_slugs, row.frequency, row.send_hour, row.timezone) == (
        ["chip-shortage", "weather"],
        Frequency.WEEKLY,
        21,
        "America/New_York",
    )


def _default_choice(html: str, select_id: str) -> str:
    """What a browser submits for a <select> nobody touched: the selected or first option."""
    block = html[html.index(f'<select id="{select_id}"') :]
    block = block[: block.index("</select>")]
    options = re.findall(r'<option value="([^"]*)"( selected)?', block)
    return next((value for value, selected in options if selected), options[0][0])


@pytest.mark.usefixtures("topics")
def test_saving_other_choices_keeps_a_pause(app: Flask, client: FlaskClient, reader: int) -> None:
    path = _prefs_path(reader)
    csrf = _csrf(client.get(path).data)
    client.post(path, data={**VALID_CHOICES, "pause_weeks": "4", "csrf_token": csrf})
    paused = _get(app, reader)
    assert paused is not None and paused.paused_until is not None
    html = client.get(path).get_data(as_text=True)
    # The reader changes only the hour and saves the form as the page offers it.
    form = {
        "csrf_token": csrf,
        "topics": ["chip-shortage", "weather"],
        "frequency": "weekly",
        "hour": "8",
        "timezone": "America/New_York",
        "pause_weeks": _default_choice(html, "pause_weeks"),
    }
    assert client.post(path, data=form).status_code == 303
    after = _get(app, reader)
    assert after is not None and after.send_hour == 8
    assert after.paused_until == paused.paused_until


@pytest.mark.usefixtures("topics")
def test_pause_skips_the_reader_until_it_ends(app: Flask, client: FlaskClient, reader: int) -> None:
    path = _prefs_path(reader)
    csrf = _csrf(client.get(path).data)
    before = utcnow()
    answer = client.post(path, data={**VALID_CHOICES, "pause_weeks": "2", "csrf_token": csrf})
    assert answer.status_code == 303
    row = _get(app, reader)
    assert row is not None and row.paused_until is not None
    assert before + timedelta(weeks=2) <= row.paused_until <= utcnow() + timedelta(weeks=2)
    assert row.status is SubscriberStatus.ACTIVE
    assert "Paused until" in client.get(path).get_data(as_text=True)
    pause_event = _events(app)[-1]
    assert pause_event.kind is ConsentKind.PREFERENCES
    assert pause_event.details["pause_weeks"] == 2

    with app_session(app) as session:
        assert plan_digests(session, now=utcnow(), force=True).due == 0
        assert plan_digests(session, now=row.paused_until - timedelta(hours=1), force=True).due == 0
        assert plan_digests(session, now=row.paused_until + timedelta(hours=1), force=True).due == 1
        session.rollback()

    # Choosing "resume now" clears the pause.
    resumed = client.post(path, data={**VALID_CHOICES, "pause_weeks": "0", "csrf_token": csrf})
    assert resumed.status_code == 303
    again = _get(app, reader)
    assert again is not None and again.paused_until is None
    with app_session(app) as session:
        assert plan_digests(session, now=utcnow(), force=True).due == 1
        session.rollback()


def test_data_export_holds_the_readers_data_and_consent(
    app: Flask, client: FlaskClient, reader: int
) -> None:
    # Give the reader a history first: one confirmed preference change.
    path = _prefs_path(reader)
    csrf = _csrf(client.get(path).data)
    client.post(
        path, data={"hour": "9", "timezone": "Europe/Paris", "csrf_token": csrf}, headers=UA
    )
    events_before = len(_events(app))

    export = client.get(f"{path}/data.json")
    assert export.status_code == 200
    assert export.mimetype == "application/json"
    assert export.headers["Content-Disposition"].startswith("attachment;")
    data = json.loads(export.data)
    assert data["email"] == "ada@example.com"
    assert data["status"] == "active"
    assert (data["hour"], data["timezone"], data["frequency"]) == (9, "Europe/Paris", "daily")
    assert data["topics"] == []
    kinds = [event["kind"] for event in data["consent_events"]]
    assert kinds == ["import", "preferences", "preferences"]
    assert data["consent_events"][1]["user_agent"] == UA["User-Agent"]
    assert data["consent_events"][1]["ip_address"] == "127.0.0.1"
    assert len(_events(app)) == events_before  # downloading changes nothing
    other = _make_reader(app, "other@example.com")
    assert "ada@example.com" not in client.get(f"{_prefs_path(other)}/data.json").get_data(
        as_text=True
    )
    assert (
        client.get(
            f"/preferences/{_tampered(_token(Purpose.PREFERENCES, reader))}/data.json"
        ).status_code
        == 404
    )


def test_erase_needs_csrf_and_the_box_ticked(app: Flask, client: FlaskClient, reader: int) -> None:
    path = _prefs_path(reader)
    page = client.get(path)
    erase_csrf = _csrf(page.data, action=f"{path}/erase")
    preferences_csrf = _csrf(page.data)
    assert client.post(f"{path}/erase", data={"confirm_erase": "yes"}).status_code == 400
    assert (
        client.post(
            f"{path}/erase", data={"confirm_erase": "yes", "csrf_token": preferences_csrf}
        ).status_code
        == 400
    )
    unticked = client.post(f"{path}/erase", data={"csrf_token": erase_csrf})
    assert unticked.status_code == 422
    assert "Tick the box" in unticked.get_data(as_text=True)
    assert _status(app, reader) is SubscriberStatus.ACTIVE
    assert client.get(f"{path}/erase").status_code == 405
    assert _status(app, reader) is SubscriberStatus.ACTIVE


def test_erase_removes_the_reader_and_keeps_only_a_hash(
    app: Flask, client: FlaskClient, reader: int, smtp_server: RecordingSMTPServer
) -> None:
    path = _prefs_path(reader)
    unsubscribe_path = f"/unsubscribe/{_token(Purpose.UNSUBSCRIBE, reader)}"
    erase_csrf = _csrf(client.get(path).data, action=f"{path}/erase")
    answer = client.post(
        f"{path}/erase", data={"csrf_token": erase_csrf, "confirm_erase": "yes"}, headers=UA
    )
    assert answer.status_code == 200
    assert "Your data is deleted" in answer.get_data(as_text=True)

    assert _get(app, reader) is None
    with app_session(app) as session:
        [suppression] = session.scalars(select(Suppression)).all()
        assert suppression.email_hash == email_hash("ada@example.com", SECRET)
        assert suppression.reason == "erased"
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0
    events = _events(app)
    assert [event.kind for event in events] == [ConsentKind.IMPORT, ConsentKind.ERASE]
    for event in events:
        assert event.subscriber_id is None and event.ip_address is None
        assert event.user_agent is None
        assert "ada@example.com" not in json.dumps(event.details)

    # Old links find nothing; a one-click from an old email is still answered 200.
    assert client.get(path).status_code == 404
    assert client.get(f"{path}/data.json").status_code == 404
    assert client.get(unsubscribe_path).status_code == 404
    one_click = client.post(unsubscribe_path, data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200

    # Signing up again is answered as usual, and stores and sends nothing.
    again = client.post(
        "/subscribe",
        data={"email": "Ada@example.com"},
        headers={"Origin": "https://news.example.com"},
    )
    assert again.status_code == 200 and b"Check your inbox" in again.data
    assert smtp_server.messages == []
    with app_session(app) as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 0
    assert len(_events(app)) == 2


def _erase(client: FlaskClient, preferences_path: str) -> None:
    page = client.get(preferences_path)
    erase_csrf = _csrf(page.data, action=f"{preferences_path}/erase")
    answer = client.post(
        f"{preferences_path}/erase", data={"csrf_token": erase_csrf, "confirm_erase": "yes"}
    )
    assert answer.status_code == 200


def test_an_erased_readers_id_is_never_given_to_the_next_reader(
    app: Flask, client: FlaskClient, reader: int, smtp_server: RecordingSMTPServer
) -> None:
    _erase(client, _prefs_path(reader))
    answer = client.post(
        "/subscribe",
        data={"email": "bob@example.com"},
        headers={"Origin": "https://news.example.com"},
    )
    assert answer.status_code == 200
    with app_session(app) as session:
        bob = session.scalar(select(Subscriber.id).where(Subscriber.email == "bob@example.com"))
    assert bob is not None and bob != reader


def test_an_erased_readers_links_never_open_the_reader_given_her_id(
    app: Flask, client: FlaskClient
) -> None:
    """Alice keeps the links of her emails and erases herself; her id then goes to Bob (as
    SQLite gave it before ids were kept, and may still give one freed before the upgrade).
    Her links show nothing of Bob and change nothing, whatever they are posted with."""
    alice = _make_reader(app, "alice@example.com", confirmed=False)
    kept = {purpose: link_token(app, purpose, alice) for purpose in Purpose}
    _erase(client, f"/preferences/{kept[Purpose.PREFERENCES]}")
    with app_session(app) as session:
        session.add(Subscriber(id=alice, email="bob@example.com", topics=[]))
        session.commit()
    events = len(_events(app))

    guard = app.extensions["newsalerts"].guard
    preferences = f"/preferences/{kept[Purpose.PREFERENCES]}"
    unsubscribe = f"/unsubscribe/{kept[Purpose.UNSUBSCRIBE]}"
    confirm = f"/confirm/{kept[Purpose.CONFIRM]}"
    answers = [
        client.get(preferences),
        client.get(f"{preferences}/data.json"),
        client.get(unsubscribe),
        client.get(confirm),
        client.post(
            preferences,
            data={
                "csrf_token": guard.csrf_token("preferences", kept[Purpose.PREFERENCES]),
                "frequency": "weekly",
            },
        ),
        client.post(
            f"{preferences}/erase",
            data={
                "csrf_token": guard.csrf_token("erase", kept[Purpose.PREFERENCES]),
                "confirm_erase": "yes",
            },
        ),
        client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"}),
        client.post(
            unsubscribe,
            data={"csrf_token": guard.csrf_token("unsubscribe", kept[Purpose.UNSUBSCRIBE])},
        ),
        client.post(
            confirm, data={"csrf_token": guard.csrf_token("confirm", kept[Purpose.CONFIRM])}
        ),
    ]
    for answer in answers:
        assert answer.status_code == 404, answer.request.path
        assert "This link is not valid." in answer.get_data(as_text=True)
        assert b"bob@example.com" not in answer.data
    bob = _get(app, alice)
    assert bob is not None and bob.email == "bob@example.com"
    assert (bob.status, bob.frequency) == (SubscriberStatus.PENDING, Frequency.DAILY)
    assert len(_events(app)) == events

    # Bob's own links, signed with his link key, open his pages.
    assert (
        client.get(f"/preferences/{link_token(app, Purpose.PREFERENCES, alice)}").status_code == 200
    )


@pytest.mark.parametrize("purpose", list(Purpose))
def test_a_link_naming_an_id_beyond_the_column_is_not_valid(
    app: Flask, client: FlaskClient, purpose: Purpose
) -> None:
    """The id is read before the token is checked: one no column holds is a 404, not a 500."""
    token = TokenSigner([SECRET]).sign(purpose, 2**40, link_key=None)
    answer = client.get(f"/{purpose.value}/{token}")
    assert answer.status_code == 404
    assert "This link is not valid." in answer.get_data(as_text=True)


# --- unsubscribe -----------------------------------------------------------------------


def _unsubscribe_path(subscriber_id: int, *, age: float = 0) -> str:
    return f"/unsubscribe/{_token(Purpose.UNSUBSCRIBE, subscriber_id, age=age)}"


def test_unsubscribe_get_only_shows_a_button(app: Flask, client: FlaskClient, reader: int) -> None:
    page = client.get(_unsubscribe_path(reader))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "ada@example.com" in html and "<button" in html
    assert client.get(_unsubscribe_path(reader)).status_code == 200
    assert _status(app, reader) is SubscriberStatus.ACTIVE
    assert len(_events(app)) == 1


def _one_click_event(app: Flask) -> ConsentEvent:
    [event] = [e for e in _events(app) if e.kind is ConsentKind.UNSUBSCRIBE]
    return event


def test_one_click_form_urlencoded(app: Flask, client: FlaskClient, reader: int) -> None:
    path = _unsubscribe_path(reader)
    answer = client.post(
        path,
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
        headers={"User-Agent": "MailboxProvider/1.0"},
    )
    assert answer.status_code == 200
    assert "Location" not in answer.headers
    assert answer.get_data(as_text=True) == "Unsubscribed.\n"
    _no_cookies(answer)
    assert _status(app, reader) is SubscriberStatus.UNSUBSCRIBED
    event = _one_click_event(app)
    assert (event.subscriber_id, event.source, event.user_agent) == (
        reader,
        "one-click",
        "MailboxProvider/1.0",
    )
    # Providers may retry: still 200, and no second event.
    again = client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert again.status_code == 200 and "Location" not in again.headers
    assert _one_click_event(app).id == event.id


def test_one_click_multipart(app: Flask, client: FlaskClient, reader: int) -> None:
    answer = client.post(
        _unsubscribe_path(reader),
        data={"List-Unsubscribe": "One-Click"},
        content_type="multipart/form-data",
    )
    assert answer.status_code == 200
    assert "Location" not in answer.headers
    assert _status(app, reader) is SubscriberStatus.UNSUBSCRIBED
    assert _one_click_event(app).source == "one-click"


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({}, id="empty"),
        pytest.param({"List-Unsubscribe": "one-click-please"}, id="other-value"),
        pytest.param({"csrf_token": "0" * 64}, id="wrong-csrf"),
    ],
)
def test_unsubscribe_post_without_one_click_needs_csrf(
    app: Flask, client: FlaskClient, reader: int, data: dict[str, str]
) -> None:
    answer = client.post(_unsubscribe_path(reader), data=data)
    assert answer.status_code == 400
    assert _status(app, reader) is SubscriberStatus.ACTIVE
    assert len(_events(app)) == 1


def test_unsubscribe_button_on_the_page(app: Flask, client: FlaskClient, reader: int) -> None:
    path = _unsubscribe_path(reader)
    csrf = _csrf(client.get(path).data)
    answer = client.post(path, data={"csrf_token": csrf}, headers=UA)
    assert answer.status_code == 200
    assert "You are unsubscribed" in answer.get_data(as_text=True)
    assert _status(app, reader) is SubscriberStatus.UNSUBSCRIBED
    event = _one_click_event(app)
    assert (event.source, event.user_agent, event.wording_version) == (
        "unsubscribe-page",
        UA["User-Agent"],
        WORDING_VERSION,
    )
    assert "You are unsubscribed" in client.get(path).get_data(as_text=True)


def test_unsubscribe_and_preference_links_never_expire(
    app: Flask, client: FlaskClient, reader: int
) -> None:
    five_years = 5 * 365 * DAY
    assert (
        client.get(
            f"/preferences/{_token(Purpose.PREFERENCES, reader, age=five_years)}"
        ).status_code
        == 200
    )
    old = _unsubscribe_path(reader, age=five_years)
    assert client.get(old).status_code == 200
    assert client.post(old, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert _status(app, reader) is SubscriberStatus.UNSUBSCRIBED


@pytest.mark.parametrize(
    "make_token",
    [
        pytest.param(lambda i: _tampered(_token(Purpose.UNSUBSCRIBE, i)), id="tampered"),
        pytest.param(lambda i: _token(Purpose.CONFIRM, i), id="confirm-token"),
        pytest.param(lambda i: _token(Purpose.PREFERENCES, i), id="preferences-token"),
        pytest.param(lambda i: _token(Purpose.UNSUBSCRIBE, i, key="x" * 40), id="other-key"),
        pytest.param(lambda i: "garbage", id="garbage"),
    ],
)
def test_foreign_or_tampered_unsubscribe_token_changes_nothing(
    app: Flask, client: FlaskClient, reader: int, make_token: Any
) -> None:
    path = f"/unsubscribe/{make_token(reader)}"
    assert client.get(path).status_code == 404
    assert client.post(path, data={"List-Unsubscribe": "One-Click"}).status_code == 404
    assert _status(app, reader) is SubscriberStatus.ACTIVE
    assert len(_events(app)) == 1


def test_reader_unsubscribed_during_a_send_gets_nothing(
    app: Flask, client: FlaskClient, web_settings: Settings, smtp_server: RecordingSMTPServer
) -> None:
    runtime = app.extensions["newsalerts"].runtime
    now = utcnow()
    ada = _make_reader(app, "ada@example.com")
    bram = _make_reader(app, "bram@example.com")
    with app_session(app) as session:
        articles(session, now, ("vote", ("Harbour City election",), timedelta(hours=1)))
        session.commit()
        assert plan_digests(session, now=now, force=True).planned == 2
        session.commit()
        batches = claim_queue(session, now=now, batch_size=50)
        session.commit()

    one_click = client.post(_unsubscribe_path(ada), data={"List-Unsubscribe": "One-Click"})
    assert one_click.status_code == 200

    with app_session(app) as session:
        for batch in batches:
            send_batch(
                session,
                batch,
                composer=runtime.composer(session),
                transport=transport_from_url(smtp_server.url),
            )
        statuses = dict(session.execute(select(Delivery.subscriber_id, Delivery.status)).all())
    assert [m.recipients for m in smtp_server.messages] == [["bram@example.com"]]
    assert statuses == {ada: DeliveryStatus.SUPPRESSED, bram: DeliveryStatus.SENT}
    assert web_settings.base_url == "https://alerts.example.com"
