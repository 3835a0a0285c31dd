"""Readers through the publisher API: what a CMS may send, and what it is told back.

A CMS either passes a reader on for double opt-in (the reader gets the confirmation email,
and the answer never says whether the address was known), or, with a token allowed to,
imports a reader who consented on the publisher's side as active at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from alerts.feeds.articles import MAX_TOPIC_NAME_LENGTH
from alerts.web.forms import parse_preferences
from subscribers.addresses import normalise_email
from subscribers.errors import InvalidPreference
from subscribers.lifecycle import Preferences
from subscribers.models import Subscriber

FIELDS = frozenset(
    {"email", "topics", "frequency", "hour", "send_hour", "timezone", "breaking_alerts"}
    | {"confirmed", "keywords", "keyword_alerts", "language"}
)
# The hour is `hour`, as in the sign-up form's JSON and the CSV; `send_hour` is its alias.
HOUR_FIELDS = ("hour", "send_hour")


@dataclass(frozen=True)
class SubscriberRequest:
    email: str  # normalised
    preferences: Preferences
    confirmed: bool


def parse_subscriber_request(
    data: Mapping[str, Any], *, default_timezone: str, keyword_limit: int
) -> SubscriberRequest:
    """Raises InvalidEmail, or InvalidPreference naming the field."""
    unknown = sorted(str(key) for key in data if key not in FIELDS)
    if unknown:
        raise InvalidPreference(unknown[0][:50], "unknown field")
    email = data.get("email")
    if not isinstance(email, str):
        raise InvalidPreference("email", "an email address is required")
    _check_storable(data)
    for flag in ("breaking_alerts", "keyword_alerts", "confirmed"):
        if not isinstance(data.get(flag, False), bool):
            raise InvalidPreference(flag, "must be true or false")
    field, hour = _hour(data)
    if data.get("keywords") is not None and not isinstance(data.get("keywords"), list):
        raise InvalidPreference("keywords", "must be a list of words or phrases")
    values = {key: value for key, value in data.items() if key != "send_hour"} | {"hour": hour}
    try:
        preferences = parse_preferences(
            values, default_timezone=default_timezone, keyword_limit=keyword_limit
        )
    except InvalidPreference as error:
        if error.field == "hour":
            raise InvalidPreference(field, error.reason) from None
        raise
    return SubscriberRequest(
        email=normalise_email(email),
        preferences=preferences,
        confirmed=bool(data.get("confirmed", False)),
    )


def _hour(data: Mapping[str, Any]) -> tuple[str, Any]:
    """The hour a body gives, and the name it gave it under (`hour`, else `send_hour`).
    Raises InvalidPreference naming that field when it is not a whole number, or `hour`
    when both names are given different values."""
    given = [(name, data[name]) for name in HOUR_FIELDS if data.get(name) is not None]
    if len({repr(value) for _, value in given}) > 1:
        raise InvalidPreference("hour", "give the hour once (send_hour is another name for it)")
    field, hour = given[0] if given else ("hour", None)
    if hour is not None and (isinstance(hour, bool) or not isinstance(hour, int)):
        raise InvalidPreference(field, "must be a whole number from 0 to 23")
    return field, hour


def _check_storable(data: Mapping[str, Any]) -> None:
    """Refuse text no column can hold, naming the field: a NUL (PostgreSQL refuses it), a
    lone surrogate (JSON can carry "\\ud800", UTF-8 cannot encode it), another control
    character, or a topic longer than a topic's name (a confirmed import creates the
    topics it names). Raises InvalidPreference."""
    topics = data.get("topics")
    texts = [(name, data.get(name)) for name in ("email", "frequency", "timezone", "language")]
    texts += [("topics", topic) for topic in (topics if isinstance(topics, list) else [topics])]
    for name, value in texts:
        if not isinstance(value, str):
            continue  # the parsers refuse what is not text
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidPreference(name, "is not valid Unicode (a lone surrogate)") from None
        if not value.isprintable():
            raise InvalidPreference(name, "must not contain control characters")
        if name == "topics" and len(value.strip()) > MAX_TOPIC_NAME_LENGTH:
            message = f"a topic is longer than {MAX_TOPIC_NAME_LENGTH} characters"
            raise InvalidPreference(name, message)


def subscriber_summary(
    subscriber: Subscriber, *, editions_off: Sequence[str] = ()
) -> dict[str, Any]:
    """What the API says about a reader; `editions_off`, the slugs of the editions they
    turned off (subscribers.editions)."""
    return {
        "email": subscriber.email,
        "status": subscriber.status.value,
        "topics": subscriber.topic_slugs,
        "frequency": subscriber.frequency.value,
        "hour": subscriber.send_hour,
        "send_hour": subscriber.send_hour,  # the alias, kept for existing clients
        "timezone": subscriber.timezone,
        "breaking_alerts": subscriber.breaking_alerts,
        "keywords": subscriber.keyword_texts,
        "keyword_alerts": subscriber.keyword_alerts,
        "language": subscriber.language,
        "editions_off": list(editions_off),
        "created_at": _iso(subscriber.created_at),
        "confirmed_at": _iso(subscriber.confirmed_at),
    }


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None
