"""One function renders every email: subject, written text part, HTML part with CSS inlined.

Per-reader values (address, links) are rendered as markers and spliced in afterwards, so a
digest shared by thousands of readers goes through Jinja2 and the CSS inliner once.
"""

from __future__ import annotations

import html
import re
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

_WHITESPACE = re.compile(r"\s+")


class ReaderMarkers:
    """Placeholders that survive autoescaping and CSS inlining untouched."""

    email = "%%NEWSALERTS_READER_EMAIL%%"
    unsubscribe_url = "%%NEWSALERTS_UNSUBSCRIBE_URL%%"
    preferences_url = "%%NEWSALERTS_PREFERENCES_URL%%"
    tracking_token = "%%NEWSALERTS_TRACKING_TOKEN%%"


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
    subject: str
    text: str
    html: str

    def replace_all(self, values: dict[str, str]) -> RenderedEmail:
        """Fill markers whose values need no escaping (times, dates) in every part."""
        subject, text, body = self.subject, self.text, self.html
        for marker, value in values.items():
            subject = subject.replace(marker, value)
            text = text.replace(marker, value)
            body = body.replace(marker, value)
        return RenderedEmail(subject=subject, text=text, html=body)

    def personalise(self, reader: ReaderParts) -> RenderedEmail:
        """Splice one reader's values in; cheap string replacement, no template run."""
        return RenderedEmail(
            subject=self.subject,
            text=_splice(self.text, reader, escape=False),
            html=_splice(self.html, reader, escape=True),
        )


def _splice(body: str, reader: ReaderParts, *, escape: bool) -> str:
    quote = html.escape if escape else str
    return (
        body.replace(ReaderMarkers.email, quote(reader.email))
        .replace(ReaderMarkers.unsubscribe_url, quote(reader.unsubscribe_url))
        .replace(ReaderMarkers.preferences_url, quote(reader.preferences_url))
        .replace(ReaderMarkers.tracking_token, quote(reader.tracking_token))
    )


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
        self._inliner = css_inline.CSSInliner(
            load_remote_stylesheets=False, keep_style_tags=False, keep_at_rules=True
        )

    def render(self, kind: str, context: dict[str, object]) -> RenderedEmail:
        """Render templates/email/<kind>/{subject.txt, body.txt, body.html}."""
        context = {"reader": ReaderMarkers, **context}
        subject = self._environment.get_template(f"email/{kind}/subject.txt").render(context)
        text = self._environment.get_template(f"email/{kind}/body.txt").render(context)
        body = self._environment.get_template(f"email/{kind}/body.html").render(context)
        return RenderedEmail(
            subject=_WHITESPACE.sub(" ", subject).strip(),
            text=_tidy_text(text),
            html=self._inliner.inline(body),
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
