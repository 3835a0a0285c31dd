"""The ledger's weekly partitions on PostgreSQL: made ahead of the dates that need them,
dropped whole once every date they hold is past retention.

`deliveries` is partitioned by range of `local_date` (migration 0019), one partition a
week from Monday to Sunday, named `deliveries_wYYYYMMDD` after its Monday, and a default
partition, `deliveries_default`, that takes the rows of any week without one of its own —
so no insert ever fails for want of a partition. The scheduler makes `WEEKS_AHEAD` weeks
ahead every day (with retention, alerts.jobs.prune), so the default partition stays empty
unless the scheduler stopped for weeks or a row is planned for a date far away. A week
whose rows did land in the default partition is moved into a partition of its own when it
is made.

Dropping a partition removes its rows without a DELETE: no dead rows, no vacuum, and the
count triggers do not see it, so the running counts (alerts.ledger.counts) keep the sends
of the dropped weeks as they were. The clicks and bounce reports of its rows go first
(nothing references a ledger row by foreign key, so that the partition can go at all).

SQLite has no partitions: every function here does nothing there, and retention deletes
rows instead (alerts.ledger.retention).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import text
from sqlalchemy.orm import Session

WEEKS_AHEAD = 4
DEFAULT_PARTITION = "deliveries_default"
_NAME = re.compile(r"^deliveries_w(\d{8})$")

_PARTITIONS = text(
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    "WHERE i.inhparent = to_regclass('deliveries')"
)


@dataclass(frozen=True)
class Week:
    """One partition: the rows of local dates from `first` to `first` + 6 days."""

    first: date  # a Monday

    @property
    def end(self) -> date:
        """The first date after the week."""
        return self.first + timedelta(days=7)

    @property
    def name(self) -> str:
        return f"deliveries_w{self.first:%Y%m%d}"


def week_of(day: date) -> Week:
    """The partition a local date belongs in."""
    return Week(day - timedelta(days=day.weekday()))


def partitioned(session: Session) -> bool:
    """Whether the ledger is partitioned (PostgreSQL at revision 0019 or later)."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    kind = session.scalar(
        text("SELECT relkind FROM pg_class WHERE oid = to_regclass('deliveries')")
    )
    return bool(kind == "p")


def weeks(session: Session) -> list[Week]:
    """The ledger's weekly partitions, oldest first (none on SQLite)."""
    if not partitioned(session):
        return []
    found = (_NAME.match(name) for name in session.scalars(_PARTITIONS))
    return sorted(
        (Week(date(int(m[1][:4]), int(m[1][4:6]), int(m[1][6:]))) for m in found if m),
        key=lambda week: week.first,
    )


def make_ahead(session: Session, *, today: date, weeks_ahead: int = WEEKS_AHEAD) -> list[str]:
    """Make the partitions of this week and the `weeks_ahead` after it that are missing; the
    names made. Each is its own transaction (committed here)."""
    if not partitioned(session):
        return []
    have = {week.first for week in weeks(session)}
    made = []
    for offset in range(weeks_ahead + 1):
        week = week_of(today + timedelta(weeks=offset))
        if week.first not in have:
            make_week(session, week)
            session.commit()
            made.append(week.name)
    return made


def make_week(session: Session, week: Week) -> None:
    """Make one week's partition, moving into it the rows of that week the default
    partition holds. Leaves the commit to the caller.

    The default partition is locked against writes first: PostgreSQL refuses a new
    partition while the default one holds rows of its range, so none may arrive between
    the move and the partition's creation. Rows are moved with the partition detached
    from the ledger's triggers (they act on statements against `deliveries`), so the
    move changes no count.
    """
    bounds = {"first": week.first, "end": week.end}
    session.execute(text(f"LOCK TABLE {DEFAULT_PARTITION} IN SHARE ROW EXCLUSIVE MODE"))
    in_default = session.scalar(
        text(
            f"SELECT EXISTS (SELECT 1 FROM {DEFAULT_PARTITION} "
            "WHERE local_date >= :first AND local_date < :end)"
        ),
        bounds,
    )
    values = f"FOR VALUES FROM ('{week.first.isoformat()}') TO ('{week.end.isoformat()}')"
    if not in_default:
        session.execute(text(f"CREATE TABLE {week.name} PARTITION OF deliveries {values}"))
        return
    session.execute(
        text(f"CREATE TABLE {week.name} (LIKE deliveries INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    )
    session.execute(
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} "
            "WHERE local_date >= :first AND local_date < :end RETURNING *) "
            f"INSERT INTO {week.name} SELECT * FROM moved"
        ),
        bounds,
    )
    session.execute(text(f"ALTER TABLE deliveries ATTACH PARTITION {week.name} {values}"))


def drop_weeks_before(session: Session, cutoff: date) -> list[str]:
    """Drop every weekly partition whose dates are all before `cutoff`, with the clicks and
    bounce reports of its rows; the names dropped. One transaction a partition (committed
    here)."""
    dropped = []
    for week in weeks(session):
        if week.end > cutoff:
            break
        for child in ("clicks", "feedback_events"):
            session.execute(
                text(f"DELETE FROM {child} WHERE delivery_id IN (SELECT id FROM {week.name})")
            )
        session.execute(text(f"DROP TABLE {week.name}"))
        session.commit()
        dropped.append(week.name)
    return dropped
