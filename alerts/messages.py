"""Assembly of the bytes of one multipart/alternative message, fast enough to do per reader.

Building an `email.message.EmailMessage` per recipient costs several times more than the
SMTP exchange itself, so messages are written directly: ASCII headers that are never
folded into encoded words (RFC 5322 allows 998 characters a line), and bodies encoded as
quoted-printable by the C codec in `binascii`.

A render shared by many readers is encoded once (`encode_email`); each reader's address
and links are encoded on their own and spliced into slots of the encoded body. Every slot
sits on encoded lines of its own, between soft line breaks, so what a reader's values
look like never changes how the shared text around them is wrapped.
"""

from __future__ import annotations

import binascii
import html
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache

from alerts.rendering import ReaderMarkers, ReaderParts, RenderedEmail

CRLF = b"\r\n"
MAX_HEADER_LINE = 998
# RFC 2045: encoded lines of at most 76 characters, a soft line break's "=" included.
MAX_QP_LINE = 76
SOFT_BREAK = b"=" + CRLF
_READER_FIELDS = {
    ReaderMarkers.email: "email",
    ReaderMarkers.unsubscribe_url: "unsubscribe_url",
    ReaderMarkers.preferences_url: "preferences_url",
}
_READER_MARKER = re.compile("|".join(re.escape(marker) for marker in _READER_FIELDS))


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
    """Where one of the reader's values goes: which value, and whether the part is HTML."""

    field: str
    html: bool

    def encode(self, reader: ReaderParts) -> bytes:
        value: str = getattr(reader, self.field)
        if "\r" in value or "\n" in value:
            raise ValueError(f"the reader's {self.field} contains a line break")
        # One less than the limit: the slot's closing soft break adds an "=" to its last line.
        return _quoted_printable(html.escape(value) if self.html else value, width=MAX_QP_LINE - 1)


@dataclass(frozen=True)
class EncodedEmail:
    """A render's subject and MIME body (multipart/alternative, both parts quoted-printable),
    encoded once; `pieces` surround the `slots` where each reader's values go."""

    subject: str
    content_type: str
    pieces: tuple[bytes, ...]
    slots: tuple[_Slot, ...]

    def body_for(self, reader: ReaderParts | None) -> Iterator[bytes]:
        """The body's bytes, in pieces, with this reader's values in their slots."""
        if self.slots and reader is None:
            raise ValueError("this email has reader markers: a reader is needed to fill them")
        yield self.pieces[0]
        if reader is None:
            return
        encoded: dict[_Slot, bytes] = {}
        for slot, piece in zip(self.slots, self.pieces[1:], strict=True):
            value = encoded.get(slot)
            if value is None:
                value = encoded[slot] = slot.encode(reader)
            yield value
            yield piece


def encode_email(email: RenderedEmail) -> EncodedEmail:
    """Encode both parts of a render once, leaving a slot wherever a reader marker is."""
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
        segments = _READER_MARKER.split(text)
        for found in _READER_MARKER.finditer(text):
            slots.append(_Slot(_READER_FIELDS[found.group()], is_html))
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
) -> bytes:
    """Return the message bytes, CRLF line ends, ready for `smtplib.sendmail`.

    `email` encoded already (shared by many readers) or not; `reader` fills its slots.
    """
    encoded = email if isinstance(email, EncodedEmail) else encode_email(email)
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
    return b"".join([*head, *encoded.body_for(reader)])
