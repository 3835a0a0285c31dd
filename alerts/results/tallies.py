"""What an issue or an alert achieved, and which stories readers chose, from the ledger.

Counts come from the delivery ledger and what hangs off it:

- sent, failed, bounced, suppressed, still to send: ledger rows by state, so each reader
  counts once. `bounced` rows were accepted by the relay (a 250) and hard-bounced later:
  neither sent nor failed;
- hard and soft bounces and complaints: deliveries with such a FeedbackEvent (a soft
  bounce or a delay leaves its row sent: the message may still arrive);
- unsubscribed: readers who received it and unsubscribed within UNSUBSCRIBE_WINDOW after
  their copy was sent. An unsubscribe is attributed to every issue and alert the reader
  received in the window before it, so one reader leaving after three daily issues is
  counted by all three: read it as "readers lost soon after", not "readers lost by";
- clicks: every recorded click (scanners are not recorded, see alerts.results.clicks); "readers"
  are unique deliveries that clicked, so a reader clicking twice counts once;
- opens: deliveries whose pixel was loaded, only for editions that track opens, and
  unreliable (see alerts.results.clicks.record_open) — shown as such everywhere.

A rate is readers who clicked over readers who were sent it ("recipients"): an article's
recipients are the sent deliveries that carried it, a position's those with at least that
many articles. Everything is a few grouped queries, never a row per reader.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, distinct, func, select
from sqlalchemy.orm import QueryableAttribute, Session

from alerts.ledger.counts import issues_state_counts, state_counts
from alerts.ledger.states import UNSETTLED
from alerts.models import (
    Article,
    BreakingAlert,
    Click,
    Delivery,
    DeliveryCount,
    DeliveryStatus,
    Edition,
    FeedbackEvent,
    FeedbackKind,
    Issue,
    Selection,
    article_topics,
)
from subscribers.models import ConsentEvent, ConsentKind, Topic

UNSUBSCRIBE_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class Tally:
    """Clicks on one thing (an article, a position, a section, a topic, a day)."""

    label: str
    recipients: int = 0
    clicks: int = 0
    readers: int = 0

    @property
    def rate(self) -> float:
        """Readers who clicked over readers who were sent it (0 when none were)."""
        return self.readers / self.recipients if self.recipients else 0.0


@dataclass(frozen=True)
class ArticleResult:
    article_id: int
    title: str
    url: str
    section: str | None
    topics: tuple[str, ...]
    position: int  # where most readers had it
    tally: Tally


@dataclass
class Results:
    """The outcome of one issue or alert."""

    sent: int = 0
    failed: int = 0
    bounced: int = 0  # accepted by the relay, then hard-bounced
    suppressed: int = 0
    to_send: int = 0
    hard_bounced: int = 0
    soft_bounced: int = 0
    complained: int = 0
    unsubscribed: int = 0
    clicks: int = 0
    readers_clicked: int = 0
    click_tracking: bool = False
    open_tracking: bool = False
    opens: int | None = None  # None: not tracked
    articles: list[ArticleResult] = field(default_factory=list)
    positions: list[Tally] = field(default_factory=list)

    @property
    def click_rate(self) -> float:
        return self.readers_clicked / self.sent if self.sent else 0.0


def issue_results(session: Session, issue: Issue) -> Results:
    edition = issue.edition
    return _results(
        session,
        Delivery.issue_id == issue.id,
        issue_id=issue.id,
        click_tracking=edition.click_tracking,
        open_tracking=edition.open_tracking,
    )


def alert_results(session: Session, alert: BreakingAlert) -> Results:
    """An alert's counts; alerts carry no tracked links, so clicks stay at zero."""
    return _results(
        session,
        Delivery.alert_id == alert.id,
        alert_id=alert.id,
        click_tracking=False,
        open_tracking=False,
    )


