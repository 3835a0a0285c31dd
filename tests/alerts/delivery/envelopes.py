"""A short message in numbered envelopes, for the relay tests."""

from __future__ import annotations

from alerts.mail.mime import Envelope

MESSAGE = b"From: a@example.com\r\nTo: b@example.com\r\nSubject: hi\r\n\r\nhello\r\n"


def numbered_envelope(number: int) -> Envelope:
    """Envelope `number`: MESSAGE from a@example.com to r<number>@example.com."""
    return Envelope("a@example.com", f"r{number}@example.com", MESSAGE, f"<{number}@example.com>")
