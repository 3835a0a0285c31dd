"""Editions: the named, scheduled digests editors run, and the subject line each one writes.

Two editions always exist: `daily` (the briefing at each reader's own hour) and `weekly`
(the round-up, for readers who chose weekly). Editors add topic editions and change
names, subjects, intros, days and sizes; the slug is the edition's key in the ledger
and never changes, and an edition is switched off rather than deleted, so its history
stays readable.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.errors import EditionError, EditionNotFound
from alerts.models import DEFAULT_SUBJECT, Cadence, Edition
from subscribers.database import utcnow
from subscribers.models import Topic

MAX_ARTICLES_LIMIT = 100
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$")
_RESERVED_SLUGS = frozenset({"new", "alert"})


class _SubjectEnvironment(SandboxedEnvironment):
    """The sandbox, plus no powers and no huge repetitions: a subject line is short, and
    `{{ 9**9**9 }}` or `{{ lead * 10**8 }}` would tie up a worker."""

    intercepted_binops = frozenset({"**", "*"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            raise SecurityError("powers are not allowed in a subject")
        if isinstance(left, str | list) or isinstance(right, str | list):
            times = right if isinstance(left, str | list) else left
            if isinstance(times, int) and times > 300:
                raise SecurityError("that repeats text too often for a subject")
        return super().call_binop(context, operator, left, right)


_subjects = _SubjectEnvironment(undefined=StrictUndefined, autoescape=False)


@lru_cache(maxsize=256)
def _subject_template(source: str) -> Template:
    """Compiled once per process: every render of a digest writes its subject, and
    compiling (~575 µs here) costs some 80 renders (~7 µs)."""
    return _subjects.from_string(source)


DEFAULT_EDITIONS = (
    ("daily", "Daily briefing", Cadence.DAILY),
    ("weekly", "Weekly round-up", Cadence.WEEKLY),
)


@dataclass(frozen=True)
class EditionInput:
    """What an editor sets on an edition; `None` for send_hour means each reader's own."""

    name: str
    cadence: Cadence = Cadence.DAILY
    weekday: int | None = None
    send_hour: int | None = None
    subject_template: str = DEFAULT_SUBJECT
    intro: str = ""
    max_articles: int = 25
    topic_slugs: Sequence[str] = ()
    click_tracking: bool = False
    open_tracking: bool = False
    active: bool = True


def ensure_default_editions(session: Session, *, now: datetime) -> None:
    """Create the daily and weekly editions when there is no edition at all. Flushes."""
    if session.scalar(select(func.count()).select_from(Edition)):
        return
    for slug, name, cadence in DEFAULT_EDITIONS:
        session.add(Edition(slug=slug, name=name, cadence=cadence, created_at=now, updated_at=now))
    session.flush()


def list_editions(session: Session, *, now: datetime, active_only: bool = False) -> list[Edition]:
    ensure_default_editions(session, now=now)
    query = select(Edition).order_by(Edition.id)
    if active_only:
        query = query.where(Edition.active.is_(True))
    return list(session.scalars(query))


def get_edition(session: Session, key: str | int) -> Edition:
    """The edition with this id or slug. Raises EditionNotFound."""
    ensure_default_editions(session, now=utcnow())
    if isinstance(key, int) or (isinstance(key, str) and key.isdigit()):
        edition = session.get(Edition, int(key))
    else:
        edition = session.scalar(select(Edition).where(Edition.slug == key))
    if edition is None:
        raise EditionNotFound(key)
    return edition


def issue_date(edition: Edition, day: date) -> date:
    """The date of the issue that `day` falls in, as the ledger keys it: the day itself
    for a daily edition; for a weekly one, its day of that Monday-to-Sunday week (the
    Monday when it has no set day), as due_date keys a scheduled weekly send."""
    if edition.cadence is Cadence.DAILY:
        return day
    monday = day - timedelta(days=day.weekday())
    return monday + timedelta(days=edition.weekday or 0)


