"""The List-Id of each edition (RFC 2919): the edition's name as its description, its slug
as the first label, the rest of LIST_ID after it; never an encoded word."""

from __future__ import annotations

import pytest

from alerts.mail.envelope import edition_list_id

REST = "news-alerts.example.com"


@pytest.mark.parametrize(
    ("slug", "name", "expected"),
    [
        ("daily", "Daily briefing", "Daily briefing <daily.news-alerts.example.com>"),
        ("election", "Election night", "Election night <election.news-alerts.example.com>"),
        # Specials in the name: a quoted string, its quotes and backslashes dropped.
        ("late", 'Late, "late" \\ news', '"Late, late  news" <late.news-alerts.example.com>'),
        ("am", "A.M. edition", '"A.M. edition" <am.news-alerts.example.com>'),
        # Not plain ASCII, or a line break: no description rather than an encoded word.
        ("morgen", "Morgenüberblick", "<morgen.news-alerts.example.com>"),
        ("evil", "Evil\r\nBcc: x@example.com", "<evil.news-alerts.example.com>"),
        ("blank", "", "<blank.news-alerts.example.com>"),
        # A slug is a DNS label already; anything else is made one.
        ("Odd_Slug-", "Odd", "Odd <odd-slug.news-alerts.example.com>"),
    ],
)
def test_an_editions_list_id(slug: str, name: str, expected: str) -> None:
    assert edition_list_id(REST, slug, name) == expected
