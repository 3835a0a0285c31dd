"""Readers in their own language: the gettext catalogs, and dates and numbers by locale.

English is the source text in the templates and the code; German, French, Spanish and
Arabic have a catalog each, in `<ll>/LC_MESSAGES/messages.po` (compiled to `.mo`, which
ships inside the package). The desk and the console stay English.

- `catalogs.py`: the translations of a language, loaded once per process; the gettext
  callables a template render takes for one language, and the Jinja2 set-up they need.
- `formats.py`: a reader's dates, times and numbers, written by Babel for their locale.

How to extract, update and compile the catalogs: CONTRIBUTING.md, "Translations".
"""

from alerts.translations.catalogs import (
    CATALOG_DIR,
    DOMAIN,
    enable_i18n,
    language_names,
    reader_language,
    text_direction,
    translation_context,
    translations_for,
)
from alerts.translations.formats import (
    format_clock,
    format_day,
    format_number,
    format_weekday,
    locale_of,
)

__all__ = [
    "CATALOG_DIR",
    "DOMAIN",
    "enable_i18n",
    "format_clock",
    "format_day",
    "format_number",
    "format_weekday",
    "language_names",
    "locale_of",
    "reader_language",
    "text_direction",
    "translation_context",
    "translations_for",
]