def create_edition(session: Session, *, slug: str, data: EditionInput, now: datetime) -> Edition:
    """Add an edition. Raises EditionError naming the field at fault. Flushes."""
    slug = slug.strip().lower()
    if not _SLUG.match(slug) or slug in _RESERVED_SLUGS:
        raise EditionError(
            "slug", "use 1 to 50 lowercase letters, digits and hyphens (not 'new' or 'alert')"
        )
    if session.scalar(select(Edition.id).where(Edition.slug == slug)) is not None:
        raise EditionError("slug", f"an edition {slug!r} exists already")
    edition = Edition(slug=slug, created_at=now)
    _apply(session, edition, data, now=now)
    session.add(edition)
    session.flush()
    return edition


def update_edition(
    session: Session, edition: Edition, *, data: EditionInput, now: datetime
) -> None:
    """Change an edition's settings. Raises EditionError. Flushes."""
    _apply(session, edition, data, now=now)
    session.flush()


def _apply(session: Session, edition: Edition, data: EditionInput, *, now: datetime) -> None:
    name = data.name.strip()
    if not name or len(name) > 200:
        raise EditionError("name", "give a name of 1 to 200 characters")
    if data.weekday is not None and not 0 <= data.weekday <= 6:
        raise EditionError("weekday", "choose a day from Monday to Sunday")
    if data.cadence is Cadence.DAILY and data.weekday is not None:
        raise EditionError("weekday", "a daily edition goes out every day")
    if data.send_hour is not None and not 0 <= data.send_hour <= 23:
        raise EditionError("send_hour", "choose an hour from 0 to 23, or each reader's own")
    if not 1 <= data.max_articles <= MAX_ARTICLES_LIMIT:
        raise EditionError("max_articles", f"choose from 1 to {MAX_ARTICLES_LIMIT} articles")
    if len(data.intro) > 2000:
        raise EditionError("intro", "keep the intro under 2,000 characters")
    check_subject_template(data.subject_template)
    topics = list(session.scalars(select(Topic).where(Topic.slug.in_(set(data.topic_slugs)))))
    unknown = set(data.topic_slugs) - {topic.slug for topic in topics}
    if unknown:
        raise EditionError("topics", f"no such topic: {', '.join(sorted(unknown))}")
    edition.name = name
    edition.cadence = data.cadence
    edition.weekday = data.weekday
    edition.send_hour = data.send_hour
    edition.subject_template = data.subject_template.strip()
    edition.intro = data.intro.strip()
    edition.max_articles = data.max_articles
    edition.topics = sorted(topics, key=lambda topic: topic.slug)
    edition.click_tracking = data.click_tracking
    edition.open_tracking = data.open_tracking
    edition.active = data.active
    edition.updated_at = now


_SAMPLE = {
    "edition": "Daily briefing",
    "lead": "A headline",
    "count": 3,
    "more": 2,
    "date": "Monday 7 December 2026",
    "site": "The Example Gazette",
}


def check_subject_template(template: str) -> None:
    """Raise EditionError unless `template` renders with the documented variables."""
    if not template.strip() or len(template) > 300:
        raise EditionError("subject_template", "give a subject of 1 to 300 characters")
    try:
        _subjects.from_string(template).render(_SAMPLE)
    except Exception as error:  # syntax, unknown names, unsafe access, or a type error
        raise EditionError("subject_template", f"cannot be used: {error}") from None


def subject_line(
    template: str, *, edition: str, lead: str, count: int, local_date: date, site: str
) -> str:
    """The subject an issue goes out with (variables: edition, lead, count, more, date, site)."""
    values = {
        "edition": edition,
        "lead": lead,
        "count": count,
        "more": max(count - 1, 0),
        "date": f"{local_date:%A} {local_date.day} {local_date:%B %Y}",
        "site": site,
    }
    try:
        rendered = _subject_template(template).render(values)
    except Exception:  # checked when saved; real values can still trip it (an empty lead)
        rendered = _subject_template(DEFAULT_SUBJECT).render(values)
    return " ".join(rendered.split())[:300]
