"""Parsing what a visitor sends (HTML form or JSON) into checked values, or a clear error."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import MultiDict

from subscribers.errors import InvalidPreference
from subscribers.keywords import DEFAULT_KEYWORDS_PER_READER, MAX_KEYWORD_CHARS, split_keywords
from subscribers.lifecycle import Preferences
from subscribers.preferences import parse_frequency

MAX_FIELD_LENGTH = 320
MAX_TOPICS = 50
HONEYPOT_FIELD = "website"


@dataclass(frozen=True)
class SignupForm:
    email: str
    preferences: Preferences
    honeypot_filled: bool
    stamp: str | None


def _text(value: object, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise InvalidPreference(field, "must be text")
    text = str(value)
    if len(text) > MAX_FIELD_LENGTH:
        raise InvalidPreference(field, f"is longer than {MAX_FIELD_LENGTH} characters")
    return text


def _topics(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidPreference("topics", "must be a list of topic names")
    if len(value) > MAX_TOPICS:
        raise InvalidPreference("topics", f"choose at most {MAX_TOPICS} topics")
    return [_text(item, "topics") for item in value]


def _keywords(value: object, limit: int) -> list[str] | None:
    """A list (JSON), or one text field of words, quoted phrases and `;`-separated entries
    (an HTML form). None when absent: the reader's list stays as it is."""
    if value is None:
        return None
    if isinstance(value, str):
        if len(value) > (limit + 1) * (MAX_KEYWORD_CHARS + 3):
            raise InvalidPreference("keywords", f"follow at most {limit} keywords")
        return split_keywords(value)
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidPreference("keywords", "must be a list of words or phrases")
    if len(value) > limit * 2 + 10:  # repeats are dropped later; a flood is refused here
        raise InvalidPreference("keywords", f"follow at most {limit} keywords")
    return list(value)


def _flag(value: object, field: str) -> bool:
    """A checkbox (present with any value, or absent) or a JSON boolean."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str):
        return bool(value.strip()) and value.strip().lower() not in ("0", "false", "no", "off")
    raise InvalidPreference(field, "must be true or false")


def form_values(form: MultiDict[str, str]) -> dict[str, Any]:
    """An HTML form as the same shape JSON has: repeatable `topics` becomes a list."""
    values: dict[str, Any] = {key: form.get(key) for key in form}
    values["topics"] = form.getlist("topics")
    return values


def parse_preferences(
    data: Mapping[str, Any],
    *,
    default_timezone: str,
    keyword_limit: int = DEFAULT_KEYWORDS_PER_READER,
    language: str | None = None,
) -> Preferences:
    """Raises InvalidPreference naming the field. The language is `data`'s, else
    `language` (a sign-up's browser language), else None."""
    return Preferences.parse(
        topics=_topics(data.get("topics")),
        frequency=parse_frequency(_text(data.get("frequency"), "frequency") or None),
        timezone=_text(data.get("timezone"), "timezone").strip() or default_timezone,
        hour=_text(data.get("hour"), "hour") or None,
        breaking_alerts=_flag(data.get("breaking_alerts"), "breaking_alerts"),
        keywords=_keywords(data.get("keywords"), keyword_limit),
        keyword_limit=keyword_limit,
        keyword_alerts=_flag(data.get("keyword_alerts"), "keyword_alerts"),
        language=_text(data.get("language"), "language").strip() or language,
    )


def parse_signup(
    data: Mapping[str, Any],
    *,
    default_timezone: str,
    keyword_limit: int = DEFAULT_KEYWORDS_PER_READER,
    language: str | None = None,
) -> SignupForm:
    """Raises InvalidPreference for a malformed field; the address is checked later."""
    email = data.get("email")
    if not isinstance(email, str):
        raise InvalidPreference("email", "an email address is required")
    stamp = data.get("form_stamp")
    return SignupForm(
        email=email,
        preferences=parse_preferences(
            data,
            default_timezone=default_timezone,
            keyword_limit=keyword_limit,
            language=language,
        ),
        honeypot_filled=bool(_text(data.get(HONEYPOT_FIELD), HONEYPOT_FIELD).strip()),
        stamp=stamp if isinstance(stamp, str) else None,
    )
