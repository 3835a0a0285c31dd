"""The catalogs of the shipped languages, and what a template render needs to use one.

Templates use Jinja2's `i18n` extension with new-style gettext: `{{ _("Unsubscribe") }}`,
`{% trans count=n %}...{% pluralize %}...{% endtrans %}`, variables as keywords
(`_("From %(site)s", site=site_name)`), escaped by autoescaping like any other value.

One Environment serves every language: the callables are not installed in it, they come
with each render (`translation_context`). So two threads rendering in two languages never
share one, and a digest rendered for German readers is rendered once for all of them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel.support import NullTranslations, Translations
from jinja2 import Environment, pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from alerts.translations.formats import format_day, locale_of
from subscribers.languages import (
    SHIPPED_LANGUAGES,
    is_right_to_left,
    primary_subtag,
    shipped_language,
)

CATALOG_DIR = Path(__file__).resolve().parent
DOMAIN = "messages"


@lru_cache(maxsize=32)
def translations_for(language: str) -> NullTranslations:
    """The catalog of a language (`de-AT` reads `de`), loaded once per process; English,
    or any language without a catalog, gets the source text."""
    shipped = shipped_language(language)
    if shipped is None or shipped == "en":
        return NullTranslations()
    # Translations.load falls back to NullTranslations when the .mo is missing: a test
    # (tests/alerts/translations) makes sure every shipped catalog is found.
    return Translations.load(str(CATALOG_DIR), [shipped], DOMAIN)


def reader_language(language: str | None, default: str) -> str:
    """The language a reader's pages and emails are in: theirs, else the site's."""
    return language or default


def text_direction(language: str) -> str:
    """`rtl` for a language written right to left (Arabic), else `ltr`."""
    return "rtl" if is_right_to_left(language) else "ltr"


def _gettext(translations: NullTranslations) -> Callable[..., str]:
    @pass_context
    def gettext(context: Context, message: str, /, **variables: Any) -> str:
        text = translations.gettext(message)
        if context.eval_ctx.autoescape:
            # Markup's % escapes each variable; the catalog's own text is trusted.
            return Markup(text) % variables
        return text % variables

    return gettext


def _ngettext(translations: NullTranslations) -> Callable[..., str]:
    @pass_context
    def ngettext(
        context: Context, singular: str, plural: str, count: int, /, **variables: Any
    ) -> str:
        variables.setdefault("num", count)
        text = translations.ngettext(singular, plural, count)
        if context.eval_ctx.autoescape:
            return Markup(text) % variables
        return text % variables

    return ngettext


@lru_cache(maxsize=32)
def _callables(language: str) -> dict[str, object]:
    translations = translations_for(language)
    return {"gettext": _gettext(translations), "ngettext": _ngettext(translations)}


def translation_context(language: str) -> dict[str, object]:
    """What a render in `language` adds to its context: the gettext callables, and the
    `lang` and `dir` of the page or email."""
    return {
        **_callables(primary_subtag(language)),
        "lang": language,
        "dir": text_direction(language),
    }


def enable_i18n(environment: Environment) -> None:
    """Give an Environment the `i18n` extension with new-style gettext; English callables
    are its globals, for templates rendered without a language (the desk)."""
    environment.add_extension("jinja2.ext.i18n")
    environment.extend(newstyle_gettext=True)
    environment.globals.update(_callables("en"))
    environment.globals["format_day"] = format_day


@lru_cache(maxsize=1)
def language_names() -> tuple[tuple[str, str], ...]:
    """Each shipped language with its name in itself ('Deutsch', 'العربية'): what a
    reader looks for in a list of languages, whatever the page's language."""
    names = []
    for code in SHIPPED_LANGUAGES:
        name = locale_of(code).get_language_name(code) or code
        names.append((code, name[:1].upper() + name[1:]))
    return tuple(names)


__all__ = [
    "CATALOG_DIR",
    "DOMAIN",
    "enable_i18n",
    "language_names",
    "reader_language",
    "text_direction",
    "translation_context",
    "translations_for",
]
