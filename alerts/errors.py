"""The errors of the alerts package: one base, a small tree, each carrying its data."""

from __future__ import annotations


class AlertsError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(AlertsError):
    """The environment holds a malformed or missing setting; the message is one line."""


class FeedError(AlertsError):
    """A feed could not be fetched or parsed; nothing from it was written."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class ArticleError(AlertsError):
    """An article is missing a required field or has an invalid one.

    `field` is the input field at fault, as the API spells it (`url`, `published_at`,
    `topics`, ...), or None when the fault is not one field's (an item that is not an
    object). For unknown fields it is the first of them.
    """

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


class DeliveryError(AlertsError):
    """A message could not be handed to the mail transport.

    `permanent`: the relay refused it for good (5xx). `unknown_outcome`: the connection
    broke after the message was sent and before the relay's answer, so it may have it.
    """

    def __init__(
        self, reason: str, *, permanent: bool, reply: str = "", unknown_outcome: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.reply = reply
        self.unknown_outcome = unknown_outcome


class ConnectionLost(DeliveryError):
    """The relay connection is gone and the message in flight did not reach it."""

    def __init__(self, reason: str, *, reply: str = "") -> None:
        super().__init__(reason, permanent=False, reply=reply)


class StaffError(AlertsError):
    """A staff account operation that cannot be done: the message says why, in one line."""


class WeakPassword(StaffError):
    """A password that does not meet the rules (at least MIN_PASSWORD_LENGTH characters)."""


class StaffEmailTaken(StaffError):
    def __init__(self, email: str) -> None:
        super().__init__(f"a staff user {email} exists already")
        self.email = email


class UnknownStaffUser(StaffError):
    def __init__(self, email: str) -> None:
        super().__init__(f"no staff user {email}")
        self.email = email
