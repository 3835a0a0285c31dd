"""The reader's keywords picked out in a headline: which stretches of it to highlight.

The match itself was decided by the database's full-text search (alerts.feeds.keywords);
this only finds where in the headline to show it. A word of the keyword marks a word of
the text that starts with the keyword word's root (its last `s`, `es`, `ed` or `ing` cut),
comparing case- and accent-free, so "rate" marks "Rates" and "Zürich" marks "ZURICH",
while "art" never marks "start". A story matched in its summary or body alone has nothing
to mark in the headline; its "matched" label still names the words.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from markupsafe import Markup, escape

_ENDINGS = ("ing", "es", "ed", "s")
_MIN_ROOT = 3
HIGHLIGHT_STYLE = "background:#fff1a8;color:inherit;padding:0 1px;"


def _fold(text: str) -> str:
    """Lower case without accents, one character for each character of `text` (so that
    positions in the folded text are positions in the text)."""
    folded = []
    for character in text:
        base = unicodedata.normalize("NFD", character)[0].lower()
        folded.append(base[0] if base else character)
    return "".join(folded)


def _root(word: str) -> str:
    for ending in _ENDINGS:
        if word.endswith(ending) and len(word) - len(ending) >= _MIN_ROOT:
            return word[: -len(ending)]
    return word


def _pattern(keyword: str) -> re.Pattern[str] | None:
    words = re.findall(r"\w+", _fold(keyword))
    if not words:
        return None
    parts = [rf"{re.escape(_root(word))}\w*" for word in words]
    return re.compile(r"(?<!\w)" + r"\W+".join(parts) + r"(?!\w)")


def spans(text: str, keywords: Sequence[str]) -> list[tuple[str, bool]]:
    """`text` cut into (piece, highlighted) pieces, in order; joined they give `text`."""
    folded = _fold(text)
    marked = [False] * len(text)
    for keyword in keywords:
        pattern = _pattern(keyword)
        if pattern is None:
            continue
        for match in pattern.finditer(folded):
            for position in range(match.start(), match.end()):
                marked[position] = True
    pieces: list[tuple[str, bool]] = []
    for position, character in enumerate(text):
        if pieces and pieces[-1][1] == marked[position]:
            pieces[-1] = (pieces[-1][0] + character, marked[position])
        else:
            pieces.append((character, marked[position]))
    return pieces


def highlighted_html(text: str, keywords: Sequence[str]) -> Markup:
    """`text` escaped, its keyword stretches in <mark> (styled inline: mail clients drop
    most stylesheets)."""
    return Markup("").join(
        Markup('<mark style="{}">{}</mark>').format(HIGHLIGHT_STYLE, piece)
        if marked
        else escape(piece)
        for piece, marked in spans(text, keywords)
    )


def highlighted_text(text: str, keywords: Sequence[str]) -> str:
    """`text` with its keyword stretches between asterisks, as plain text marks emphasis."""
    return "".join(f"*{piece}*" if marked else piece for piece, marked in spans(text, keywords))


__all__ = ["HIGHLIGHT_STYLE", "highlighted_html", "highlighted_text", "spans"]
