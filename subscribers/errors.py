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
