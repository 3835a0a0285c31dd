"""The errors of the alerts package: one base, a small tree, each carrying its data.

Every error alerts raises on purpose is defined here, so one look shows what can go wrong
and how each adapter answers it. Business functions say in their docstrings which of
these they raise. The web app maps them in one place, alerts.web.errors (the webhook
receiver alone answers the providers in their own shape); the command line in one place,
alerts.cli.common. subscribers, which never imports alerts, has its own base
(subscribers.errors.SubscribersError); both adapters map that tree too.

    AlertsError
    ├── ConfigError .............. a setting; the web app and the workers do not start
    │   └── DatabaseNotReady ..... unreachable, or its schema is not this version's
    ├── FeedError ................ `newsalerts ingest` reports it and goes on to the next
    ├── ArticleError ............. 422 in the API, naming its `field`
    ├── DeliveryError ............ the desk says so on the issue page (a test copy)
    │   ├── ConnectionLost
    │   └── LivenessLost
    ├── StaffError
    │   ├── WeakPassword
    │   ├── StaffEmailTaken
    │   └── UnknownStaffUser
    ├── TokenNameTaken
    ├── EditionError ............. the desk's edition form, 400, naming its `field`
    ├── EditionNotFound .......... 404
    ├── IssueError ............... 409 in the API; a notice on the desk and the console
    ├── AlertError ............... 409 in the API; a notice on the desk and the console
    ├── UnknownArticle ........... 400 on the desk
    ├── OutsideAudience .......... a preview of a reader the edition does not go to
    ├── FeedbackError ............ 503 to a webhook (send it again later)
    │   ├── WebhookRejected ...... its `status`: 401 or 403
    │   └── WebhookPayloadError .. 400
    ├── BenchError
    ├── OutboxError
    └── RequestRefused ........... its `status`, naming its `field`: a web request as sent
        ├── BadInput ............. 400
        └── NotFound ............. 404

On the web, an error the map does not name is a 500, logged: a view that expects an
error catches it itself. On the command line every one is the line "error: <message>" on
stderr and exit status 1.
"""

from __future__ import annotations


class AlertsError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(AlertsError):
    """The environment holds a malformed or missing setting; the message is one line."""


class DatabaseNotReady(ConfigError):
    """The database cannot serve this version: it cannot be reached, or its schema is
    missing or at another migration than the one shipped (`newsalerts db upgrade`)."""


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


class LivenessLost(DeliveryError):
    """This worker process cannot prove it is alive (Redis unreachable), so it must not
    claim rows: the sweeper would take them back while it sends (alerts.delivery.liveness)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, permanent=False)


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


class TokenNameTaken(AlertsError):
    def __init__(self, name: str) -> None:
        super().__init__(f"a token named {name!r} exists already")


class EditionError(AlertsError):
    """An edition's settings are not valid; `field` names the one at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class EditionNotFound(AlertsError):
    def __init__(self, key: str | int) -> None:
        super().__init__(f"there is no edition {key!r}")


class IssueError(AlertsError):
    """The issue cannot do that now (e.g. curate a cancelled issue, send an issue of a
    switched-off edition)."""


class AlertError(AlertsError):
    """The alert cannot be made or changed (no such article, already alerted, ...)."""


class UnknownArticle(AlertsError):
    def __init__(self, article_id: int) -> None:
        super().__init__(f"there is no article {article_id}")
        self.article_id = article_id


class OutsideAudience(AlertsError):
    """A preview or test copy asked for a reader the edition would send nothing: says why."""

    def __init__(self, email: str, edition: str, reason: str) -> None:
        super().__init__(f"{email} would get nothing from {edition}: {reason}")
        self.email = email
        self.edition = edition
        self.reason = reason


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


class BenchError(AlertsError):
    """The benchmark cannot run here: the message says what is missing."""


class OutboxError(AlertsError):
    """The demo's outbox folder cannot be used (it holds files the demo did not write)."""


class RequestRefused(AlertsError):
    """A web request that cannot be served as it was sent: nothing was changed.

    `status` is the HTTP answer (400, 401, 403, 404, 409, 422); `field` names the input at
    fault as the request spells it, or is None when the fault is not one field's.
    """

    def __init__(self, status: int, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


class BadInput(RequestRefused):
    """A form field, request body or address part that cannot be used: answered with a 400
    (a page on the desk, JSON in the API)."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


class NotFound(RequestRefused):
    """No such thing: answered with a 404 (a page on the desk, JSON in the API)."""

    def __init__(self, message: str) -> None:
        super().__init__(404, message)
