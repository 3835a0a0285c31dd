"""The errors of the subscribers package: one base, each carrying the offending value."""

from __future__ import annotations


class SubscribersError(Exception):
    """Base of every error this package raises on purpose."""


class InvalidEmail(SubscribersError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid email address: {reason}")
        self.reason = reason


class InvalidPreference(SubscribersError):
    """A topic, frequency, time zone or hour that newsalerts cannot honour."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class InvalidToken(SubscribersError):
    """A signed link was tampered with, made for another purpose, or has expired."""


class CsvFormatError(SubscribersError):
    """A file that cannot be read as a subscriber CSV at all.

    Raised for the whole file (no header, no email column, unknown columns, binary data),
    as opposed to one bad row, which an import reports and skips.
    """

    def __init__(self, reason: str, *, line: int | None = None) -> None:
        super().__init__(f"line {line}: {reason}" if line is not None else reason)
        self.reason = reason
        self.line = line
