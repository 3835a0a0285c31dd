"""Editions: the named, scheduled digests editors run (their subject lines: subjects.py).

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

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.editions.subjects import check_subject_template
from alerts.errors import EditionError, EditionNotFound
from alerts.models import (
    DEFAULT_EDITION_IMAGES,
    DEFAULT_SUBJECT,
    DEFAULT_SUMMARY_CHARS,
    Cadence,
    Edition,
    EditionImages,
)
from subscribers.database import utcnow
from subscribers.models import Topic

MAX_ARTICLES_LIMIT = 100
MAX_SUMMARY_CHARS = 2000
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$")
_RESERVED_SLUGS = frozenset({"new", "alert"})


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
    summary_chars: int = DEFAULT_SUMMARY_CHARS
    images: EditionImages = DEFAULT_EDITION_IMAGES
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


def weekly_weekdays(session: Session, *, now: datetime) -> list[int]:
    """The days of the week (0 = Monday) a weekly reader's digest goes out on: those of
    the active weekly editions that go to every weekly reader (no topics), else of every
    active weekly edition; an edition that names no day goes out on Mondays (`issue_date`).
    The sign-up form and the preferences page say it, so it follows the desk's settings."""
    weekly = [
        e for e in list_editions(session, now=now, active_only=True) if e.cadence is Cadence.WEEKLY
    ]
    general = [edition for edition in weekly if not edition.topics] or weekly
    return sorted({edition.weekday or 0 for edition in general})


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
    if not 0 <= data.summary_chars <= MAX_SUMMARY_CHARS:
        raise EditionError(
            "summary_chars",
            f"choose from 0 (headlines only) to {MAX_SUMMARY_CHARS:,} characters",
        )
    if len(data.intro) > 2000:
        raise EditionError("intro", "keep the intro under 2,000 characters")
    check_subject_template(data.subject_template, session=session, now=now)
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
    edition.summary_chars = data.summary_chars
    edition.images = data.images
    edition.topics = sorted(topics, key=lambda topic: topic.slug)
    edition.click_tracking = data.click_tracking
    edition.open_tracking = data.open_tracking
    edition.active = data.active
    edition.updated_at = now
