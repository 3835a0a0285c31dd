"""Headlines and summaries made to fit an email, whatever a feed put in them.

A feed's item may carry a whole live blog as its description (megabytes), a headline of a
paragraph, or bidi control characters that turn a headline around. An email shows a
standfirst: a summary is cut at a word boundary after its edition's number of characters
of text, with its tags kept balanced; a headline after MAX_TITLE_CHARS; and the bidi
controls are taken out of headlines, where a right-to-left override could make a subject
read as something else.

Only the first stretch of a summary's markup is ever read (`_markup_budget`), so a 20 MB
summary costs what a short one does.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from html.parser import HTMLParser

MAX_TITLE_CHARS = 200
ELLIPSIS = "…"
# Embeddings, overrides and isolates (U+202A to U+202E, U+2066 to U+2069), the marks (LRM, RLM,
# ALM): none belongs in a one-line headline, and each can reorder what a reader sees.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c]")
_WHITESPACE = re.compile(r"\s+")
# Elements that have no end tag: never on the stack of open ones.
_VOID = frozenset({"br", "hr", "img", "wbr", "input", "meta", "link", "area", "col"})


def strip_bidi_controls(text: str) -> str:
    """`text` without the characters that change the direction of what follows them."""
    return _BIDI_CONTROLS.sub("", text)


def cut_title(title: str, limit: int = MAX_TITLE_CHARS) -> str:
    """A headline on one line, without bidi controls, at most `limit` characters (cut at a
    word boundary, with an ellipsis)."""
    text = " ".join(strip_bidi_controls(title[: limit * 4]).split())
    return _cut_words(text, limit) if len(text) > limit else text


def _cut_words(text: str, limit: int, *, whole_words_only: bool = False) -> str:
    """The words of `text` that fit in `limit` characters, then an ellipsis. A first word
    longer than that (a URL) is cut where the limit falls, unless `whole_words_only`
    (text came before it, so the cut can fall before it instead)."""
    if limit <= 0:
        return ELLIPSIS
    piece = text[:limit]
    if len(text) > limit and not text[limit].isspace():
        space = piece.rfind(" ")
        if whole_words_only:
            piece = piece[:space] if space >= 0 else ""
        elif space > limit // 2:
            piece = piece[:space]
    return piece.rstrip() + ELLIPSIS


def _markup_budget(limit: int) -> int:
    """How much of a summary's markup is read for `limit` characters of text: generous
    for links and emphasis, bounded for a summary of megabytes."""
    return max(16 * limit, 4096)


def cut_summary(fragment: str, limit: int) -> str:
    """The sanitised HTML `fragment` with at most `limit` characters of text, cut at a word
    boundary with an ellipsis, every element it opened closed again. Returned as it is
    when it fits; "" when `limit` is 0."""
    if limit <= 0:
        return ""
    if len(fragment) <= limit:  # the text is never longer than the markup
        return fragment
    return _cut_summary(fragment[: _markup_budget(limit)], limit, len(fragment))


@lru_cache(maxsize=4096)
def _cut_summary(markup: str, limit: int, full_length: int) -> str:
    # Cached: a story's summary appears in many digests (one render per topic mix).
    cutter = _Cutter(limit)
    cutter.feed(markup)  # no close(): a tag the budget cut in half is left unread
    if not cutter.cut and len(markup) == full_length:
        return markup
    return cutter.result()


class _Cutter(HTMLParser):
    """Copies markup and text until `limit` characters of text, then stops."""

    def __init__(self, limit: int) -> None:
        super().__init__(convert_charrefs=True)
        self._limit = limit
        self._room = limit
        self._out: list[str] = []
        self._open: list[str] = []
        self.cut = False

    def result(self) -> str:
        if not self.cut:  # the markup ran out (the budget), not the text
            self._out.append(ELLIPSIS)
        closing = "".join(f"</{tag}>" for tag in reversed(self._open))
        return ("".join(self._out) + closing).strip()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.cut:
            return
        self._out.append(_start_tag(tag, attrs))
        if tag not in _VOID:
            self._open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if not self.cut:
            self._out.append(_start_tag(tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        if self.cut or tag not in self._open:
            return
        while self._open:
            opened = self._open.pop()
            self._out.append(f"</{opened}>")
            if opened == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.cut:
            return
        text = _WHITESPACE.sub(" ", data)
        if len(text) <= self._room:
            self._out.append(html.escape(text, quote=False))
            self._room -= len(text)
            return
        # Text came before this: a word it would cut in half can go whole instead.
        started = self._room < self._limit
        cut = _cut_words(text, self._room, whole_words_only=started)
        self._out.append(html.escape(cut, quote=False))
        self.cut = True


def _start_tag(tag: str, attrs: list[tuple[str, str | None]]) -> str:
    written = "".join(
        f' {name}="{html.escape(value or "")}"' if value is not None else f" {name}"
        for name, value in attrs
    )
    return f"<{tag}{written}>"


__all__ = ["ELLIPSIS", "MAX_TITLE_CHARS", "cut_summary", "cut_title", "strip_bidi_controls"]
