"""The webhook credentials: which providers may report to us, and how to check that they did.

A provider with no credentials configured has no endpoint at all (404), so a fresh
install accepts no reports from anyone. Values come from the `Settings` object when it
has them (`webhook_postmark_user`, ...) and otherwise from the environment variables of
the same names in upper case, so this works before and after they join `Settings`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

DEFAULT_MAX_AGE_SECONDS = 600
PROVIDERS = ("postmark", "sendgrid", "mailgun", "ses")
_NAMES = (
    "webhook_postmark_user",
    "webhook_postmark_password",
    "webhook_sendgrid_public_key",
    "webhook_mailgun_signing_key",
    "webhook_ses_topic_arn",
    "webhook_max_age_seconds",
)


@dataclass(frozen=True)
class WebhookSettings:
    postmark_user: str | None = None
    postmark_password: str | None = None
    sendgrid_public_key: str | None = None
    mailgun_signing_key: str | None = None
    # Comma-separated in the environment: one topic per region or per configuration set.
    ses_topic_arns: tuple[str, ...] = ()
    # How old a signed timestamp may be before the request counts as a replay.
    max_age: timedelta = timedelta(seconds=DEFAULT_MAX_AGE_SECONDS)

    @classmethod
    def load(
        cls, settings: object | None = None, environ: Mapping[str, str] | None = None
    ) -> WebhookSettings:
        """Read from `settings` attributes first, then the environment."""
        source = os.environ if environ is None else environ
        values: dict[str, str | None] = {}
        for name in _NAMES:
            value = getattr(settings, name, None) if settings is not None else None
            if value is None:
                value = source.get(name.upper())
            values[name] = str(value).strip() if value not in (None, "") else None
        topics = values["webhook_ses_topic_arn"] or ""
        max_age = int(values["webhook_max_age_seconds"] or DEFAULT_MAX_AGE_SECONDS)
        return cls(
            postmark_user=values["webhook_postmark_user"],
            postmark_password=values["webhook_postmark_password"],
            sendgrid_public_key=values["webhook_sendgrid_public_key"],
            mailgun_signing_key=values["webhook_mailgun_signing_key"],
            ses_topic_arns=tuple(filter(None, (part.strip() for part in topics.split(",")))),
            max_age=timedelta(seconds=max_age),
        )

    def enabled(self, provider: str) -> bool:
        """True if `provider` has what it takes to verify its requests."""
        return {
            "postmark": bool(self.postmark_user and self.postmark_password),
            "sendgrid": bool(self.sendgrid_public_key),
            "mailgun": bool(self.mailgun_signing_key),
            "ses": bool(self.ses_topic_arns),
        }.get(provider, False)
