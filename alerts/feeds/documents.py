"""An XML feed's bytes made readable the way feed readers read them, before parsing.

Publishers' feeds break XML's rules in a few common ways that every reader forgives, so a
strict parser alone refuses feeds people read every day:

- a blank line or a byte-order mark before ``<?xml`` (XML wants the declaration first):
  both are dropped;
- HTML's named entities (``&nbsp;``, ``&eacute;``), undefined in XML: each is replaced by
  the character it names, unless the document declares an entity of that name itself;
- bytes that are not valid in the declared charset (a stray Windows-1252 byte in UTF-8):
  the document is decoded by its declared charset (HTTP's ``charset`` first, then the XML
  declaration, else UTF-8) with each bad byte replaced by U+FFFD, and a note says so. The
  whole document is never re-read as another charset, which would garble every other
  non-ASCII character in it.

The result is UTF-8 with a declaration that says so. Anything else wrong with the XML is
still the parser's to report.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from html.entities import html5

_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})
_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")
_CDATA = re.compile(r"(<!\[CDATA\[.*?\]\]>)", re.DOTALL)
_DECLARED_ENTITY = re.compile(r"<!ENTITY\s+([A-Za-z_][\w.-]*)")
_DECLARATION = re.compile(rb"^<\?xml[^>]*\?>")
_DECLARED_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]+)""", re.IGNORECASE)
_LEADING = b" \t\r\n"
_UTF8_BOM = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class ReadableXml:
    """`data` is UTF-8; `lines_dropped` counts the blank lines removed from the top (to
    point at the publisher's own line numbers); `notes` says what was repaired."""

    data: bytes
    lines_dropped: int = 0
    notes: tuple[str, ...] = ()


def readable_xml(data: bytes, *, content_type: str | None = None) -> ReadableXml:
    """The document as UTF-8 XML a strict parser accepts, as far as readers forgive it."""
    start = data[3:] if data.startswith(_UTF8_BOM) else data
    trimmed = start.lstrip(_LEADING)
    if trimmed.startswith(b"<"):
        lines_dropped = start[: len(start) - len(trimmed)].count(b"\n")
        start = trimmed
    else:
        lines_dropped = 0
    charset = _declared_charset(start, content_type)
    if charset is None:  # UTF-16/32, or a charset Python does not know: the parser's to read
        return ReadableXml(start, lines_dropped)
    notes = []
    try:
        text = start.decode(charset)
    except UnicodeDecodeError:
        text = start.decode(charset, errors="replace")
        notes.append(f"bytes not valid {charset} replaced with U+FFFD")
    text, replaced = _html_entities_as_characters(text)
    if replaced:
        notes.append("HTML entities read as characters")
    body = text.encode("utf-8")
    declaration = _DECLARATION.match(body)
    if declaration:
        said = declaration.group(0)
        utf8 = (
            _DECLARED_ENCODING.sub(b'encoding="utf-8"', said)
            if _DECLARED_ENCODING.search(said)
            else said
        )
        body = utf8 + body[declaration.end() :]
    return ReadableXml(body, lines_dropped, tuple(notes))


def _declared_charset(data: bytes, content_type: str | None) -> str | None:
    """The charset to decode by, as a Python codec name; None to leave decoding alone."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff", b"\x00<", b"<\x00")):
        return None
    named = _CHARSET.search(content_type or "")
    declaration = _DECLARATION.match(data)
    declared = _DECLARED_ENCODING.search(declaration.group(0)) if declaration else None
    if named:
        name = named.group(1)
    elif declared:
        name = declared.group(1).decode("ascii")
    else:
        name = "utf-8"
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return None
    return None if codec.startswith(("utf-16", "utf-32")) else codec


def _html_entities_as_characters(text: str) -> tuple[str, int]:
    """Replace HTML's named entities that XML does not define by numeric references."""
    declared = set(_DECLARED_ENTITY.findall(text)) if "<!ENTITY" in text else set()
    replaced = 0

    def numeric(match: re.Match[str]) -> str:
        nonlocal replaced
        name = match.group(1)
        characters = html5.get(name + ";")
        if name in _XML_ENTITIES or name in declared or characters is None:
            return match.group(0)
        replaced += 1
        return "".join(f"&#{ord(character)};" for character in characters)

    # CDATA is taken literally by XML; the markup inside it is read as HTML later anyway.
    parts = _CDATA.split(text)
    parts[::2] = [_ENTITY.sub(numeric, part) for part in parts[::2]]
    return "".join(parts), replaced
