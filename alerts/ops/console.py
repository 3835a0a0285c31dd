"""The ledger as the operators' console reads it: sends in progress, messages a minute over
the last day, bounces and complaints a day.

Times come from the ledger: a sent row's `sent_at`; a failed row has no time of failure of
its own, so its `claimed_at` (stamped when its group entered the SMTP exchange) stands in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Integer, cast, func, select
from sqlalchemy.orm import Session

from alerts.ledger.counts import unsettled_sends
from alerts.ledger.states import Progress, progress
from alerts.models import (
    BreakingAlert,
    Delivery,
    DeliveryStatus,
    FeedbackEvent,
    FeedbackKind,
    Issue,
)

CHART_MINUTES = 24 * 60
FEEDBACK_DAYS = 14


@dataclass(frozen=True)
class SendInProgress:
    """An issue or a breaking alert with rows not settled yet."""

    kind: str  # "issue" | "alert"
    id: int
    label: str
    status: str  # open | paused | cancelled
    progress: Progress

    @property
    def key(self) -> str:
        return f"{self.kind}-{self.id}"


def sends_in_progress(session: Session, *, now: datetime) -> list[SendInProgress]:
    """Every issue and alert with pending, claimed or sending rows, oldest first."""
    issue_ids, alert_ids = unsettled_sends(session)
    found: list[SendInProgress] = []
    for issue in session.scalars(select(Issue).where(Issue.id.in_(issue_ids)).order_by(Issue.id)):
        found.append(
            SendInProgress(
                "issue",
                issue.id,
                f"{issue.edition.name}, {issue.local_date:%-d %b %Y}",
                issue.status.value,
                progress(session, now=now, issue_id=issue.id),
            )
        )
    alerts = select(BreakingAlert).where(BreakingAlert.id.in_(alert_ids))
    for alert in session.scalars(alerts.order_by(BreakingAlert.id)):
        found.append(
            SendInProgress(
                "alert",
                alert.id,
                f"Breaking: {alert.article.title}",
                alert.status.value,
                progress(session, now=now, alert_id=alert.id),
            )
        )
    return found


@dataclass(frozen=True)
class MinuteSeries:
    """Messages sent and failed in each minute of a window; index 0 is `start`."""

    start: datetime
    sent: list[int]
    failed: list[int]

    @property
    def total_sent(self) -> int:
        return sum(self.sent)

    @property
    def total_failed(self) -> int:
        return sum(self.failed)

    @property
    def failure_rate(self) -> float:
        attempted = self.total_sent + self.total_failed
        return self.total_failed / attempted if attempted else 0.0


def per_minute(session: Session, *, now: datetime, minutes: int = CHART_MINUTES) -> MinuteSeries:
    """Sent and failed messages a minute over the last `minutes` (ending with this one)."""
    end_minute = int(now.timestamp() // 60)
    first_minute = end_minute - minutes + 1
    start = datetime.fromtimestamp(first_minute * 60, tz=UTC)
    series = MinuteSeries(start, [0] * minutes, [0] * minutes)
    dialect = session.get_bind().dialect.name
    for status, column, counts in (
        (DeliveryStatus.SENT, Delivery.sent_at, series.sent),
        (DeliveryStatus.FAILED, Delivery.claimed_at, series.failed),
    ):
        bucket = _epoch_bucket(column, 60, dialect)
        rows = session.execute(
            select(bucket, func.count())
            .where(Delivery.status == status, column >= start, column <= now)
            .group_by(bucket)
        )
        for minute, count in rows:
            index = int(minute) - first_minute
            if 0 <= index < minutes:
                counts[index] += int(count)
    return series


@dataclass(frozen=True)
class FeedbackDay:
    day: date
    sent: int
    hard_bounces: int
    soft_bounces: int
    complaints: int

    @property
    def bounce_rate(self) -> float:
        return (self.hard_bounces + self.soft_bounces) / self.sent if self.sent else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.sent if self.sent else 0.0


def feedback_per_day(
    session: Session, *, now: datetime, days: int = FEEDBACK_DAYS
) -> list[FeedbackDay]:
    """Messages sent, bounces and complaints on each of the last `days` UTC days, newest
    first. Rates are against the day's sent messages (reports come in after the send, so
    the latest day reads high early on)."""
    today = int(now.timestamp() // 86400)
    first = today - days + 1
    since = datetime.fromtimestamp(first * 86400, tz=UTC)
    dialect = session.get_bind().dialect.name
    sent = dict.fromkeys(range(first, today + 1), 0)
    day = _epoch_bucket(Delivery.sent_at, 86400, dialect)
    for number, count in session.execute(
        select(day, func.count())
        .where(Delivery.status == DeliveryStatus.SENT, Delivery.sent_at >= since)
        .group_by(day)
    ):
        if int(number) in sent:
            sent[int(number)] = int(count)
    reports: dict[tuple[int, FeedbackKind], int] = {}
    report_day = _epoch_bucket(FeedbackEvent.occurred_at, 86400, dialect)
    for number, kind, count in session.execute(
        select(report_day, FeedbackEvent.kind, func.count())
        .where(FeedbackEvent.occurred_at >= since)
        .group_by(report_day, FeedbackEvent.kind)
    ):
        reports[int(number), kind] = int(count)
    return [
        FeedbackDay(
            day=date.fromordinal(date(1970, 1, 1).toordinal() + number),
            sent=sent[number],
            hard_bounces=reports.get((number, FeedbackKind.HARD_BOUNCE), 0),
            soft_bounces=reports.get((number, FeedbackKind.SOFT_BOUNCE), 0),
            complaints=reports.get((number, FeedbackKind.COMPLAINT), 0),
        )
        for number in range(today, first - 1, -1)
    ]


def oldest_pending(session: Session) -> datetime | None:
    """When the oldest row still waiting to be sent was planned."""
    return session.scalar(
        select(func.min(Delivery.created_at)).where(
            Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.CLAIMED])
        )
    )


def _epoch_bucket(column: Any, seconds: int, dialect: str) -> ColumnElement[int]:
    """Whole `seconds` since 1970 of a UTC instant, as SQL (SQLite stores naive UTC text)."""
    if dialect == "sqlite":
        epoch = cast(func.strftime("%s", column), Integer)
        return epoch // seconds
    return cast(func.floor(func.extract("epoch", column) / seconds), Integer)