def _results(
    session: Session,
    scope: ColumnElement[bool],
    *,
    issue_id: int | None = None,
    alert_id: int | None = None,
    click_tracking: bool,
    open_tracking: bool,
) -> Results:
    """Counts by state from the ledger's running counts (so erasing a reader lowers none);
    feedback, clicks and the articles carried from the rows in `scope`."""
    results = Results(click_tracking=click_tracking, open_tracking=open_tracking)
    states = state_counts(session, issue_id=issue_id, alert_id=alert_id)
    results.sent = int(states.get(DeliveryStatus.SENT, 0))
    results.failed = int(states.get(DeliveryStatus.FAILED, 0))
    results.bounced = int(states.get(DeliveryStatus.BOUNCED, 0))
    results.suppressed = int(states.get(DeliveryStatus.SUPPRESSED, 0))
    results.to_send = sum(int(states.get(state, 0)) for state in UNSETTLED)
    feedback = dict(
        session.execute(
            select(FeedbackEvent.kind, func.count(distinct(FeedbackEvent.delivery_id)))
            .join(Delivery, Delivery.id == FeedbackEvent.delivery_id)
            .where(scope)
            .group_by(FeedbackEvent.kind)
        ).all()
    )
    results.hard_bounced = int(feedback.get(FeedbackKind.HARD_BOUNCE, 0))
    results.soft_bounced = int(feedback.get(FeedbackKind.SOFT_BOUNCE, 0))
    results.complained = int(feedback.get(FeedbackKind.COMPLAINT, 0))
    results.unsubscribed = _unsubscribed(session, scope)
    if open_tracking:
        results.opens = int(
            session.scalar(select(func.count()).where(scope, Delivery.opened_at.is_not(None))) or 0
        )
    totals = session.execute(
        select(func.count(Click.id), func.count(distinct(Click.delivery_id)))
        .join(Delivery, Delivery.id == Click.delivery_id)
        .where(scope)
    ).one()
    results.clicks, results.readers_clicked = int(totals[0]), int(totals[1])
    carried = _carried(session, scope)
    results.articles = _article_results(session, scope, carried)
    results.positions = _position_tallies(session, scope, carried)
    return results


def _unsubscribed(session: Session, scope: ColumnElement[bool]) -> int:
    """Readers of `scope` who unsubscribed within UNSUBSCRIBE_WINDOW of their copy."""
    rows = session.execute(
        select(Delivery.subscriber_id, Delivery.sent_at, ConsentEvent.occurred_at)
        .join(ConsentEvent, ConsentEvent.subscriber_id == Delivery.subscriber_id)
        .where(
            scope,
            Delivery.status == DeliveryStatus.SENT,
            ConsentEvent.kind == ConsentKind.UNSUBSCRIBE,
            ConsentEvent.occurred_at >= Delivery.sent_at,
        )
    ).all()
    return len(
        {
            reader
            for reader, sent_at, left in rows
            if sent_at is not None and left < sent_at + UNSUBSCRIBE_WINDOW
        }
    )


