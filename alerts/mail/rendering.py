"""One function renders every email: subject, written text part, HTML part with CSS inlined.

Per-reader values (address, links) are rendered as markers and spliced in afterwards, so a
digest shared by thousands of readers goes through Jinja2 and the CSS inliner once.

A marker is only where the template put it. Articles are written by others (a feed, an API
token) and may contain any text, the names of our values included; so each render writes
its markers with a nonce drawn for it (`RenderMarkers`), and splicing looks for those alone.
A reader's link is never filled in where an article wrote `%%NEWSALERTS_UNSUBSCRIBE_URL%%`:
that text stays as written.
"""

from __future__ import annotations

import html
import re
import secrets
from collections.abc import Container
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import css_inline
import nh3
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    pass_environment,
    select_autoescape,
)
from jinja2.filters import do_wordwrap

from alerts.config import TEMPLATES_DIR
from alerts.mail.excerpts import strip_bidi_controls
from alerts.translations import enable_i18n, text_direction, translation_context

_WHITESPACE = re.compile(r"\s+")


class ReaderMarkers:
    """The names of a reader's values, by which a message's slots ask for them.

    No render contains these names where a value goes: it holds `RenderMarkers`, made
    from them. Text an article brings that looks like one of them is just text."""

    email = "%%NEWSALERTS_READER_EMAIL%%"
    unsubscribe_url = "%%NEWSALERTS_UNSUBSCRIBE_URL%%"
    preferences_url = "%%NEWSALERTS_PREFERENCES_URL%%"
    tracking_token = "%%NEWSALERTS_TRACKING_TOKEN%%"


_NAME_PREFIX = "%%NEWSALERTS_"


@dataclass(frozen=True)
class RenderMarkers:
    """Where one render puts the values filled in per message: each name (a ReaderMarkers
    name, or a story's time) with a nonce of this render's in it.

    The placeholders survive autoescaping and CSS inlining untouched. The nonce is 128
    random bits drawn when the render starts, so no article, written before, can carry
    it: a value goes only where the template wrote its marker. Templates write
    `{{ reader.email }}`, `{{ reader.unsubscribe_url }}`, `{{ reader.preferences_url }}`.
    """

    nonce: str

    @classmethod
    def fresh(cls) -> RenderMarkers:
        # Upper-case hex: a marker stays within [A-Z0-9_], which no escaping touches.
        return cls(secrets.token_hex(16).upper())

    @property
    def prefix(self) -> str:
        """What every marker of this render starts with, and nothing else can."""
        return f"{_NAME_PREFIX}{self.nonce}_"

    def of(self, name: str) -> str:
        """This render's marker of the value `name` (such as ReaderMarkers.email)."""
        return self.prefix + name.removeprefix(_NAME_PREFIX)

    def split(self, text: str, names: Container[str]) -> tuple[list[str], list[str]]:
        """The text between this render's markers of the values `names`, and the name of
        each of those markers, in order; any other marker stays in the text as written."""
        first, *rest = text.split(self.prefix)
        segments, found = [first], []
        for piece in rest:
            key, closed, after = piece.partition("%%")
            name = f"{_NAME_PREFIX}{key}%%"
            if closed and name in names:
                found.append(name)
                segments.append(after)
            else:
                segments[-1] += self.prefix + piece
        return segments, found

    @property
    def email(self) -> str:
        return self.of(ReaderMarkers.email)

    @property
    def unsubscribe_url(self) -> str:
        return self.of(ReaderMarkers.unsubscribe_url)

    @property
    def preferences_url(self) -> str:
        return self.of(ReaderMarkers.preferences_url)

    @property
    def tracking_token(self) -> str:
        return self.of(ReaderMarkers.tracking_token)


@dataclass(frozen=True)
class ReaderParts:
    email: str
    unsubscribe_url: str
    preferences_url: str
    tracking_token: str = ""

    def markers(self) -> dict[str, str]:
        """The reader's values by the marker each replaces."""
        return {
            ReaderMarkers.email: self.email,
            ReaderMarkers.unsubscribe_url: self.unsubscribe_url,
            ReaderMarkers.preferences_url: self.preferences_url,
            ReaderMarkers.tracking_token: self.tracking_token,
        }


