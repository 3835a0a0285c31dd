"""Breaking-news alerts: one short email about one article, to the readers who asked.

The audience is the active, unpaused readers who opted into alerts and follow one of the
article's topics (readers who follow no topic get everything, as with digests). Each
reader gets at most `alerts_per_day` alerts per local day, keyword alerts counted too.
Alerts go through the same ledger as digests — key (`alert-<id>`, reader, local date) —
so planning twice, a redelivered task or a crash never sends one twice, and pause and
cancel work the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from alerts.digests.selection import local_today
from alerts.errors import AlertError
from alerts.ledger.rows import add_selections, insert_ignoring_conflicts
from alerts.ledger.states import take_back
from alerts.models import (
    Article,
    BreakingAlert,
    Delivery,
    DeliveryStatus,
    IssueStatus,
    article_topics,
    keyword_alert_rows,
)
from subscribers.models import Subscriber, SubscriberStatus, subscriber_topics

# Alert rows that count against a reader's daily cap.
_COUNTED = (
    DeliveryStatus.PENDING,
    DeliveryStatus.CLAIMED,
    DeliveryStatus.SENDING,
    DeliveryStatus.SENT,
)


def alert_key(alert_id: int) -> str:
    return f"alert-{alert_id}"


def create_alert(
    session: Session, *, article_id: int, created_by: str, now: datetime
) -> BreakingAlert:
    """Start an alert about an article. Raises AlertError when the article is unknown or
    was alerted before (one alert per article, whoever asks). Flushes."""
    article = session.get(Article, article_id)
    if article is None:
        raise AlertError(f"there is no article {article_id}")
    if session.scalar(select(BreakingAlert.id).where(BreakingAlert.article_id == article_id)):
        raise AlertError("this article has been sent as an alert already")
    alert = BreakingAlert(article_id=article_id, created_by=created_by[:200], created_at=now)
    session.add(alert)
    session.flush()
    return alert


@dataclass
class AlertPlan:
    audience: int = 0
    planned: int = 0
    over_cap: int = 0


def alert_audience(session: Session, article_id: int, *, now: datetime, per_day: int) -> int:
    """How many readers an alert on the article would go to now, writing nothing: the
    readers `plan_alert` selects, less those who had their `per_day` alerts today."""
    readers = _alert_readers(session, article_id, now=now)
    if not readers or per_day <= 0:
        return 0
    dates, today_counts = alerts_today(session, readers, now=now)
    return sum(
        1
        for reader_id, _ in readers
        if today_counts.get((reader_id, dates[reader_id]), 0) < per_day
    )


def _alert_readers(session: Session, article_id: int, *, now: datetime) -> list[tuple[int, str]]:
    """(id, zone) of the active readers who asked for alerts and follow one of the
    article's topics (or none: they get every alert)."""
    topic_ids = select(article_topics.c.topic_id).where(article_topics.c.article_id == article_id)
    follows_topic = exists().where(
        subscriber_topics.c.subscriber_id == Subscriber.id,
        subscriber_topics.c.topic_id.in_(topic_ids),
    )
    follows_any = exists().where(subscriber_topics.c.subscriber_id == Subscriber.id)
    found = session.execute(
        select(Subscriber.id, Subscriber.timezone)
        .where(
            Subscriber.status == SubscriberStatus.ACTIVE,
            Subscriber.breaking_alerts.is_(True),
            or_(Subscriber.paused_until.is_(None), Subscriber.paused_until <= now),
            or_(follows_topic, ~follows_any),
        )
        .order_by(Subscriber.id)
    )
    return [(reader_id, zone) for reader_id, zone in found]


def alerts_today(
    session: Session, readers: Sequence[tuple[int, str]], *, now: datetime
) -> tuple[dict[int, Any], dict[tuple[int, Any], int]]:
    """Each reader's local date, and the alerts each reader had on their date: breaking
    and keyword alerts (alerts.digests.as_it_happens) together, as ALERTS_PER_DAY counts."""
    dates = {reader_id: local_today(now, zone) for reader_id, zone in readers}
    if not dates:
        return dates, {}
    earliest = min(dates.values())
    counts: dict[tuple[int, Any], int] = {
        (reader_id, day): count
        for reader_id, day, count in session.execute(
            select(Delivery.subscriber_id, Delivery.local_date, func.count())
            .where(
                or_(Delivery.alert_id.is_not(None), keyword_alert_rows()),
                Delivery.local_date >= earliest,
                Delivery.status.in_(_COUNTED),
            )
            .group_by(Delivery.subscriber_id, Delivery.local_date)
        )
    }
    return dates, counts


def plan_alert(
    session: Session, alert: BreakingAlert, *, now: datetime, per_day: int
) -> tuple[AlertPlan, list[int]]:
    """Write a ledger row for each reader the alert is for; return the plan and the ids
    of the new pending rows. Safe to run again. Does not commit."""
    plan = AlertPlan()
    if alert.status is IssueStatus.CANCELLED or per_day <= 0:
        return plan, []
    readers = _alert_readers(session, alert.article_id, now=now)
    plan.audience = len(readers)
    if not readers:
        return plan, []
    dates, today_counts = alerts_today(session, readers, now=now)
    rows = []
    selection_ids: dict[date, int] = {}
    for reader_id, _zone in readers:
        if today_counts.get((reader_id, dates[reader_id]), 0) >= per_day:
            plan.over_cap += 1
            continue
        rows.append(
            {
                "edition": alert_key(alert.id),
                "alert_id": alert.id,
                "subscriber_id": reader_id,
                "local_date": dates[reader_id],
                "status": DeliveryStatus.PENDING,
                "selection_id": _selection_of(
                    session, selection_ids, dates[reader_id], alert.article_id
                ),
                "attempts": 0,
                "created_at": now,
            }
        )
    inserted = insert_ignoring_conflicts(session, rows)
    plan.planned = len(inserted)
    return plan, sorted(delivery_id for delivery_id, _ in inserted)


def _selection_of(session: Session, known: dict[date, int], day: date, article_id: int) -> int:
    """The alert's one-article selection for a local date, shared by its readers there."""
    if day not in known:
        [known[day]] = add_selections(session, [(day, (article_id,))])
    return known[day]


def set_alert_status(
    session: Session, alert: BreakingAlert, status: IssueStatus, *, now: datetime
) -> int:
    """Pause, resume or cancel an alert's send; rows not yet sending follow. Flushes."""
    if alert.status is IssueStatus.CANCELLED:
        raise AlertError("this alert was cancelled")
    alert.status = status
    session.flush()
    if status is IssueStatus.OPEN:
        return 0
    target = DeliveryStatus.PENDING if status is IssueStatus.PAUSED else DeliveryStatus.CANCELLED
    return take_back(session, Delivery.alert_id == alert.id, target)


__all__ = [
    "AlertPlan",
    "alert_key",
    "alerts_today",
    "create_alert",
    "plan_alert",
    "set_alert_status",
]