@dataclass
class _Carried:
    """Which articles went to how many readers, and where in their digests."""

    recipients: Counter[int] = field(default_factory=Counter)  # article id -> deliveries
    positions: dict[int, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    lengths: Counter[int] = field(default_factory=Counter)  # digest length -> deliveries

    def at_least(self, position: int) -> int:
        """Deliveries whose digest had an article at `position`."""
        return sum(count for length, count in self.lengths.items() if length >= position)


def _carried(session: Session, scope: ColumnElement[bool]) -> _Carried:
    # Readers with the same topic mix share a selection: count the rows of each, then read
    # each list once.
    counted = (
        select(Delivery.selection_id, func.count().label("rows"))
        .where(scope, Delivery.status == DeliveryStatus.SENT)
        .group_by(Delivery.selection_id)
        .subquery()
    )
    carried = _Carried()
    for listed, count in session.execute(
        select(Selection.article_ids, counted.c.rows)
        .select_from(counted)
        .outerjoin(Selection, Selection.id == counted.c.selection_id)
    ):
        article_ids: list[int] = listed or []
        carried.lengths[len(article_ids)] += count
        for position, article_id in enumerate(article_ids, start=1):
            carried.recipients[article_id] += count
            carried.positions[article_id][position] += count
    return carried


def _click_counts(
    session: Session,
    scope: ColumnElement[bool],
    key: QueryableAttribute[Any],
) -> dict[int, tuple[int, int]]:
    rows = session.execute(
        select(key, func.count(Click.id), func.count(distinct(Click.delivery_id)))
        .join(Delivery, Delivery.id == Click.delivery_id)
        .where(scope)
        .group_by(key)
    )
    return {value: (int(clicks), int(readers)) for value, clicks, readers in rows if value}


def _article_results(
    session: Session, scope: ColumnElement[bool], carried: _Carried
) -> list[ArticleResult]:
    counts = _click_counts(session, scope, Click.article_id)
    ids = set(carried.recipients) | set(counts)
    articles = {a.id: a for a in session.scalars(select(Article).where(Article.id.in_(ids)))}
    found = []
    for article_id, article in articles.items():
        clicks, readers = counts.get(article_id, (0, 0))
        where = carried.positions[article_id]
        # Where most readers had it; of equally common places, the higher one.
        usual = min(where, key=lambda position: (-where[position], position), default=0)
        found.append(
            ArticleResult(
                article_id=article_id,
                title=article.title,
                url=article.url,
                section=article.section,
                topics=tuple(topic.name for topic in article.topics),
                position=usual,
                tally=Tally(article.title, carried.recipients[article_id], clicks, readers),
            )
        )
    found.sort(key=lambda a: (-a.tally.readers, -a.tally.clicks, a.position, a.article_id))
    return found


def _position_tallies(
    session: Session, scope: ColumnElement[bool], carried: _Carried
) -> list[Tally]:
    counts = _click_counts(session, scope, Click.position)
    longest = max([*carried.lengths, *counts, 0])
    return [
        Tally(str(position), carried.at_least(position), *counts.get(position, (0, 0)))
        for position in range(1, longest + 1)
    ]


# --- across an edition's issues ---------------------------------------------------------


@dataclass(frozen=True)
class IssueSummary:
    """One line of the results overview."""

    issue: Issue
    sent: int
    failed: int
    clicks: int
    readers_clicked: int
    opens: int | None

    @property
    def click_rate(self) -> float:
        return self.readers_clicked / self.sent if self.sent else 0.0


def sent_issues(session: Session, edition: Edition, *, limit: int = 10) -> list[Issue]:
    """The edition's issues that went to at least one reader, newest first."""
    has_sent = (
        select(DeliveryCount.id)
        .where(
            DeliveryCount.issue_id == Issue.id,
            DeliveryCount.status == DeliveryStatus.SENT.value,
            DeliveryCount.entered > 0,
        )
        .exists()
    )
    return list(
        session.scalars(
            select(Issue)
            .where(Issue.edition_id == edition.id, has_sent)
            .order_by(Issue.local_date.desc())
            .limit(limit)
        )
    )


def issue_summaries(session: Session, issues: Sequence[Issue]) -> list[IssueSummary]:
    """Sent, failed (from the ledger's running counts), clicks, readers who clicked and opens
    of each issue, in three queries."""
    ids = [issue.id for issue in issues]
    if not ids:
        return []
    states = issues_state_counts(session, ids)
    tracked = [issue.id for issue in issues if issue.edition.open_tracking]
    opens: Counter[int | None] = Counter()
    if tracked:  # opens only where they are tracked: those issues' rows
        for issue_id, opened in session.execute(
            select(Delivery.issue_id, func.count(Delivery.opened_at))
            .where(Delivery.issue_id.in_(tracked))
            .group_by(Delivery.issue_id)
        ):
            opens[issue_id] += int(opened)
    clicks = {
        issue_id: (int(total), int(readers))
        for issue_id, total, readers in session.execute(
            select(Click.issue_id, func.count(Click.id), func.count(distinct(Click.delivery_id)))
            .where(Click.issue_id.in_(ids))
            .group_by(Click.issue_id)
        )
    }
    return [
        IssueSummary(
            issue=issue,
            sent=states.get((issue.id, DeliveryStatus.SENT), 0),
            failed=states.get((issue.id, DeliveryStatus.FAILED), 0),
            clicks=clicks.get(issue.id, (0, 0))[0],
            readers_clicked=clicks.get(issue.id, (0, 0))[1],
            opens=opens[issue.id] if issue.edition.open_tracking else None,
        )
        for issue in issues
    ]


@dataclass
class ReaderChoices:
    """Which stories readers chose over an edition's last issues."""

    issues: list[Issue] = field(default_factory=list)
    positions: list[Tally] = field(default_factory=list)
    sections: list[Tally] = field(default_factory=list)
    topics: list[Tally] = field(default_factory=list)
    top_articles: dict[int, list[ArticleResult]] = field(default_factory=dict)  # by issue id


def reader_choices(
    session: Session, edition: Edition, *, last: int = 10, top: int = 3
) -> ReaderChoices:
    """Over the edition's `last` sent issues: clicks per position (how much the order
    alone decides), per section and per topic, and each issue's `top` articles."""
    choices = ReaderChoices(issues=sent_issues(session, edition, limit=last))
    if not choices.issues:
        return choices
    scope = Delivery.issue_id.in_([issue.id for issue in choices.issues])
    carried = _carried(session, scope)
    choices.positions = _position_tallies(session, scope, carried)
    articles = {
        a.id: a for a in session.scalars(select(Article).where(Article.id.in_(carried.recipients)))
    }
    section_of = {article_id: a.section or "(no section)" for article_id, a in articles.items()}
    choices.sections = _grouped(
        session, scope, carried, {i: [s] for i, s in section_of.items()}, Article.section,
        join_article=True,
    )  # fmt: skip
    topics_of: dict[int, list[str]] = defaultdict(list)
    for article_id, name in session.execute(
        select(article_topics.c.article_id, Topic.name)
        .join(Topic, Topic.id == article_topics.c.topic_id)
        .where(article_topics.c.article_id.in_(carried.recipients))
    ):
        topics_of[article_id].append(name)
    choices.topics = _grouped(session, scope, carried, topics_of, Topic.name, join_article=False)
    for issue in choices.issues:
        best = [a for a in issue_results_articles(session, issue) if a.tally.clicks][:top]
        choices.top_articles[issue.id] = best
    return choices


def issue_results_articles(session: Session, issue: Issue) -> list[ArticleResult]:
    """An issue's articles, most clicked first (the table of the results page)."""
    scope = Delivery.issue_id == issue.id
    return _article_results(session, scope, _carried(session, scope))


def _grouped(
    session: Session,
    scope: ColumnElement[bool],
    carried: _Carried,
    labels_of: dict[int, list[str]],
    label: QueryableAttribute[Any],
    *,
    join_article: bool,
) -> list[Tally]:
    """Clicks and recipients summed over each label (a section, a topic) of the articles."""
    recipients: Counter[str] = Counter()
    for article_id, count in carried.recipients.items():
        for name in labels_of.get(article_id, []):
            recipients[name] += count
    query = select(label, func.count(Click.id), func.count(distinct(Click.delivery_id)))
    query = query.select_from(Click).join(Delivery, Delivery.id == Click.delivery_id)
    if join_article:
        query = query.join(Article, Article.id == Click.article_id)
    else:
        query = query.join(article_topics, article_topics.c.article_id == Click.article_id).join(
            Topic, Topic.id == article_topics.c.topic_id
        )
    counts = {
        name or "(no section)": (int(clicks), int(readers))
        for name, clicks, readers in session.execute(query.where(scope).group_by(label))
    }
    tallies = [
        Tally(name, recipients[name], *counts.get(name, (0, 0)))
        for name in set(recipients) | set(counts)
    ]
    tallies.sort(key=lambda t: (-t.readers, -t.clicks, t.label))
    return tallies


def clicks_per_day(
    session: Session, edition: Edition, *, now: datetime, days: int = 30, timezone: str = "UTC"
) -> list[Tally]:
    """Recorded clicks on the edition's issues on each of the last `days` days (in
    `timezone`), oldest first, days without clicks included."""
    zone = ZoneInfo(timezone)
    today = now.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    since = datetime.combine(first, datetime.min.time(), zone).astimezone(UTC)
    # Group by UTC hour in the database (at most 24 rows a day), by local day here.
    if session.get_bind().dialect.name == "postgresql":
        hour = func.to_char(func.timezone("UTC", Click.clicked_at), "YYYY-MM-DD HH24")
    else:
        hour = func.strftime("%Y-%m-%d %H", Click.clicked_at)
    per_day: Counter[date] = Counter()
    for bucket, count in session.execute(
        select(hour, func.count(Click.id))
        .join(Issue, Issue.id == Click.issue_id)
        .where(Issue.edition_id == edition.id, Click.clicked_at >= since)
        .group_by(hour)
    ):
        instant = datetime.strptime(str(bucket), "%Y-%m-%d %H").replace(tzinfo=UTC)
        per_day[instant.astimezone(zone).date()] += int(count)
    return [Tally(day.isoformat(), clicks=per_day[day]) for day in _days(first, today)]


def _days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def recent_alerts(session: Session, *, limit: int = 10) -> list[BreakingAlert]:
    """The latest breaking alerts, newest first."""
    query = select(BreakingAlert).order_by(BreakingAlert.created_at.desc(), BreakingAlert.id.desc())
    return list(session.scalars(query.limit(limit)))
