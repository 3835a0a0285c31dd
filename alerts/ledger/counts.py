"""The ledger's running counts: figures read without grouping the ledger.

Triggers on `deliveries` (migration 0016) append a small signed delta to `delivery_counts`
in the same transaction as every change of a row's key (state, relay, reply), whichever
module writes it: planning, claims, outcomes, sweeps, an editor's cancel, a bounce, an
operator's retry. Appending means no row is updated by two workers at once (a running total
would be one hot row that every group's outcome waits on); `fold` (the sweeper, every few
seconds) sums the deltas into one row per key. A reader of figures sums totals and the
deltas not folded yet, so it never waits for a fold and is exact as of its transaction.

Per key, `rows` is how many ledger rows are in it now, and `entered` how many ever came
into it: a counter that never goes down. Erasing a reader cascades to their ledger rows;
the triggers subtract only those still waiting (pending, claimed, sending), so what was
sent, failed or bounced stays counted, and dropping old ledger rows wholesale changes
nothing. Keys carry the hour a row was planned; hours older than `HOURLY_FOR` fold into
their day, so the table stays at a few rows per issue, state and day.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from alerts.models import DeliveryCount, DeliveryStatus

# Seconds from planning to acceptance; index i of a sent row's `latency_le` is the first
# bound it is within, len(LATENCY_BUCKETS) when past the last. Fixed by migration 0016.
LATENCY_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
HOURLY_FOR = timedelta(hours=48)
# The advisory lock a fold holds until its transaction ends (any number unique to it).
FOLD_LOCK = 0x6E_61_63_6F_75_6E_74
KEY = ("issue_id", "alert_id", "status", "relay", "reply_class", "planned_hour", "latency_le")


@dataclass(frozen=True)
class Count:
    """One (state, relay, reply class, latency bucket) of the whole ledger."""

    status: DeliveryStatus
    relay: str | None
    reply_class: str
    latency_le: int
    rows: int
    recent_rows: int  # of those, planned at or after the hour asked for
    entered: int
    seconds: float
    last_at: float | None


def hour_of(instant: datetime) -> int:
    """Hours since 1970 of an instant: the `planned_hour` its ledger rows are counted in."""
    return int(instant.timestamp() // 3600)


def ledger_counts(session: Session, *, recent_from: datetime) -> list[Count]:
    """The whole ledger's counts by state, relay, reply class and latency bucket, with the
    rows planned from the hour of `recent_from` on. One grouped read of the counts."""
    table = DeliveryCount
    recent = hour_of(recent_from)
    rows = session.execute(
        select(
            table.status,
            table.relay,
            table.reply_class,
            table.latency_le,
            func.sum(table.rows),
            func.sum(case((table.planned_hour >= recent, table.rows), else_=0)),
            func.sum(table.entered),
            func.sum(table.seconds),
            func.max(table.last_at),
        ).group_by(table.status, table.relay, table.reply_class, table.latency_le)
    )
    return [
        Count(
            status=DeliveryStatus(status),
            relay=relay or None,
            reply_class=reply,
            latency_le=int(latency),
            rows=int(count or 0),
            recent_rows=int(in_window or 0),
            entered=int(entered or 0),
            seconds=float(seconds or 0.0),
            last_at=None if last_at is None else float(last_at),
        )
        for status, relay, reply, latency, count, in_window, entered, seconds, last_at in rows
    ]


def state_counts(
    session: Session, *, issue_id: int | None = None, alert_id: int | None = None
) -> dict[DeliveryStatus, int]:
    """Ledger rows in each state now, of one issue or one alert."""
    scope = (
        DeliveryCount.issue_id == issue_id
        if alert_id is None
        else DeliveryCount.alert_id == alert_id
    )
    found = dict.fromkeys(DeliveryStatus, 0)
    for status, count in session.execute(
        select(DeliveryCount.status, func.sum(DeliveryCount.rows))
        .where(scope)
        .group_by(DeliveryCount.status)
    ):
        found[DeliveryStatus(status)] = int(count or 0)
    return found


def issues_state_counts(
    session: Session, issue_ids: Sequence[int]
) -> dict[tuple[int, DeliveryStatus], int]:
    """Ledger rows in each state now, of each of several issues."""
    if not issue_ids:
        return {}
    return {
        (int(issue_id), DeliveryStatus(status)): int(count or 0)
        for issue_id, status, count in session.execute(
            select(DeliveryCount.issue_id, DeliveryCount.status, func.sum(DeliveryCount.rows))
            .where(DeliveryCount.issue_id.in_(issue_ids))
            .group_by(DeliveryCount.issue_id, DeliveryCount.status)
        )
    }


def unsettled_sends(session: Session) -> tuple[list[int], list[int]]:
    """The issues and the alerts with rows pending, claimed or sending, by id."""
    unsettled = [
        DeliveryStatus.PENDING.value,
        DeliveryStatus.CLAIMED.value,
        DeliveryStatus.SENDING.value,
    ]
    rows = session.execute(
        select(DeliveryCount.issue_id, DeliveryCount.alert_id)
        .where(DeliveryCount.status.in_(unsettled))
        .group_by(DeliveryCount.issue_id, DeliveryCount.alert_id)
        .having(func.sum(DeliveryCount.rows) > 0)
    ).all()
    issues = sorted({issue for issue, _ in rows if issue})
    alerts = sorted({alert for _, alert in rows if alert})
    return issues, alerts


def fold(session: Session, *, now: datetime) -> int:
    """Sum the deltas into one row per key (hours older than HOURLY_FOR into their day);
    how many rows were folded away. Does not commit. One fold at a time: on PostgreSQL a
    fold that finds another under way (the tick's and the sweeper's) leaves it the work
    rather than wait on its rows; SQLite has one writer anyway."""
    if session.get_bind().dialect.name == "postgresql" and not session.scalar(
        select(func.pg_try_advisory_xact_lock(FOLD_LOCK))
    ):
        return 0
    first_hourly = hour_of(now - HOURLY_FOR)
    table = DeliveryCount
    taken = session.execute(
        delete(table)
        .where(
            or_(
                table.folded.is_(False),
                and_(table.planned_hour < first_hourly, table.planned_hour % 24 != 0),
            )
        )
        .returning(
            *(getattr(table, name) for name in KEY),
            table.rows,
            table.entered,
            table.seconds,
            table.last_at,
        )
    ).all()
    sums: dict[tuple[Any, ...], list[Any]] = {}
    for *key, rows, entered, seconds, last_at in taken:
        if key[5] < first_hourly:
            key[5] -= key[5] % 24
        total = sums.setdefault(tuple(key), [0, 0, 0.0, None])
        total[0] += rows
        total[1] += entered
        total[2] += seconds
        if last_at is not None and (total[3] is None or last_at > total[3]):
            total[3] = last_at
    if sums:
        _add_folded(session, [
            {**dict(zip(KEY, key, strict=True)), "rows": rows, "entered": entered,
             "seconds": seconds, "last_at": last_at, "folded": True}
            for key, (rows, entered, seconds, last_at) in sorted(sums.items())
        ])  # fmt: skip
    return len(taken)


def _add_folded(session: Session, values: Sequence[dict[str, Any]]) -> None:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(DeliveryCount)
    excluded = statement.excluded
    table = DeliveryCount
    session.execute(
        statement.on_conflict_do_update(
            index_elements=list(KEY),
            index_where=text("folded"),
            set_={
                "rows": table.rows + excluded.rows,
                "entered": table.entered + excluded.entered,
                "seconds": table.seconds + excluded.seconds,
                "last_at": case(
                    (excluded.last_at.is_(None), table.last_at),
                    (table.last_at.is_(None), excluded.last_at),
                    (excluded.last_at > table.last_at, excluded.last_at),
                    else_=table.last_at,
                ),
            },
        ),
        list(values),
    )
