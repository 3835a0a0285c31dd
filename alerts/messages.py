"""Assembly of the bytes of one multipart/alternative message, fast enough to do per reader.

Building an `email.message.EmailMessage` per recipient costs several times more than the
SMTP exchange itself, so messages are written directly: ASCII headers that are never
folded into encoded words (RFC 5322 allows 998 characters a line), and bodies encoded as
quoted-printable by the C codec in `binascii`.
"""

from __future__ import annotations

import binascii
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from functools import lru_cache

from alerts.rendering import RenderedEmail

CRLF = b"\r\n"
MAX_HEADER_LINE = 998


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


def _quoted_printable(text: str) -> bytes:
    encoded = binascii.b2a_qp(text.encode("utf-8"), quotetabs=False, istext=True, header=False)
    return encoded.replace(b"\r\n", b"\n").replace(b"\n", CRLF)


def build_message(
    *,
    sender: str,
    recipient: str,
    email: RenderedEmail,
    message_id: str,
    date: datetime,
    headers: list[tuple[str, str]],
) -> bytes:
    """Return the message bytes, CRLF line ends, ready for `smtplib.sendmail`."""
    # '=_' cannot occur in quoted-printable output, so the boundary never collides.
    boundary = f"=_newsalerts_{secrets.token_hex(12)}"
    head = b"".join(
        [
            _header("From", encode_address(sender)),
            _header("To", recipient),
            _header("Subject", encode_subject(email.subject)),
            _header("Date", format_datetime(date)),
            _header("Message-ID", message_id),
            _header("MIME-Version", "1.0"),
            *(_header(name, value) for name, value in headers),
            _header("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
        ]
    )
    marker = f"--{boundary}".encode()
    part_headers = b"Content-Transfer-Encoding: quoted-printable" + CRLF + CRLF
    return b"".join(
        [
            head,
            CRLF,
            marker + CRLF,
            b'Content-Type: text/plain; charset="utf-8"' + CRLF,
            part_headers,
            _quoted_printable(email.text),
            CRLF,
            marker + CRLF,
            b'Content-Type: text/html; charset="utf-8"' + CRLF,
            part_headers,
            _quoted_printable(email.html),
            CRLF,
            marker + b"--" + CRLF,
        ]
    )
