"""Assembly of the bytes of one multipart/alternative message, fast enough to do per reader.

Building an `email.message.EmailMessage` per recipient costs several times more than the
SMTP exchange itself, so messages are written directly: ASCII headers that are never
folded into encoded words (RFC 5322 allows 998 characters a line), and bodies encoded as
quoted-printable by the C codec in `binascii`.

A render shared by many readers is encoded once (`encode_email`); each reader's address
and links (and any other marker's value, such as the time of a story in the reader's
zone) are encoded on their own and spliced into slots of the encoded body. A slot is
only where the render's own markers are (alerts.mail.rendering.RenderMarkers), never
where an article's text looks like one; it asks for its value by name. Every slot sits
on encoded lines of its own, between soft line breaks, so what a value looks like never
changes how the shared text around it is wrapped.
"""

from __future__ import annotations

import binascii
import html
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache

from alerts.mail.rendering import ReaderMarkers, ReaderParts, RenderedEmail

CRLF = b"\r\n"
MAX_HEADER_LINE = 998
# RFC 2045: encoded lines of at most 76 characters, a soft line break's "=" included.
MAX_QP_LINE = 76
SOFT_BREAK = b"=" + CRLF
READER_MARKERS = (
    ReaderMarkers.email,
    ReaderMarkers.unsubscribe_url,
    ReaderMarkers.preferences_url,
    ReaderMarkers.tracking_token,
)


@dataclass(frozen=True)
class Envelope:
    """What a transport needs: the SMTP envelope and the message bytes."""

    sender: str
    recipient: str
    data: bytes
    message_id: str


@lru_cache(maxsize=64)
def encode_address(value: str) -> str:
    """'Example News <a@example.com>' with a non-ASCII display name made RFC 2047-safe."""
    name, address = parseaddr(value)
    return formataddr((name, address), charset="utf-8")


@lru_cache(maxsize=4096)
def encode_subject(subject: str) -> str:
    """RFC 2047 for a non-ASCII subject; cached, since thousands of readers share one."""
    if subject.isascii() and len(subject) < MAX_HEADER_LINE - 10:
        return subject
    return Header(subject, "utf-8").encode(linesep="\r\n", maxlinelen=76)


def make_message_id(domain: str, local_hint: str) -> str:
    return f"<{local_hint}.{secrets.token_hex(8)}@{domain}>"


def _header(name: str, value: str) -> bytes:
    unfolded = value.replace("\r\n ", " ").replace("\r\n\t", " ")
    if "\r" in unfolded or "\n" in unfolded:
        raise ValueError(f"header {name} contains a line break")
    line = f"{name}: {value}".encode("ascii")
    if len(line) > MAX_HEADER_LINE and name.lower() != "subject":
        raise ValueError(f"header {name} is longer than {MAX_HEADER_LINE} characters")
    return line + CRLF


def _quoted_printable(text: str, *, width: int = MAX_QP_LINE) -> bytes:
    """Quoted-printable with CRLF line ends and no line longer than `width`."""
    encoded = binascii.b2a_qp(text.encode("utf-8"), quotetabs=False, istext=True, header=False)
    return _fit(encoded.replace(b"\r\n", b"\n").replace(b"\n", CRLF), width)


def _fit(encoded: bytes, width: int) -> bytes:
    """Break lines longer than `width` with soft line breaks, never inside an "=XX".

    `binascii.b2a_qp` lets a line ending in encoded whitespace ("=20", "=09") run to 78
    characters; RFC 2045 allows 76.
    """
    lines = encoded.split(CRLF)
    if all(len(line) <= width for line in lines):
        return encoded
    fitted: list[bytes] = []
    for line in lines:
        while len(line) > width:
            cut = width - 1  # room for the soft break's "="
            if line[cut - 1 : cut] == b"=":
                cut -= 1
            elif line[cut - 2 : cut - 1] == b"=":
                cut -= 2
            fitted.append(line[:cut] + b"=")
            line = line[cut:]
        fitted.append(line)
    return CRLF.join(fitted)


@dataclass(frozen=True)
class _Slot:
    """Where a value goes, by its name, and whether it goes into HTML (then it is escaped)."""

    marker: str
    html: bool


