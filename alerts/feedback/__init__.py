"""Bounces and complaints: read DSN and ARF emails and provider webhooks, suppress readers.

The public functions; each module's docstring says why it works the way it does.
"""

from alerts.errors import FeedbackError, WebhookPayloadError, WebhookRejected
from alerts.feedback.mailboxes import (
    MailItem,
    ProcessedMessage,
    process_messages,
    read_messages,
    split_mbox,
    summarise,
)
from alerts.feedback.policy import (
    NO_SUCH_RECIPIENT,
    SOFT_BOUNCE_LIMIT,
    SOFT_BOUNCE_WINDOW,
    FeedbackResult,
    Outcome,
    apply_report,
    find_delivery,
    no_such_recipient,
    process_message,
    suppress_refused_recipients,
)
from alerts.feedback.reports import FeedbackReport, NotAReport, Reference, parse_report
from alerts.feedback.settings import WebhookSettings

__all__ = [
    "NO_SUCH_RECIPIENT",
    "SOFT_BOUNCE_LIMIT",
    "SOFT_BOUNCE_WINDOW",
    "FeedbackError",
    "FeedbackReport",
    "FeedbackResult",
    "MailItem",
    "NotAReport",
    "Outcome",
    "ProcessedMessage",
    "Reference",
    "WebhookPayloadError",
    "WebhookRejected",
    "WebhookSettings",
    "apply_report",
    "find_delivery",
    "no_such_recipient",
    "parse_report",
    "process_message",
    "process_messages",
    "read_messages",
    "split_mbox",
    "summarise",
    "suppress_refused_recipients",
]
