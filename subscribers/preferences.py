"""Validation of a reader's delivery preferences: frequency, time zone, send hour."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from subscribers.errors import InvalidPreference
from subscribers.models import Frequency

DEFAULT_HOUR = 7
DEFAULT_TIMEZONE = "UTC"


_FREQUENCIES = {member.value: member for member in Frequency}


def parse_frequency(raw: str | None) -> Frequency:
    value = (raw or Frequency.DAILY.value).strip().lower()
    frequency = _FREQUENCIES.get(value)
    if frequency is None:
        choices = ", ".join(member.value for member in Frequency)
        raise InvalidPreference("frequency", f"{raw!r} is not one of {choices}")
    return frequency


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


@lru_cache(maxsize=1)
def _loaded_zones() -> set[str]:
    """Zone names ZoneInfo loaded once already (a subset of the IANA names: bounded)."""
    return set()


def parse_timezone(raw: str | None) -> str:
    """Return an IANA zone name; refuse anything ZoneInfo cannot load."""
    value = (raw or DEFAULT_TIMEZONE).strip()
    if value in _loaded_zones():
        return value  # loaded before: a list of a million readers has a few dozen zones
    if value not in _known_zones() and value != "UTC":
        raise InvalidPreference(
            "timezone", f"{raw!r} is not a time zone we know, such as Europe/Paris"
        )
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidPreference(
            "timezone", f"{raw!r} is not a time zone we know, such as Europe/Paris"
        ) from None
    _loaded_zones().add(value)
    return value


def parse_hour(raw: str | int | None) -> int:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return DEFAULT_HOUR
    try:
        hour = int(raw)
    except ValueError:
        raise InvalidPreference("hour", f"{raw!r} is not a whole number from 0 to 23") from None
    if not 0 <= hour <= 23:
        raise InvalidPreference("hour", f"{hour} is not between 0 and 23")
    return hour
