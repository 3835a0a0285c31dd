"""Email address validation and normalisation: the one place that decides what an address is."""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections import OrderedDict

from email_validator import EmailNotValidError, validate_email

from subscribers.errors import InvalidEmail

MAX_LENGTH = 254
# Controls (including NEL), invisible format characters, and the Unicode line and
# paragraph separators: none belongs in an address, and some break mail headers.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
# The only ASCII characters of those categories: an ASCII address (nearly every one) is
# checked with one search instead of a look-up per character.
_ASCII_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
# RFC 5322's dot-atom in ASCII: a local part email-validator accepts exactly as written.
_PLAIN_LOCAL_PART = re.compile(
    r"[a-zA-Z0-9_!#$%&'*+\-/=?^`{|}~]+(?:\.[a-zA-Z0-9_!#$%&'*+\-/=?^`{|}~]+)*"
)
# Domains email-validator accepted, as written -> their ASCII form: a list of a million
# readers has a few thousand domains, and checking a domain is most of an address's cost.
_CHECKED_DOMAINS: OrderedDict[str, str] = OrderedDict()
_CHECKED_DOMAINS_KEPT = 10_000


def normalise_email(raw: str) -> str:
    """Return the canonical form of an address, or raise InvalidEmail with a clear reason.

    Line breaks and control characters are refused outright (header injection), display
    names are refused, and the whole address is lower-cased: mailbox providers treat
    local parts case-insensitively and readers expect "Ada@Example.com" to be one reader.
    """
    if _has_refused_character(raw):
        raise InvalidEmail("it contains a line break or control character")
    candidate = raw.strip()
    if not candidate:
        raise InvalidEmail("it is empty")
    if len(candidate) > MAX_LENGTH:
        raise InvalidEmail(f"it is longer than {MAX_LENGTH} characters")
    local, _, domain = candidate.rpartition("@")
    known_domain = _CHECKED_DOMAINS.get(domain)
    if (
        known_domain is not None
        and _PLAIN_LOCAL_PART.fullmatch(local)
        and len(local) + 1 + len(known_domain) <= MAX_LENGTH
    ):
        # What email-validator would answer: it keeps a plain local part as written and
        # checks the domain on its own, which it did for an earlier address.
        return f"{local}@{known_domain}".lower()
    try:
        checked = validate_email(
            candidate,
            check_deliverability=False,
            allow_smtputf8=False,
            allow_display_name=False,
        )
    except EmailNotValidError as error:
        raise InvalidEmail(str(error)) from None
    if checked.ascii_domain and checked.local_part == local:
        _CHECKED_DOMAINS[domain] = checked.ascii_domain
        if len(_CHECKED_DOMAINS) > _CHECKED_DOMAINS_KEPT:
            _CHECKED_DOMAINS.popitem(last=False)
    # An internationalised domain is kept in its ASCII (IDNA) form: mail headers and the
    # SMTP envelope then work without SMTPUTF8, and one mailbox has one spelling.
    return (checked.ascii_email or checked.normalized).lower()


def _has_refused_character(text: str) -> bool:
    if text.isascii():
        return _ASCII_CONTROLS.search(text) is not None
    return any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in text)


def email_hash(email: str, key: str) -> str:
    """A keyed hash of a normalised address: lets us recognise it without keeping it."""
    return hmac.new(key.encode(), email.encode(), hashlib.sha256).hexdigest()
