"""A reader's keywords: the words and phrases they follow, cleaned, limited and stored.

A keyword is kept twice: as the reader typed it (shown back to them, in their emails and
in their data) and as a normalised phrase (lower case, its words separated by single
spaces), which is what the matcher indexes. The catalogue (`Keyword`) holds each phrase
once however many readers follow it, so matching an article costs the same for a million
readers as for one; a phrase nobody follows any more is deleted with its matches.

What a reader types never reaches a query as text: it is cleaned here (control and format
characters removed, length and word count limited) and always bound as a parameter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from subscribers.errors import InvalidPreference
from subscribers.models import Keyword, ReaderKeyword, Subscriber

DEFAULT_KEYWORDS_PER_READER = 10
MAX_KEYWORD_CHARS = 80
MAX_KEYWORD_WORDS = 8
# Between keywords in CSV files and in a one-line form field.
KEYWORD_SEPARATOR = ";"
_QUOTES = "\"'\u201c\u201d\u2018\u2019\u00ab\u00bb\u201e"
_WORD = re.compile(r"\w+")
# A quoted phrase, or a run of characters that are no separator, quote or space.
_TOKEN = re.compile(r"[\"“”„«»]([^\"“”„«»]*)[\"“”„«»]?|([^\s;,\"“”„«»]+)")


@dataclass(frozen=True)
class TypedKeyword:
    """One keyword: as typed (cleaned) and as the matcher sees it."""

    typed: str
    phrase: str


def _clean(value: str) -> str:
    """NFC, no control, format or unassigned characters, whitespace collapsed, no quotes
    around it."""
    text = unicodedata.normalize("NFC", value)
    # ";" separates keywords in a CSV cell and a form field: it cannot be part of one.
    text = "".join(
        " " if character.isspace() or character == KEYWORD_SEPARATOR else character
        for character in text
        if character.isspace() or not unicodedata.category(character).startswith("C")
    )
    return " ".join(text.split()).strip(_QUOTES + " ")


def normalise_keyword(value: str) -> TypedKeyword | None:
    """The keyword in `value`, or None when nothing is left of it once cleaned.

    Raises InvalidPreference("keywords", ...) when it is too long, has too many words or
    no letter or digit at all.
    """
    typed = _clean(value)
    if not typed:
        return None
    if len(typed) > MAX_KEYWORD_CHARS:
        raise InvalidPreference(
            "keywords", f"{typed[:20]!r}... is longer than {MAX_KEYWORD_CHARS} characters"
        )
    words = _WORD.findall(typed.casefold())
    if not words:
        raise InvalidPreference("keywords", f"{typed!r} has no letter or digit to look for")
    if len(words) > MAX_KEYWORD_WORDS:
        raise InvalidPreference(
            "keywords", f"{typed[:20]!r}... has more than {MAX_KEYWORD_WORDS} words"
        )
    return TypedKeyword(typed, " ".join(words))


def split_keywords(text: str) -> list[str]:
    """A one-field list as a reader types it: `"Central Bank" reservoir; Kestrel Valley`
    is three keywords. Quoted phrases stay whole; elsewhere words and `;` or `,` separate
    them, except that a `;` or line-separated list keeps each entry whole."""
    if KEYWORD_SEPARATOR in text or "\n" in text:
        return [part for part in re.split(r"[;\n]", text) if part.strip()]
    found = []
    for match in _TOKEN.finditer(text):
        found.append(match.group(1) if match.group(1) is not None else match.group(2))
    return [item for item in found if item and item.strip()]


def parse_keywords(
    values: Iterable[str], *, limit: int = DEFAULT_KEYWORDS_PER_READER
) -> tuple[TypedKeyword, ...]:
    """Each value one keyword: cleaned, repeats (by phrase) dropped, at most `limit`.

    Raises InvalidPreference("keywords", ...) for a bad keyword or too many of them.
    """
    chosen: dict[str, TypedKeyword] = {}
    for value in values:
        if not isinstance(value, str):
            raise InvalidPreference("keywords", "each keyword must be a string")
        keyword = normalise_keyword(value)
        if keyword is not None:
            chosen.setdefault(keyword.phrase, keyword)
    if len(chosen) > limit:
        raise InvalidPreference("keywords", f"follow at most {limit} keywords")
    return tuple(chosen.values())


def catalogue_ids(session: Session, phrases: Sequence[str]) -> dict[str, int]:
    """The catalogue's ids of these phrases, adding those not in it yet (a concurrent
    insert of the same phrase is ignored, not an error)."""
    if not phrases:
        return {}
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(
        dialect.insert(Keyword).on_conflict_do_nothing(index_elements=["phrase"]),
        [{"phrase": phrase} for phrase in phrases],
    )
    rows = session.execute(select(Keyword.phrase, Keyword.id).where(Keyword.phrase.in_(phrases)))
    return {phrase: keyword_id for phrase, keyword_id in rows}


def set_keywords(
    session: Session, subscriber: Subscriber, keywords: Sequence[TypedKeyword]
) -> None:
    """Make `keywords` the reader's list, in this order. Flushes; does not commit."""
    session.flush()  # the reader needs an id
    ids = catalogue_ids(session, [keyword.phrase for keyword in keywords])
    current = {row.keyword_id: row for row in subscriber.keywords}
    wanted: list[ReaderKeyword] = []
    for position, keyword in enumerate(keywords):
        row = current.pop(ids[keyword.phrase], None)
        if row is None:
            row = ReaderKeyword(subscriber_id=subscriber.id, keyword_id=ids[keyword.phrase])
        row.typed = keyword.typed
        row.position = position
        wanted.append(row)
    subscriber.keywords = wanted
    session.flush()
    forget_unfollowed(session, current)


def add_reader_keywords(session: Session, keywords: dict[int, Sequence[TypedKeyword]]) -> None:
    """Give readers who follow nothing yet their keywords (an import's new readers, by id),
    a few statements for any number of them. Does not commit."""
    wanted = {reader: list(found) for reader, found in keywords.items() if found}
    if not wanted:
        return
    ids = catalogue_ids(session, sorted({k.phrase for found in wanted.values() for k in found}))
    rows = [
        {"subscriber_id": reader, "keyword_id": ids[keyword.phrase],
         "typed": keyword.typed, "position": position}
        for reader, found in wanted.items()
        for position, keyword in enumerate(found)
    ]  # fmt: skip
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    session.execute(dialect.insert(ReaderKeyword).on_conflict_do_nothing(), rows)


def forget_unfollowed(session: Session, keyword_ids: Iterable[int]) -> None:
    """Delete those of these catalogue keywords that nobody follows any more (their
    matches go with them): a phrase a reader typed is not kept after they drop it."""
    ids = sorted(set(keyword_ids))
    if not ids:
        return
    followed = exists().where(ReaderKeyword.keyword_id == Keyword.id)
    session.execute(
        delete(Keyword)
        .where(Keyword.id.in_(ids), ~followed)
        .execution_options(synchronize_session=False)
    )


__all__ = [
    "DEFAULT_KEYWORDS_PER_READER",
    "KEYWORD_SEPARATOR",
    "MAX_KEYWORD_CHARS",
    "TypedKeyword",
    "add_reader_keywords",
    "catalogue_ids",
    "forget_unfollowed",
    "normalise_keyword",
    "parse_keywords",
    "set_keywords",
    "split_keywords",
]
