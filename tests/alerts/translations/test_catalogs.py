"""The catalogs: every reader-facing string translated in every shipped language, and the
compiled catalogs the package ships are the ones the .po files say.

The catalog is extracted here with Babel's own API and babel.cfg, exactly as
CONTRIBUTING.md tells a contributor to do it, so a string added to a template or a view
without a translation fails this test."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Iterator
from functools import cache
from gettext import c2py  # type: ignore[attr-defined]
from importlib.resources import files
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.support import Translations

from alerts.translations import CATALOG_DIR, translations_for
from subscribers.languages import SHIPPED_LANGUAGES

ROOT = Path(__file__).resolve().parents[3]
TRANSLATED = [language for language in SHIPPED_LANGUAGES if language != "en"]
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


@cache
def extracted() -> dict[str, str | None]:
    """Every msgid the code and templates mark, with its plural (None for a singular)."""
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    keywords = {**DEFAULT_KEYWORDS, "N_": None, "translate": None}
    found: dict[str, str | None] = {}
    for _, _, message, _, _ in extract_from_dir(
        str(ROOT),
        method_map,
        options_map,
        keywords=keywords,
        # Babel's default also skips folders starting with "_": templates/email/_base.
        directory_filter=lambda path: not Path(path).name.startswith("."),
    ):
        if isinstance(message, tuple):
            found[message[0]] = message[1]
        else:
            found[message] = None
    return found


def _catalog(language: str) -> Catalog:
    with (CATALOG_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as po:
        return read_po(po, locale=language)


def test_the_extraction_sees_the_templates_the_views_and_the_email_base() -> None:
    found = extracted()
    assert "Manage your preferences" in found  # templates/email/_base
    assert "Sign up to our daily news alerts" in found  # templates/web
    assert "Mondays" in found  # N_ in alerts/web/pages.py
    assert found["%(num)s story"] == "%(num)s stories"  # a plural
    assert len(found) > 100


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_reader_facing_string_is_translated(language: str) -> None:
    catalog = _catalog(language)
    problems = []
    for msgid, plural in extracted().items():
        message = catalog.get(msgid)
        if message is None:
            problems.append(f"missing: {msgid!r}")
            continue
        if message.fuzzy:
            problems.append(f"fuzzy: {msgid!r}")
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        if plural is not None and len(forms) != catalog.num_plurals:
            problems.append(f"{len(forms)} plural forms, not {catalog.num_plurals}: {msgid!r}")
        if not all(forms):
            problems.append(f"untranslated: {msgid!r}")
        allowed = set(PLACEHOLDER.findall(plural or msgid))
        if any(set(PLACEHOLDER.findall(form)) - allowed for form in forms):
            problems.append(f"a placeholder the source has not: {msgid!r}")
        if plural is None and set(PLACEHOLDER.findall(forms[0])) != allowed:
            problems.append(f"placeholders differ: {msgid!r}")
    assert problems == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_plural_rules_are_the_languages_own(language: str) -> None:
    assert _catalog(language).num_plurals == {"de": 2, "fr": 3, "es": 3, "ar": 6}[language]


def _mo_files() -> Iterator[Path]:
    yield from sorted(CATALOG_DIR.glob("*/LC_MESSAGES/messages.mo"))


def test_each_shipped_language_has_a_compiled_catalog_that_the_package_ships() -> None:
    compiled = {path.parts[-3] for path in _mo_files()}
    assert compiled == set(TRANSLATED)
    with (ROOT / "pyproject.toml").open("rb") as project:
        patterns = tomllib.load(project)["tool"]["setuptools"]["package-data"]["alerts"]
    package = files("alerts")
    for path in _mo_files():
        relative = path.relative_to(ROOT / "alerts").as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), relative
        assert package.joinpath(relative).is_file()


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_compiled_catalog_says_what_the_po_file_says(language: str) -> None:
    """A .po edited without `pybabel compile` would ship the old text."""
    loaded = translations_for(language)
    assert isinstance(loaded, Translations)
    catalog = _catalog(language)
    plural_index = c2py(catalog.plural_expr)
    for message in catalog:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            for count in (1, 2, 5, 11, 100):
                expected = message.string[plural_index(count)]
                assert loaded.ngettext(message.id[0], message.id[1], count) == expected
        else:
            assert loaded.gettext(message.id) == message.string, message.id


def test_english_and_unknown_languages_read_the_source_text() -> None:
    assert translations_for("en").gettext("Unsubscribe") == "Unsubscribe"
    assert translations_for("pt-BR").gettext("Unsubscribe") == "Unsubscribe"
    assert translations_for("de-AT").gettext("Unsubscribe") == "Abmelden"
