"""Issues: one edition on one local date — its curation, and pausing, resuming, cancelling it.

Pausing and cancelling act on the ledger itself (alerts.ledger.states). Rows not yet in an
SMTP exchange go back to `pending` (paused) or to `cancelled`; a batch already running
finds, at its next group, that it no longer owns them and leaves them alone, so at most
the group in flight (SEND_GROUP_SIZE messages) still leaves after the click. Claims and
the queue skip rows of issues that are not open, and planning writes no rows for a
cancelled one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, object_session

from alerts.errors import EditionError, IssueError
from alerts.ledger.states import take_back
from alerts.models import (
    Article,
    Delivery,
    DeliveryStatus,
    Edition,
    Issue,
    IssueStatus,
    Selection,
)
from subscribers.models import Topic


def issue_for(session: Session, edition: Edition, local_date: date, *, now: datetime) -> Issue:
    """The issue of `edition` on `local_date`, created when first needed. Flushes.

    Two planners creating the same issue at once both end up with the one row.
    """
    found = find_issue(session, edition.id, local_date)
    if found is not None:
        return found
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(Issue)
        .values(
            edition_id=edition.id,
            local_date=local_date,
            status=IssueStatus.OPEN,
            pinned_ids=[],
            dropped_ids=[],
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["edition_id", "local_date"])
    )
    issue = find_issue(session, edition.id, local_date)
    assert issue is not None
    return issue


def find_issue(session: Session, edition_id: int, local_date: date) -> Issue | None:
    return session.scalar(
        select(Issue).where(Issue.edition_id == edition_id, Issue.local_date == local_date)
    )


def get_issue(session: Session, issue_id: int) -> Issue:
    issue = session.get(Issue, issue_id)
    if issue is None:
        raise IssueError(f"there is no issue {issue_id}")
    return issue


@dataclass(frozen=True)
class Curation:
    """An editor's decisions for one issue (alerts.digests.selection's rules say how they
    shape each reader's copy)."""

    pinned: tuple[int, ...] = ()
    dropped: frozenset[int] = frozenset()
    locked: frozenset[int] | None = None


NO_CURATION = Curation()


def curation_of(issue: Issue) -> Curation:
    return Curation(
        pinned=tuple(issue.pinned_ids),
        dropped=frozenset(issue.dropped_ids),
        locked=None if issue.locked_ids is None else frozenset(issue.locked_ids),
    )


def _editable(issue: Issue) -> None:
    if issue.status is IssueStatus.CANCELLED:
        raise IssueError("this issue was cancelled; it can no longer change")


def _touch(issue: Issue, now: datetime) -> None:
    issue.updated_at = now


def pin(issue: Issue, article_id: int, *, now: datetime) -> None:
    """Put an article on top of every reader's copy (after those pinned before it)."""
    _editable(issue)
    if article_id not in issue.pinned_ids:
        issue.pinned_ids = [*issue.pinned_ids, article_id]
    issue.dropped_ids = [i for i in issue.dropped_ids if i != article_id]
    _touch(issue, now)


def unpin(issue: Issue, article_id: int, *, now: datetime) -> None:
    _editable(issue)
    issue.pinned_ids = [i for i in issue.pinned_ids if i != article_id]
    _touch(issue, now)


def drop(issue: Issue, article_id: int, *, now: datetime) -> None:
    """Leave an article out of the issue for every reader."""
    _editable(issue)
    if article_id not in issue.dropped_ids:
        issue.dropped_ids = [*issue.dropped_ids, article_id]
    issue.pinned_ids = [i for i in issue.pinned_ids if i != article_id]
    _touch(issue, now)


def restore(issue: Issue, article_id: int, *, now: datetime) -> None:
    _editable(issue)
    issue.dropped_ids = [i for i in issue.dropped_ids if i != article_id]
    _touch(issue, now)


def move(issue: Issue, article_id: int, *, by: int, now: datetime) -> None:
    """Move a pinned article up (by < 0) or down (by > 0) among the pinned ones."""
    _editable(issue)
    pinned = list(issue.pinned_ids)
    if article_id not in pinned:
        raise IssueError("only pinned articles have an order of their own; pin it first")
    old = pinned.index(article_id)
    new = max(0, min(len(pinned) - 1, old + by))
    pinned.insert(new, pinned.pop(old))
    issue.pinned_ids = pinned
    _touch(issue, now)


def set_texts(issue: Issue, *, subject: str | None, intro: str | None, now: datetime) -> None:
    """Override the edition's subject and intro for this issue ("" or None: the edition's).
    Raises IssueError (naming subject_template for a template that cannot be used)."""
    from alerts.editions.subjects import check_subject_template

    _editable(issue)
    subject = (subject or "").strip() or None
    intro = (intro or "").strip() or None
    if subject is not None:
        try:
            check_subject_template(subject, session=object_session(issue), now=now)
        except EditionError as error:
            raise IssueError(error.message) from None
    if intro is not None and len(intro) > 2000:
        raise IssueError("keep the intro under 2,000 characters")
    issue.subject = subject
    issue.intro = intro
    _touch(issue, now)


