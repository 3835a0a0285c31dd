"""Previews on the desk: whom to preview an issue as, and what the desk shows of it.

An editor previews as a reader (by address) or as a new reader of some topics in a time
zone. The desk shows the email with that reader's own unsubscribe and preferences links
made dead (see alerts.desk.proofs), and says plainly when there is nothing to show.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from alerts.desk.preview import Preview, preview_digest, preview_topic_mix
from alerts.desk.proofs import without_reader_links
from alerts.errors import AlertsError
from alerts.mail.rendering import RenderedEmail
from alerts.models import Edition, Issue
from alerts.web.context import db, web_context
from alerts.web.pages import time_zones
from subscribers.database import utcnow
from subscribers.errors import SubscribersError

_TOPIC = re.compile(r"^[a-z0-9-]{1,100}$")


@dataclass(frozen=True)
class PreviewRequest:
    """Whom to preview the issue as: a reader (by address) or a mix of topics in a zone."""

    mode: str = "reader"
    email: str = ""
    topics: tuple[str, ...] = ()
    timezone: str = "UTC"
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, values: MultiDict[str, str], default_zone: str) -> PreviewRequest:
        mode = "topics" if values.get("mode") == "topics" else "reader"
        email = (values.get("email") or "").strip()[:320]
        zone = values.get("timezone") or default_zone
        errors = {}
        if mode == "reader" and not email:
            errors["email"] = "Give the address of a reader to preview as."
        if zone not in time_zones():
            errors["timezone"] = "Choose a time zone from the list."
            zone = default_zone
        topics = tuple(dict.fromkeys(values.getlist("topics")))[:100]
        if not all(_TOPIC.match(topic) for topic in topics):
            errors["topics"] = "Choose topics from the list."
        return cls(mode, email, topics, zone, errors)

    def query(self) -> dict[str, Any]:
        if self.mode == "reader":
            return {"preview": "1", "mode": "reader", "email": self.email}
        return {"preview": "1", "mode": "topics", "topics": list(self.topics),
                "timezone": self.timezone}  # fmt: skip


@dataclass(frozen=True)
class PreviewOutcome:
    preview: Preview | None
    message: str | None
    # What the desk shows: the preview with the reader's own links made dead.
    email: RenderedEmail | None = None


def run_preview(edition: Edition, issue: Issue, wanted: PreviewRequest) -> PreviewOutcome:
    if wanted.errors:
        return PreviewOutcome(None, " ".join(wanted.errors.values()))
    session, runtime = db(), web_context().runtime
    try:
        if wanted.mode == "reader":
            found = preview_digest(session, runtime=runtime, email=wanted.email,
                                   edition=edition.slug, issue=issue, now=utcnow())  # fmt: skip
        else:
            found = preview_topic_mix(session, runtime=runtime, edition=edition.slug,
                                      topic_slugs=wanted.topics, timezone=wanted.timezone,
                                      issue=issue, now=utcnow())  # fmt: skip
    except (AlertsError, SubscribersError) as error:
        return PreviewOutcome(None, f"No preview: {error}.")
    if found is None:
        return PreviewOutcome(None, "This digest would be empty: nothing new on those topics, "
                                    "so no email would go out.")  # fmt: skip
    return PreviewOutcome(found, None, without_reader_links(session, runtime.settings, found))
