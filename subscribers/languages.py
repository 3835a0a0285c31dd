"""The languages a reader can get their pages and emails in, and checking a reader's choice.

A reader's `language` is a BCP 47 primary subtag among SHIPPED_LANGUAGES, or None for the
site's default (DEFAULT_LANGUAGE). The catalogs themselves live in alerts.translations; a
test there checks that every language listed here has one, complete.
"""

from __future__ import annotations

from subscribers.errors import InvalidPreference

# English is the source text; the others have a catalog each (alerts/translations/<ll>/).
SHIPPED_LANGUAGES = ("en", "de", "fr", "es", "ar")
# Languages written right to left (BCP 47 primary subtags), shipped or not.
RIGHT_TO_LEFT = frozenset(
    {"ar", "arc", "ckb", "dv", "fa", "he", "ps", "sd", "syr", "ug", "ur", "yi"}
)


def primary_subtag(tag: str) -> str:
    """`de` of `de-AT`, `pt` of `pt_BR`: what picks a catalog."""
    return tag.replace("_", "-").split("-", 1)[0].strip().lower()


def shipped_language(tag: str | None) -> str | None:
    """The shipped language a tag asks for (`de-CH` asks for `de`), or None."""
    if not tag:
        return None
    primary = primary_subtag(tag)
    return primary if primary in SHIPPED_LANGUAGES else None


def parse_language(value: object, *, field: str = "language") -> str | None:
    """A reader's language as a form, a CSV cell or the API gives it: empty for the site's
    default (None), else a shipped language. Raises InvalidPreference naming the choices."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 35:
        raise InvalidPreference(field, "must be a language code such as de or ar")
    text = value.strip()
    if not text:
        return None
    found = shipped_language(text)
    if found is None:
        raise InvalidPreference(
            field, f"“{text[:35]}” is not offered; choose one of {', '.join(SHIPPED_LANGUAGES)}"
        )
    return found


def is_right_to_left(tag: str) -> bool:
    return primary_subtag(tag) in RIGHT_TO_LEFT


__all__ = [
    "RIGHT_TO_LEFT",
    "SHIPPED_LANGUAGES",
    "is_right_to_left",
    "parse_language",
    "primary_subtag",
    "shipped_language",
]