@lru_cache(maxsize=8192)
def _encoded_value(value: str, html_part: bool) -> bytes:
    """A slot's value, escaped for HTML if need be, as quoted-printable. Cached: the same
    story times recur in every message of a time zone."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"a value for a message contains a line break: {value!r}")
    # One less than the limit: the slot's closing soft break adds an "=" to its last line.
    return _quoted_printable(html.escape(value) if html_part else value, width=MAX_QP_LINE - 1)


@dataclass(frozen=True)
class EncodedEmail:
    """A render's subject and MIME body (multipart/alternative, both parts quoted-printable),
    encoded once; `pieces` surround the `slots` where each message's values go."""

    subject: str
    content_type: str
    pieces: tuple[bytes, ...]
    slots: tuple[_Slot, ...]

    @property
    def size(self) -> int:
        """Bytes held (for bounding caches of encoded renders)."""
        return sum(len(piece) for piece in self.pieces)

    def body_for(self, values: Mapping[str, str]) -> list[bytes]:
        """The body's bytes, in pieces, with `values` (by marker) in their slots."""
        body = [self.pieces[0]]
        for slot, piece in zip(self.slots, self.pieces[1:], strict=True):
            value = values.get(slot.marker)
            if value is None:
                raise ValueError(f"no value for {slot.marker} in this message")
            body += (_encoded_value(value, slot.html), piece)
        return body


def encode_email(email: RenderedEmail, markers: Iterable[str] = ()) -> EncodedEmail:
    """Encode both parts of a render once, leaving a slot wherever the render marked a
    reader's value or one of the values named in `markers`."""
    named = {*READER_MARKERS, *markers}
    # '=_' cannot occur in quoted-printable output, so the boundary never collides.
    boundary = f"=_newsalerts_{secrets.token_hex(12)}"
    marker = f"--{boundary}".encode()
    part_headers = b"Content-Transfer-Encoding: quoted-printable" + CRLF + CRLF
    pieces: list[bytes] = [marker + CRLF]
    slots: list[_Slot] = []
    for content_type, text, is_html in (
        (b'Content-Type: text/plain; charset="utf-8"', email.text, False),
        (b'Content-Type: text/html; charset="utf-8"', email.html, True),
    ):
        pieces[-1] += content_type + CRLF + part_headers
        segments, found = email.markers.split(text, named) if email.markers else ([text], [])
        slots.extend(_Slot(marker, is_html) for marker in found)
        for number, segment in enumerate(segments):
            if number:
                pieces.append(b"")
            pieces[-1] += _segment(segment, first=number == 0, last=number == len(segments) - 1)
        pieces[-1] += CRLF + marker + CRLF
    pieces[-1] = pieces[-1][: -len(CRLF)] + b"--" + CRLF
    return EncodedEmail(
        subject=email.subject,
        content_type=f'multipart/alternative; boundary="{boundary}"',
        pieces=tuple(pieces),
        slots=tuple(slots),
    )


def _segment(text: str, *, first: bool, last: bool) -> bytes:
    """Shared text between slots, encoded; soft line breaks put each slot on lines of its
    own (a line break in the text does as well)."""
    if not text:
        return b"" if first or last else SOFT_BREAK  # two slots in a row: a break between
    encoded = _quoted_printable(text)
    if not first and not encoded.startswith(CRLF):
        encoded = SOFT_BREAK + encoded
    if not last and not encoded.endswith(CRLF):
        encoded = _fit(encoded + SOFT_BREAK, MAX_QP_LINE)
    return encoded


def build_message(
    *,
    sender: str,
    recipient: str,
    email: RenderedEmail | EncodedEmail,
    message_id: str,
    date: datetime,
    headers: list[tuple[str, str]],
    reader: ReaderParts | None = None,
    fill: Mapping[str, str] | None = None,
) -> bytes:
    """Return the message bytes, CRLF line ends, ready for `smtplib.sendmail`.

    `email` encoded already (shared by many readers) or not; `reader` and `fill` (values
    by marker) fill its slots. Raises ValueError if a slot would stay empty.
    """
    encoded = email if isinstance(email, EncodedEmail) else encode_email(email, fill or ())
    values = {**reader.markers(), **(fill or {})} if reader is not None else (fill or {})
    head = [
        _header("From", encode_address(sender)),
        _header("To", recipient),
        _header("Subject", encode_subject(encoded.subject)),
        _header("Date", format_datetime(date)),
        _header("Message-ID", message_id),
        _header("MIME-Version", "1.0"),
        *(_header(name, value) for name, value in headers),
        _header("Content-Type", encoded.content_type),
        CRLF,
    ]
    return b"".join(head + encoded.body_for(values))
