"""A reader's dates, times and numbers, as their locale writes them (Babel, CLDR data).

English keeps the house style it always had ("Tuesday 10 March 2026", "07:42"); every
other language gets CLDR's own full date and short time ("Dienstag, 10. März 2026",
"mardi 10 mars 2026", "الثلاثاء، 10 مارس 2026"). Times are turned into the reader's zone
by the caller, which knows it.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time
from babel.numbers import format_decimal

from subscribers.languages import primary_subtag

# The site's English is British: day before month, a 24-hour clock.
_ENGLISH = "en_GB"
_ENGLISH_DAY = "EEEE d MMMM y"


@lru_cache(maxsize=64)
def locale_of(language: str) -> Locale:
    """Babel's locale for a BCP 47 tag (`pt-BR`); English for one Babel does not know."""
    if primary_subtag(language) == "en":
        return Locale.parse(_ENGLISH)
    try:
        return Locale.parse(language.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        try:
            return Locale.parse(primary_subtag(language))
        except (UnknownLocaleError, ValueError):
            return Locale.parse(_ENGLISH)


@lru_cache(maxsize=4096)
def format_day(day: date, language: str) -> str:
    """A day in full: 'Tuesday 10 March 2026', 'Dienstag, 10. März 2026'."""
    locale = locale_of(language)
    pattern = _ENGLISH_DAY if locale.language == "en" else "full"
    return format_date(day, pattern, locale=locale)


def format_clock(moment: datetime, language: str) -> str:
    """A time of day as the locale writes it ('07:42', '7:42', '7:42 ص'); `moment` is
    already in the reader's zone."""
    return format_time(moment, "short", locale=locale_of(language))


def format_weekday(day: date, language: str) -> str:
    """A day's short name: 'Tue', 'Di.', 'mar.'."""
    return format_date(day, "EEE", locale=locale_of(language))


def format_number(number: int, language: str) -> str:
    """A count as the locale writes it ('1,204', '1.204', '1 204')."""
    return format_decimal(number, locale=locale_of(language))


__all__ = ["format_clock", "format_day", "format_number", "format_weekday", "locale_of"]
