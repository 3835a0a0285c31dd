"""The errors of bounce and complaint handling, under the package's AlertsError."""

from __future__ import annotations

from alerts.errors import AlertsError


class FeedbackError(AlertsError):
    """Bounces could not be read (a missing file, a folder that is not a Maildir)."""


class WebhookRejected(FeedbackError):
    """A webhook request is not believed: nothing in it was applied.

    `status` is the HTTP answer: 401 when credentials or a signature are missing, 403
    when they are present but wrong, stale or for something we do not accept.
    """

    def __init__(self, reason: str, *, status: int = 403) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class WebhookPayloadError(FeedbackError):
    """A webhook request is authentic but its body is not what the provider documents."""
