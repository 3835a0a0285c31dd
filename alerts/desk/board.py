"""What the editors' desk shows and does to an issue's selection, as plain functions.

The desk reads: each edition's coming issues with their progress, an issue's board of
candidate articles (pinned on top in the editor's order, then newest first, dropped ones
kept in place so they can be restored), and the latest articles an editor may send as a
breaking alert. Opening a page writes nothing: an issue nobody has touched yet is shown
as a draft, and only the first action on it stores it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.digests.planning import issue_audience
from alerts.digests.selection import FIRST_WINDOW
from alerts.editions.issues import candidates, drop, find_issue, move, pin, restore, unpin
from alerts.editions.schedules import (
    ensure_default_editions,
    get_edition,
    issue_date,
    list_editions,
)
from alerts.errors import EditionNotFound, UnknownArticle
from alerts.ledger.states import Progress, progress
from alerts.models import Article, BreakingAlert, Edition, Issue, IssueStatus

# How far back the desk offers articles as breaking alerts.
ALERT_WINDOW = timedelta(hours=48)
LATEST_ARTICLES = 30
RECENT_ALERTS = 10
NO_PROGRESS = Progress(total=0, pending=0, sending=0, sent=0, failed=0, suppressed=0,
                       cancelled=0, skipped=0, per_minute=0.0, oldest_pending=None)  # fmt: skip
_EDITION_KEY = re.compile(r"^[a-z0-9-]{1,50}$")
CURATION_ACTIONS = ("pin", "unpin", "drop", "restore", "up", "down")


@dataclass(frozen=True)
class ComingIssue:
    """The current or next issue of an edition as the overview lists it (stored or not yet)."""

    edition: Edition
    local_date: date
    issue: Issue | None
    progress: Progress
    audience: int = 0  # readers "send now" would still reach (digests.planning.issue_audience)

    @property
    def status(self) -> IssueStatus:
        return self.issue.status if self.issue is not None else IssueStatus.OPEN


@dataclass(frozen=True)
class EditionRow:
    edition: Edition
    issues: list[ComingIssue]


@dataclass(frozen=True)
class AlertSummary:
    alert: BreakingAlert
    progress: Progress


@dataclass(frozen=True)
class BoardRow:
    """A candidate article of an issue and what the editor decided about it."""

    article: Article
    pinned_position: int | None  # 1-based, in the editor's order
    dropped: bool
    outside_lock: bool  # arrived after the selection was locked: it will not go out

    @property
    def pinned(self) -> bool:
        return self.pinned_position is not None


def find_edition(session: Session, key: str, *, now: datetime) -> Edition:
    """The edition `key` names (the two default editions exist from the first look on).
    Raises EditionNotFound."""
    if not _EDITION_KEY.match(key):  # never send the database a NUL or a novel
        raise EditionNotFound(key[:60])
    ensure_default_editions(session, now=now)
    return get_edition(session, key)


def coming_issue_dates(edition: Edition, today: date) -> list[date]:
    """The edition's current and next issue dates: today and tomorrow for a daily
    edition, this week's and next week's for a weekly one."""
    step = timedelta(days=1 if edition.cadence.value == "daily" else 7)
    first = issue_date(edition, today)
    return [first, issue_date(edition, first + step)]


def issue_progress(session: Session, issue: Issue | None, *, now: datetime) -> Progress:
    if issue is None or issue.id is None:
        return NO_PROGRESS
    counts = progress(session, now=now, issue_id=issue.id)
    return replace(counts, held=issue.status is not IssueStatus.OPEN)


def edition_rows(session: Session, *, now: datetime, today: date) -> list[EditionRow]:
    """Every edition with its current and next issue."""
    rows = []
    for edition in list_editions(session, now=now):
        issues = []
        for day in coming_issue_dates(edition, today):
            issue = find_issue(session, edition.id, day)
            counts = issue_progress(session, issue, now=now)
            issue_id = issue.id if issue is not None else None
            audience = issue_audience(session, edition, issue_id=issue_id, now=now)
            issues.append(ComingIssue(edition, day, issue, counts, audience))
        rows.append(EditionRow(edition, issues))
    return rows


def draft_issue(edition: Edition, local_date: date) -> Issue:
    """An issue not stored yet, with no curation: what a page shows before any action."""
    return Issue(edition=edition, edition_id=edition.id, local_date=local_date,
                 status=IssueStatus.OPEN, subject=None, intro=None, pinned_ids=[],
                 dropped_ids=[], locked_ids=None, locked_at=None, sent_now_at=None)  # fmt: skip


def issue_or_draft(session: Session, edition: Edition, local_date: date) -> Issue:
    return find_issue(session, edition.id, local_date) or draft_issue(edition, local_date)


def board(session: Session, issue: Issue, *, now: datetime) -> list[BoardRow]:
    """The issue's candidate articles: pinned first in the editor's order, then the
    rest newest first (dropped ones included, marked)."""
    window = FIRST_WINDOW[issue.edition.cadence]
    found = {article.id: article for article in candidates(session, issue, now=now, window=window)}
    pinned = [i for i in issue.pinned_ids if i in found]
    order = pinned + [i for i in found if i not in set(pinned)]
    dropped = set(issue.dropped_ids)
    locked = None if issue.locked_ids is None else set(issue.locked_ids) | set(pinned)
    return [
        BoardRow(
            article=found[article_id],
            pinned_position=pinned.index(article_id) + 1 if article_id in pinned else None,
            dropped=article_id in dropped,
            outside_lock=locked is not None and article_id not in locked,
        )
        for article_id in order
    ]


def selectable_ids(rows: list[BoardRow]) -> list[int]:
    """What locking the board keeps: every candidate not dropped, pinned ones first."""
    return [row.article.id for row in rows if not row.dropped]


def curate(session: Session, issue: Issue, *, action: str, article_id: int, now: datetime) -> None:
    """Apply one of CURATION_ACTIONS to an article of the issue. Raises UnknownArticle,
    IssueError (a cancelled issue, moving an article that is not pinned), ValueError for
    an unknown action."""
    if session.get(Article, article_id) is None:
        raise UnknownArticle(article_id)
    if action == "pin":
        pin(issue, article_id, now=now)
    elif action == "unpin":
        unpin(issue, article_id, now=now)
    elif action == "drop":
        drop(issue, article_id, now=now)
    elif action == "restore":
        restore(issue, article_id, now=now)
    elif action in ("up", "down"):
        move(issue, article_id, by=-1 if action == "up" else 1, now=now)
    else:
        raise ValueError(f"unknown curation action {action!r}")


def latest_articles(session: Session, *, now: datetime) -> list[Article]:
    """The newest articles of the last ALERT_WINDOW, newest first: alert candidates."""
    return list(
        session.scalars(
            select(Article)
            .where(Article.published_at > now - ALERT_WINDOW, Article.published_at <= now)
            .order_by(Article.published_at.desc(), Article.id.desc())
            .limit(LATEST_ARTICLES)
        )
    )


def recent_alerts_with_progress(session: Session, *, now: datetime) -> list[AlertSummary]:
    """The latest breaking alerts, newest first, each with its sending progress."""
    alerts = session.scalars(
        select(BreakingAlert)
        .order_by(BreakingAlert.created_at.desc(), BreakingAlert.id.desc())
        .limit(RECENT_ALERTS)
    )
    return [
        AlertSummary(
            alert,
            replace(
                progress(session, now=now, alert_id=alert.id),
                held=alert.status is not IssueStatus.OPEN,
            ),
        )
        for alert in alerts
    ]


def alerted_article_ids(session: Session, article_ids: list[int]) -> set[int]:
    return set(
        session.scalars(
            select(BreakingAlert.article_id).where(BreakingAlert.article_id.in_(article_ids))
        )
    )