def lock(issue: Issue, article_ids: Sequence[int], *, now: datetime) -> None:
    """Freeze the selection: from now on only these articles (and the pinned) can go out."""
    _editable(issue)
    issue.locked_ids = list(dict.fromkeys([*issue.pinned_ids, *article_ids]))
    issue.locked_at = now
    _touch(issue, now)


def unlock(issue: Issue, *, now: datetime) -> None:
    _editable(issue)
    issue.locked_ids = None
    issue.locked_at = None
    _touch(issue, now)


def candidates(
    session: Session, issue: Issue, *, now: datetime, window: timedelta
) -> list[Article]:
    """What an editor curates from: the edition's articles of the last `window`, newest
    first, with anything pinned (however old) — dropped ones included, marked by the desk."""
    edition = issue.edition
    query = select(Article).where(Article.published_at > now - window, Article.published_at <= now)
    if edition.topics:
        topic_ids = [topic.id for topic in edition.topics]
        query = query.where(Article.topics.any(Topic.id.in_(topic_ids)))
    found = list(session.scalars(query.order_by(Article.published_at.desc(), Article.id.desc())))
    seen = {article.id for article in found}
    extra = [i for i in issue.pinned_ids if i not in seen]
    if extra:
        found.extend(session.scalars(select(Article).where(Article.id.in_(extra))))
    return found


def pause(session: Session, issue: Issue, *, now: datetime) -> int:
    """Hold the issue: rows not yet sending go back to pending and wait. Returns how many.
    Flushes; the caller commits (the sooner, the fewer messages leave)."""
    if issue.status is IssueStatus.CANCELLED:
        raise IssueError("this issue was cancelled")
    issue.status = IssueStatus.PAUSED
    _touch(issue, now)
    session.flush()
    return take_back(session, Delivery.issue_id == issue.id, DeliveryStatus.PENDING)


def resume(session: Session, issue: Issue, *, now: datetime) -> None:
    """Let a paused issue go on; its pending rows are queued by the caller or the next tick."""
    if issue.status is IssueStatus.CANCELLED:
        raise IssueError("this issue was cancelled; it cannot be resumed")
    issue.status = IssueStatus.OPEN
    _touch(issue, now)
    session.execute(
        update(Delivery)
        .where(Delivery.issue_id == issue.id, Delivery.status == DeliveryStatus.PENDING)
        .values(next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    session.flush()


def cancel(session: Session, issue: Issue, *, now: datetime) -> int:
    """Call the issue off: rows not yet sending are cancelled and no more are planned.
    Returns how many rows were cancelled. Flushes."""
    issue.status = IssueStatus.CANCELLED
    _touch(issue, now)
    session.flush()
    return take_back(session, Delivery.issue_id == issue.id, DeliveryStatus.CANCELLED)


def issue_articles(session: Session, issue: Issue) -> list[Article]:
    """Every article the issue carried to any reader: pinned first, then newest first.
    What the archive shows — nothing in it is specific to one reader. Read from the list
    recorded on the issue once its sending was over, else from the ledger."""
    ids = set(issue.article_ids) if issue.article_ids is not None else _carried(session, issue)
    articles = {a.id: a for a in session.scalars(select(Article).where(Article.id.in_(ids)))}
    pinned = [articles[i] for i in issue.pinned_ids if i in articles]
    rest = sorted(
        (a for i, a in articles.items() if i not in set(issue.pinned_ids)),
        key=lambda a: (a.published_at, a.id),
        reverse=True,
    )
    return pinned + rest


def _carried(session: Session, issue: Issue) -> set[int]:
    """The articles of the issue's sent ledger rows."""
    # Readers with the same topic mix got the same list: one row per distinct list.
    shared = (
        select(Delivery.selection_id)
        .where(Delivery.issue_id == issue.id, Delivery.status == DeliveryStatus.SENT)
        .distinct()
    )
    ids: set[int] = set()
    for listed in session.scalars(select(Selection.article_ids).where(Selection.id.in_(shared))):
        ids.update(listed)
    return ids


# An issue's sending is over by then: its readers' local date has passed everywhere on
# Earth, and with it every retry's window (RETRY_WINDOW_HOURS, never past the next digest).
SETTLED_AFTER_DAYS = 2


def record_issue_articles(session: Session, *, today: date) -> int:
    """Record on each issue whose sending is over (a local date SETTLED_AFTER_DAYS or more
    before `today`) the articles it carried, once; how many issues were recorded. Run
    before the ledger is pruned, so the archive keeps every issue's stories after its rows
    are gone; it also spares the archive a read of an old issue's rows. Commits each."""
    waiting = session.scalars(
        select(Issue)
        .where(
            Issue.article_ids.is_(None),
            Issue.local_date <= today - timedelta(days=SETTLED_AFTER_DAYS),
        )
        .order_by(Issue.id)
    ).all()
    for issue in waiting:
        issue.article_ids = sorted(_carried(session, issue))
        session.commit()
    return len(waiting)
