"""Dates, times and counts as each reader's locale writes them."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from alerts.translations import format_clock, format_day, format_number, text_direction

TUESDAY = date(2026, 3, 10)


@pytest.mark.parametrize(
    ("language", "day", "clock"),
    [
        ("en", "Tuesday 10 March 2026", "07:05"),
        ("de", "Dienstag, 10. März 2026", "07:05"),
        ("fr", "mardi 10 mars 2026", "07:05"),
        ("es", "martes, 10 de marzo de 2026", "7:05"),
        ("ar", "الثلاثاء، 10 مارس 2026", "7:05 ص"),
    ],
)
def test_a_day_and_a_time_in_each_shipped_language(language: str, day: str, clock: str) -> None:
    assert format_day(TUESDAY, language) == day
    assert format_clock(datetime(2026, 3, 10, 7, 5), language) == clock


def test_counts_group_their_digits_as_the_locale_does() -> None:
    assert format_number(12345, "en") == "12,345"
    assert format_number(12345, "de") == "12.345"


def test_a_language_babel_does_not_know_reads_as_english() -> None:
    assert format_day(TUESDAY, "xx") == "Tuesday 10 March 2026"


def test_arabic_is_right_to_left() -> None:
    assert [text_direction(tag) for tag in ("ar", "ar-EG", "de", "en")] == [
        "rtl",
        "rtl",
        "ltr",
        "ltr",
    ]
