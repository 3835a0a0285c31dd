"""A reader's keywords: cleaned, limited, stored once, shown as typed, exported, erased."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from subscribers.errors import InvalidPreference
from subscribers.keywords import (
    MAX_KEYWORD_CHARS,
    TypedKeyword,
    normalise_keyword,
    parse_keywords,
    set_keywords,
    split_keywords,
)
from subscribers.lifecycle import erase, export_data
from subscribers.models import Keyword, ReaderKeyword
from subscribers.services import Origin
from tests.factories import make_reader


def test_a_keyword_is_kept_as_typed_and_normalised() -> None:
    assert normalise_keyword('  "Central   Bank" ') == TypedKeyword("Central Bank", "central bank")
    assert normalise_keyword("Zürich") == TypedKeyword("Zürich", "zürich")
    assert normalise_keyword("AT&T") == TypedKeyword("AT&T", "at t")
    assert normalise_keyword("   ") is None


def test_control_and_format_characters_are_stripped() -> None:
    keyword = normalise_keyword("reser\x00voir\u202e\r\nlevels\x1b")
    assert keyword == TypedKeyword("reservoir levels", "reservoir levels")


@pytest.mark.parametrize("bad", ["x" * (MAX_KEYWORD_CHARS + 1), "!!!", " ".join(["word"] * 9)])
def test_a_keyword_too_long_or_without_words_is_refused(bad: str) -> None:
    with pytest.raises(InvalidPreference) as caught:
        normalise_keyword(bad)
    assert caught.value.field == "keywords"


def test_repeats_are_dropped_and_the_limit_holds() -> None:
    parsed = parse_keywords(["Reservoir", "reservoir", '"Central Bank"'], limit=2)
    assert [keyword.typed for keyword in parsed] == ["Reservoir", "Central Bank"]
    with pytest.raises(InvalidPreference, match="at most 2"):
        parse_keywords(["one", "two", "three"], limit=2)


def test_one_field_splits_into_words_and_quoted_phrases() -> None:
    assert split_keywords('"Central Bank" reservoir, Kestrel') == [
        "Central Bank",
        "reservoir",
        "Kestrel",
    ]
    assert split_keywords("Central Bank; Kestrel Valley\nreservoir") == [
        "Central Bank",
        " Kestrel Valley",
        "reservoir",
    ]


def test_keywords_are_stored_once_and_erased_with_the_last_reader(session: Session) -> None:
    first = make_reader(session, "first")
    second = make_reader(session, "second")
    set_keywords(session, first, parse_keywords(["Reservoir", "Lighthouse"]))
    set_keywords(session, second, parse_keywords(["reservoir"]))
    session.commit()
    assert session.scalar(select(func.count()).select_from(Keyword)) == 2
    assert export_data(session, first)["keywords"] == ["Reservoir", "Lighthouse"]
    erase(session, first, hash_key="k", origin=Origin("test"))
    session.commit()
    assert session.scalars(select(Keyword.phrase)).all() == ["reservoir"]
    assert session.scalar(select(func.count()).select_from(ReaderKeyword)) == 1
    assert export_data(session, second)["keywords"] == ["reservoir"]
