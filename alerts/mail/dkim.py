"""Optional DKIM signing of the exact bytes we send (dkimpy).

dkimpy signs `List-Unsubscribe` by default but not `List-Unsubscribe-Post`; RFC 8058 wants
both covered, so the signed header list is ours.

Every header we sign is over-signed: named in the signature once more than the message
carries it (RFC 6376, 5.4.2). A verifier takes the last instance of a header for each
mention, so the extra mention stands for "no other instance": a second `List-Unsubscribe`
or `From` added anywhere by someone on the path breaks the signature instead of riding
along unsigned, and a header we do not send (a `List-Id` on a confirmation) cannot be
added either. Canonicalisation is relaxed/relaxed: a relay that re-wraps a line or changes
whitespace in the body must not break a signature that proves nothing by its spaces.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import dkim

from alerts.errors import ConfigError

SIGNED_HEADERS = (
    b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"content-type",
    b"list-id", b"list-unsubscribe", b"list-unsubscribe-post", b"feedback-id",
)  # fmt: skip
CANONICALIZATION = (b"relaxed", b"relaxed")


class DkimSigner:
    def __init__(self, *, selector: str, domain: str, private_key: bytes) -> None:
        self._selector = selector.encode()
        self._domain = domain.encode()
        self._key = private_key

    @classmethod
    def from_file(cls, path: Path, *, selector: str, domain: str) -> DkimSigner:
        try:
            key = path.read_bytes()
        except OSError as error:
            raise ConfigError(f"DKIM_PRIVATE_KEY_FILE: cannot read {path}: {error}") from None
        if b"PRIVATE KEY" not in key:
            raise ConfigError(f"DKIM_PRIVATE_KEY_FILE: {path} holds no PEM private key")
        return cls(selector=selector, domain=domain, private_key=key)

    def sign(self, message: bytes) -> bytes:
        """The message with its DKIM-Signature header in front."""
        header = dkim.sign(
            message,
            self._selector,
            self._domain,
            self._key,
            canonicalize=CANONICALIZATION,
            include_headers=signed_header_list(message),
            linesep=b"\r\n",
        )
        return bytes(header) + message


def signed_header_list(message: bytes) -> list[bytes]:
    """The `h=` list: each of SIGNED_HEADERS once more than `message` carries it."""
    counts = _header_counts(message)
    return [name for name in SIGNED_HEADERS for _ in range(counts[name] + 1)]


def _header_counts(message: bytes) -> Counter[bytes]:
    head = message.split(b"\r\n\r\n", 1)[0]
    names = (
        line.split(b":", 1)[0].strip().lower()
        for line in head.split(b"\r\n")
        if line[:1] not in (b" ", b"\t") and b":" in line
    )
    return Counter(names)
