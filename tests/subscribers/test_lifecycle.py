"""A reader's journey as plain functions on a Session, on both backends: sign-up request,
confirm, preferences, pause, unsubscribe, export and erasure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.models import Cadence, Delivery, DeliveryStatus
from subscribers.addresses import email_hash
from subscribers.errors import InvalidEmail, InvalidPreference, InvalidToken
from subscribers.lifecycle import (
    MAX_PAUSE_WEEKS,
    Preferences,
    Signup,
    SignupResult,
    confirm,
    erase,
    export_data,
    pause,
    request_subscription,
    unsubscribe,
    update_preferences,
)
from subscribers.models import (
    ConsentEvent,
    ConsentKind,
    Frequency,
    Subscriber,
    SubscriberStatus,
    Suppression,
    subscriber_topics,
)
from subscribers.services import Origin, add_subscriber, is_suppressed, reader_of_link
from subscribers.tokens import Purpose, TokenSigner
from subscribers.topics import ensure_topics
from tests.support.rows import count_rows

KEY = "lifecycle-hash-key"
NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
FORM = Origin("form", ip_address="192.0.2.7", user_agent="Browser/1", wording_version="w1")


def _preferences(
    topics: tuple[str, ...] = (),
    frequency: Frequency = Frequency.DAILY,
    timezone: str | None = "Europe/Paris",
    hour: int | str | None = 6,
) -> Preferences:
    return Preferences.parse(topics=topics, frequency=frequency, timezone=timezone, hour=hour)


def _request(session: Session, email: str, preferences: Preferences | None = None) -> Signup:
    return request_subscription(
        session,
        email=email,
        preferences=preferences or _preferences(),
        origin=FORM,
        hash_key=KEY,
        now=NOW,
    )


def _events(session: Session) -> list[ConsentEvent]:
    return list(session.scalars(select(ConsentEvent).order_by(ConsentEvent.id)))


@pytest.fixture
def topics(session: Session) -> None:
    ensure_topics(session, ["Harbour City election", "Chip shortage", "Weather"])
    session.commit()


# --- Preferences.parse -----------------------------------------------------------------


def test_preferences_parse_checks_and_defaults() -> None:
    parsed = Preferences.parse(topics=["a"], frequency=Frequency.WEEKLY, timezone=None, hour=None)
    assert parsed == Preferences(("a",), Frequency.WEEKLY, "UTC", 7)
    assert _preferences(hour="23").hour == 23
    for bad_hour in ("24", "-1", "x", 99):
        with pytest.raises(InvalidPreference) as error:
            _preferences(hour=bad_hour)
        assert error.value.field == "hour"
    with pytest.raises(InvalidPreference) as error:
        _preferences(timezone="Mars/Base")
    assert error.value.field == "timezone"


# --- request_subscription --------------------------------------------------------------


@pytest.mark.usefixtures("topics")
def test_new_address_becomes_a_pending_reader(session: Session) -> None:
    signup = request_subscription(
        session,
        email="  Ada@Example.COM ",
        preferences=_preferences(topics=("Harbour City election", "chip-shortage"), hour="18"),
        origin=FORM,
        hash_key=KEY,
        now=NOW,
    )
    session.commit()
    assert signup.result is SignupResult.CONFIRM
    reader = session.get(Subscriber, signup.subscriber_id)
    assert reader is not None
    assert (reader.email, reader.status) == ("ada@example.com", SubscriberStatus.PENDING)
    assert reader.topic_slugs == ["chip-shortage", "harbour-city-election"]
    assert (reader.timezone, reader.send_hour, reader.frequency) == (
        "Europe/Paris",
        18,
        Frequency.DAILY,
    )
    assert reader.created_at == NOW and reader.status_changed_at == NOW
    assert reader.confirmed_at is None
    [event] = _events(session)
    assert (event.kind, event.subscriber_id, event.source) == (
        ConsentKind.SUBSCRIBE,
        reader.id,
        "form",
    )
    assert (event.ip_address, event.user_agent, event.wording_version) == (
        "192.0.2.7",
        "Browser/1",
        "w1",
    )


@pytest.mark.usefixtures("topics")
def test_pending_reader_asking_again_takes_the_new_choices(session: Session) -> None:
    first = _request(session, "ada@example.com", _preferences(topics=("weather",)))
    again = _request(
        session, "ADA@example.com", _preferences(topics=("chip-shortage",), hour=9, timezone="UTC")
    )
    session.commit()
    assert again.result is SignupResult.CONFIRM
    assert again.subscriber_id == first.subscriber_id
    reader = session.get(Subscriber, first.subscriber_id)
    assert reader is not None
    assert (reader.topic_slugs, reader.send_hour, reader.timezone) == (["chip-shortage"], 9, "UTC")
    assert count_rows(session, Subscriber) == 1
    assert [e.kind for e in _events(session)] == [ConsentKind.SUBSCRIBE, ConsentKind.SUBSCRIBE]


@pytest.mark.usefixtures("topics")
def test_active_reader_is_sent_a_manage_email_and_keeps_their_choices(session: Session) -> None:
    reader = add_subscriber(
        session,
        email="ada@example.com",
        origin=Origin("import"),
        hash_key=KEY,
        topics=["Weather"],
        send_hour=5,
        confirmed=True,
    )
    session.commit()
    signup = _request(session, "ada@example.com", _preferences(topics=("chip-shortage",), hour=20))
    session.commit()
    assert signup.result is SignupResult.MANAGE
    assert signup.subscriber_id == reader.id
    session.refresh(reader)
    assert (reader.status, reader.topic_slugs, reader.send_hour) == (
        SubscriberStatus.ACTIVE,
        ["weather"],
        5,
    )
    assert [e.kind for e in _events(session)] == [ConsentKind.IMPORT, ConsentKind.SUBSCRIBE]


def test_unsubscribed_reader_may_ask_again(session: Session) -> None:
    reader = add_subscriber(
        session, email="ada@example.com", origin=Origin("t"), hash_key=KEY, confirmed=True
    )
    unsubscribe(session, reader, origin=FORM, now=NOW)
    session.commit()
    later = NOW + timedelta(days=3)
    signup = request_subscription(
        session,
        email="ada@example.com",
        preferences=_preferences(),
        origin=FORM,
        hash_key=KEY,
        now=later,
    )
    session.commit()
    assert signup.result is SignupResult.CONFIRM
    session.refresh(reader)
    assert reader.status is SubscriberStatus.PENDING
    assert reader.status_changed_at == later


def test_a_reader_who_comes_back_after_unsubscribing_gets_new_links(session: Session) -> None:
    """Links from before the unsubscription (perhaps forwarded, or read by someone else)
    stop working; links of a reader who only asks again while pending or active do not."""
    signer = TokenSigner(["secret"])
    reader = add_subscriber(
        session, email="ada@example.com", origin=Origin("t"), hash_key=KEY, confirmed=True
    )
    session.commit()
    old = {
        purpose: signer.sign(purpose, reader.id, link_key=reader.link_key) for purpose in Purpose
    }
    _request(session, "ada@example.com")  # active: a "manage" email, same links
    session.commit()
    for purpose, token in old.items():
        assert reader_of_link(session, signer, purpose, token) is reader

    unsubscribe(session, reader, origin=FORM, now=NOW)
    _request(session, "ada@example.com")
    session.commit()
    for purpose, token in old.items():
        with pytest.raises(InvalidToken, match="not valid"):
            reader_of_link(session, signer, purpose, token)
    fresh = signer.sign(Purpose.CONFIRM, reader.id, link_key=reader.link_key)
    assert reader_of_link(session, signer, Purpose.CONFIRM, fresh) is reader
    pending = signer.sign(Purpose.UNSUBSCRIBE, reader.id, link_key=reader.link_key)
    _request(session, "ada@example.com")  # still pending: the confirmation email just sent stays
    session.commit()
    assert reader_of_link(session, signer, Purpose.UNSUBSCRIBE, pending) is reader


@pytest.mark.parametrize("status", [SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED])
def test_bounced_or_complained_reader_is_sent_nothing(
    session: Session, status: SubscriberStatus
) -> None:
    reader = add_subscriber(
        session, email="ada@example.com", origin=Origin("t"), hash_key=KEY, confirmed=True
    )
    reader.status = status
    session.commit()
    events = len(_events(session))
    signup = _request(session, "ada@example.com")
    session.commit()
    assert (signup.result, signup.subscriber_id) == (SignupResult.NOTHING, None)
    session.refresh(reader)
    assert reader.status is status
    assert len(_events(session)) == events


def test_suppressed_address_is_sent_nothing_and_nothing_is_stored(session: Session) -> None:
    reader = add_subscriber(session, email="ada@example.com", origin=Origin("t"), hash_key=KEY)
    erase(session, reader, hash_key=KEY, origin=FORM)
    session.commit()
    events = len(_events(session))
    signup = _request(session, "Ada@Example.com")
    session.commit()
    assert (signup.result, signup.subscriber_id) == (SignupResult.NOTHING, None)
    assert count_rows(session, Subscriber) == 0
    assert len(_events(session)) == events


@pytest.mark.usefixtures("topics")
def test_unknown_topic_is_refused_before_anything_is_stored(session: Session) -> None:
    with pytest.raises(InvalidPreference) as error:
        _request(session, "ada@example.com", _preferences(topics=("weather", "no-such-topic")))
    assert error.value.field == "topics"
    assert "no-such-topic" in error.value.reason
    session.rollback()
    assert count_rows(session, Subscriber) == 0
    assert count_rows(session, ConsentEvent) == 0


@pytest.mark.parametrize(
    "address", ["nope", "a@b.test\r\nBcc: c@d.test", "Ada <ada@example.com>", "", "x" * 300]
)
def test_invalid_address_is_refused(session: Session, address: str) -> None:
    with pytest.raises(InvalidEmail):
        _request(session, address)
    session.rollback()
    assert count_rows(session, Subscriber) == 0


# --- confirm ---------------------------------------------------------------------------


def test_confirm_activates_a_pending_reader_once(session: Session) -> None:
    signup = _request(session, "ada@example.com")
    session.commit()
    reader = session.get(Subscriber, signup.subscriber_id)
    assert reader is not None
    at = NOW + timedelta(hours=1)
    link = Origin(
        "confirm-link", ip_address="198.51.100.1", user_agent="Phone", wording_version="w2"
    )
    assert confirm(session, reader, origin=link, now=at) is True
    session.commit()
    assert (reader.status, reader.confirmed_at, reader.status_changed_at) == (
        SubscriberStatus.ACTIVE,
        at,
        at,
    )
    event = _events(session)[-1]
    assert (event.kind, event.subscriber_id, event.ip_address, event.user_agent) == (
        ConsentKind.CONFIRM,
        reader.id,
        "198.51.100.1",
        "Phone",
    )
    assert event.wording_version == "w2"
    assert confirm(session, reader, origin=link, now=at + timedelta(hours=1)) is False
    session.commit()
    assert reader.confirmed_at == at
    assert len(_events(session)) == 2


@pytest.mark.parametrize(
    "status",
    [SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED],
)
def test_confirm_does_not_revive_a_reader_who_left(
    session: Session, status: SubscriberStatus
) -> None:
    reader = add_subscriber(session, email="ada@example.com", origin=Origin("t"), hash_key=KEY)
    reader.status = status
    session.commit()
    assert confirm(session, reader, origin=FORM, now=NOW) is False
    session.commit()
    session.refresh(reader)
    assert reader.status is status and reader.confirmed_at is None
    assert [e.kind for e in _events(session)] == [ConsentKind.SUBSCRIBE]


# --- preferences and pause -------------------------------------------------------------


@pytest.fixture
def reader(session: Session) -> Subscriber:
    subscriber = add_subscriber(
        session,
        email="ada@example.com",
        origin=Origin("t"),
        hash_key=KEY,
        topics=["Harbour City election"],
        confirmed=True,
        now=NOW - timedelta(days=30),
    )
    session.commit()
    return subscriber


@pytest.mark.usefixtures("topics")
def test_update_preferences_records_what_changed(session: Session, reader: Subscriber) -> None:
    update_preferences(
        session,
        reader,
        _preferences(topics=("weather", "Chip shortage"), frequency=Frequency.WEEKLY, hour=21),
        origin=FORM,
    )
    session.commit()
    session.refresh(reader)
    assert reader.topic_slugs == ["chip-shortage", "weather"]
    assert (reader.frequency, reader.send_hour, reader.timezone) == (
        Frequency.WEEKLY,
        21,
        "Europe/Paris",
    )
    event = _events(session)[-1]
    assert (event.kind, event.subscriber_id, event.ip_address) == (
        ConsentKind.PREFERENCES,
        reader.id,
        "192.0.2.7",
    )
    details = dict(event.details)
    assert sorted(details.pop("topics")) == ["chip-shortage", "weather"]
    assert details == {
        "frequency": "weekly",
        "timezone": "Europe/Paris",
        "hour": 21,
        "breaking_alerts": False,
        "keyword_alerts": False,
    }


@pytest.mark.usefixtures("topics")
def test_update_preferences_with_an_unknown_topic_changes_nothing(
    session: Session, reader: Subscriber
) -> None:
    with pytest.raises(InvalidPreference):
        update_preferences(
            session, reader, _preferences(topics=("weather", "nope"), hour=1), origin=FORM
        )
    session.rollback()
    session.refresh(reader)
    assert (reader.topic_slugs, reader.send_hour) == (["harbour-city-election"], 7)
    assert [e.kind for e in _events(session)] == [ConsentKind.IMPORT]


def test_pause_sets_and_clears_paused_until(session: Session, reader: Subscriber) -> None:
    pause(session, reader, weeks=3, origin=FORM, now=NOW)
    session.commit()
    session.refresh(reader)
    assert reader.paused_until == NOW + timedelta(weeks=3)
    assert reader.status is SubscriberStatus.ACTIVE
    assert _events(session)[-1].details == {"pause_weeks": 3}
    pause(session, reader, weeks=0, origin=FORM, now=NOW + timedelta(days=1))
    session.commit()
    session.refresh(reader)
    assert reader.paused_until is None
    pause(session, reader, weeks=MAX_PAUSE_WEEKS, origin=FORM, now=NOW)
    assert reader.paused_until == NOW + timedelta(weeks=MAX_PAUSE_WEEKS)


@pytest.mark.parametrize("weeks", [-1, MAX_PAUSE_WEEKS + 1, 10_000])
def test_pause_out_of_range_is_refused(session: Session, reader: Subscriber, weeks: int) -> None:
    with pytest.raises(InvalidPreference) as error:
        pause(session, reader, weeks=weeks, origin=FORM, now=NOW)
    assert error.value.field == "pause"
    session.rollback()
    session.refresh(reader)
    assert reader.paused_until is None
    assert len(_events(session)) == 1


# --- unsubscribe -----------------------------------------------------------------------


def test_unsubscribe_is_idempotent(session: Session, reader: Subscriber) -> None:
    assert unsubscribe(session, reader, origin=FORM, now=NOW) is True
    session.commit()
    assert (reader.status, reader.status_changed_at) == (SubscriberStatus.UNSUBSCRIBED, NOW)
    assert unsubscribe(session, reader, origin=FORM, now=NOW + timedelta(hours=1)) is False
    session.commit()
    assert reader.status_changed_at == NOW
    kinds = [e.kind for e in _events(session)]
    assert kinds == [ConsentKind.IMPORT, ConsentKind.UNSUBSCRIBE]


# --- export and erase ------------------------------------------------------------------


def test_export_holds_everything_stored_about_the_reader(
    session: Session, reader: Subscriber
) -> None:
    other = add_subscriber(session, email="bram@example.com", origin=FORM, hash_key=KEY)
    pause(session, reader, weeks=1, origin=FORM, now=NOW)
    session.commit()
    data = export_data(session, reader)
    assert data["email"] == "ada@example.com"
    assert data["status"] == "active"
    assert data["topics"] == ["harbour-city-election"]
    assert (data["frequency"], data["timezone"], data["hour"]) == ("daily", "UTC", 7)
    assert data["paused_until"] == (NOW + timedelta(weeks=1)).isoformat()
    assert data["created_at"] == (NOW - timedelta(days=30)).isoformat()
    assert [e["kind"] for e in data["consent_events"]] == ["import", "preferences"]
    assert data["consent_events"][1]["ip_address"] == "192.0.2.7"
    assert data["consent_events"][1]["user_agent"] == "Browser/1"
    assert "bram@example.com" not in str(data)
    assert export_data(session, other)["consent_events"][0]["kind"] == "subscribe"


def test_erase_keeps_only_a_keyed_hash(session: Session, reader: Subscriber) -> None:
    reader_id = reader.id
    session.add(
        Delivery(
            edition=Cadence.DAILY,
            subscriber_id=reader_id,
            local_date=NOW.date(),
            status=DeliveryStatus.SENT,
            article_ids=[],
            attempts=1,
            created_at=NOW,
        )
    )
    unsubscribe(session, reader, origin=FORM, now=NOW)
    session.commit()

    erase(session, reader, hash_key=KEY, origin=FORM)
    session.commit()
    session.expunge_all()

    assert session.get(Subscriber, reader_id) is None
    assert count_rows(session, Delivery) == 0
    assert session.scalar(select(func.count()).select_from(subscriber_topics)) == 0
    [suppression] = session.scalars(select(Suppression)).all()
    assert suppression.email_hash == email_hash("ada@example.com", KEY)
    assert suppression.reason == "erased"
    assert is_suppressed(session, "ADA@example.com", hash_key=KEY)
    events = _events(session)
    assert [e.kind for e in events] == [
        ConsentKind.IMPORT,
        ConsentKind.UNSUBSCRIBE,
        ConsentKind.ERASE,
    ]
    for event in events:
        assert event.subscriber_id is None
        assert event.ip_address is None and event.user_agent is None
    assert [e.details for e in events[:-1]] == [{}, {}]
    assert events[-1].details == {"email_hash": suppression.email_hash}
    assert events[-1].source == "form"


def test_erase_leaves_other_readers_alone(session: Session, reader: Subscriber) -> None:
    other = add_subscriber(session, email="bram@example.com", origin=FORM, hash_key=KEY)
    session.commit()
    erase(session, reader, hash_key=KEY, origin=FORM)
    session.commit()
    session.refresh(other)
    assert other.status is SubscriberStatus.PENDING
    [event] = session.scalars(
        select(ConsentEvent).where(ConsentEvent.subscriber_id == other.id)
    ).all()
    assert event.ip_address == "192.0.2.7"
    assert not is_suppressed(session, "bram@example.com", hash_key=KEY)
