"""Optional DKIM signing of the exact bytes we send (dkimpy).

dkimpy signs `List-Unsubscribe` by default but not `List-Unsubscribe-Post`; RFC 8058 wants
both covered, so the signed header list is ours.
"""

from __future__ import annotations

from pathlib import Path

import dkim

from alerts.errors import ConfigError

SIGNED_HEADERS = (
    b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"content-type",
    b"list-id", b"list-unsubscribe", b"list-unsubscribe-post", b"feedback-id",
)  # fmt: skip


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
            include_headers=[name for name in SIGNED_HEADERS if _has(message, name)],
            linesep=b"\r\n",
        )
        return bytes(header) + message


def _has(message: bytes, name: bytes) -> bool:
    head = message.split(b"\r\n\r\n", 1)[0].lower()
    return head.startswith(name + b":") or (b"\r\n" + name + b":") in head