@dataclass(frozen=True)
class RenderedEmail:
    """A render: its `markers` say where values go (None: nowhere, as in an email written
    by hand)."""

    subject: str
    text: str
    html: str
    markers: RenderMarkers | None = None

    def replace_all(self, values: dict[str, str]) -> RenderedEmail:
        """Fill markers whose values need no escaping (times, dates) in every part;
        `values` by the name of each."""
        markers = self.markers
        if markers is None:
            return self
        subject, text, body = self.subject, self.text, self.html
        for name, value in values.items():
            marker = markers.of(name)
            subject = subject.replace(marker, value)
            text = text.replace(marker, value)
            body = body.replace(marker, value)
        return RenderedEmail(subject=subject, text=text, html=body, markers=markers)

    def personalise(self, reader: ReaderParts) -> RenderedEmail:
        """Splice one reader's values in; cheap string replacement, no template run."""
        markers = self.markers
        if markers is None:
            return self
        return RenderedEmail(
            subject=self.subject,
            text=_splice(self.text, markers, reader, escape=False),
            html=_splice(self.html, markers, reader, escape=True),
            markers=markers,
        )


def _splice(body: str, markers: RenderMarkers, reader: ReaderParts, *, escape: bool) -> str:
    quote = html.escape if escape else str
    return (
        body.replace(markers.email, quote(reader.email))
        .replace(markers.unsubscribe_url, quote(reader.unsubscribe_url))
        .replace(markers.preferences_url, quote(reader.preferences_url))
        .replace(markers.tracking_token, quote(reader.tracking_token))
    )


def language_of(language: str) -> dict[str, str]:
    """The `lang` and `dir` of an email in `language` (a reader's, or DEFAULT_LANGUAGE)."""
    return {"lang": language, "dir": text_direction(language)}


@lru_cache(maxsize=4096)
def html_to_text(fragment: str) -> str:
    """Plain text of a sanitised HTML fragment, for the written text part.

    Cached: a story's summary appears in many digests (one render per topic mix).
    """
    stripped = nh3.clean(fragment, tags=set(), attributes={})
    return _WHITESPACE.sub(" ", html.unescape(stripped)).strip()


class EmailRenderer:
    def __init__(self, templates_dir: Path = TEMPLATES_DIR) -> None:
        self._environment = Environment(
            loader=FileSystemLoader(templates_dir),
            autoescape=select_autoescape(enabled_extensions=("html",), default=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self._environment.filters["wordwrap"] = _wordwrap
        enable_i18n(self._environment)
        self._inliner = css_inline.CSSInliner(
            load_remote_stylesheets=False, keep_style_tags=False, keep_at_rules=True
        )

    def render(
        self, kind: str, context: dict[str, object], *, language: str = "en"
    ) -> RenderedEmail:
        """Render templates/email/<kind>/{subject.txt, body.txt, body.html} in `language`
        (its catalog, `lang` and `dir`; English text for a language without a catalog).

        The markers are the context's `reader` when it has some already (a digest's click
        links carry its tracking token's), otherwise fresh ones."""
        reader = context.get("reader")
        markers = reader if isinstance(reader, RenderMarkers) else RenderMarkers.fresh()
        context = {**translation_context(language), **context, "reader": markers}
        subject = self._environment.get_template(f"email/{kind}/subject.txt").render(context)
        text = self._environment.get_template(f"email/{kind}/body.txt").render(context)
        body = self._environment.get_template(f"email/{kind}/body.html").render(context)
        return RenderedEmail(
            # A bidi control in a headline could make the subject read as another.
            subject=_WHITESPACE.sub(" ", strip_bidi_controls(subject)).strip(),
            text=_tidy_text(text),
            html=self._inliner.inline(body),
            markers=markers,
        )


@pass_environment
def _wordwrap(environment: Environment, text: str, *arguments: Any, **options: Any) -> str:
    """Jinja's `wordwrap`, cached: the same summaries are wrapped in every digest that
    carries them, and textwrap is slow."""
    return _cached_wordwrap(environment, text, *arguments, **options)


@lru_cache(maxsize=4096)
def _cached_wordwrap(environment: Environment, text: str, *arguments: Any, **options: Any) -> str:
    return do_wordwrap(environment, text, *arguments, **options)


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.splitlines()]
    tidy = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return tidy + "\n"


@lru_cache(maxsize=1)
def default_renderer() -> EmailRenderer:
    return EmailRenderer()
