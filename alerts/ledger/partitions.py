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

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial

from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)
WEEKS_AHEAD = 4
# How long a change of partitions waits for a lock before it gives up until the next run:
# while it waits, every statement on the ledger queues behind it.
LOCK_WAIT = "5s"
_LOCK_NOT_AVAILABLE = "55P03"
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
    names made. Each is its own transaction (committed here); a week whose locks could not
    be had within `LOCK_WAIT` is left for the next run (the default partition holds its
    rows meanwhile)."""
    if not partitioned(session):
        return []
    have = {week.first for week in weeks(session)}
    made = []
    for offset in range(weeks_ahead + 1):
        week = week_of(today + timedelta(weeks=offset))
        if week.first not in have and _within_lock_wait(session, partial(make_week, session, week)):
            made.append(week.name)
    return made


def make_week(session: Session, week: Week) -> None:
    """Make one week's partition, moving into it the rows of that week the default
    partition holds. Leaves the commit to the caller.

    The table is made apart and then attached: attaching locks the ledger itself only
    against other changes of its schema, where `CREATE TABLE … PARTITION OF` would stop
    every reader and writer of the ledger until it commits. The default partition is
    locked against writes first: PostgreSQL refuses the new partition while the default
    one holds rows of its range, so none may arrive in between. Rows moved out of the
    default partition are moved by statements on the partitions themselves, which the
    ledger's triggers (on `deliveries`) do not see: the move changes no count.
    """
    bounds = {"first": week.first, "end": week.end}
    session.execute(text(f"LOCK TABLE {DEFAULT_PARTITION} IN SHARE ROW EXCLUSIVE MODE"))
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
    values = f"FOR VALUES FROM ('{week.first.isoformat()}') TO ('{week.end.isoformat()}')"
    session.execute(text(f"ALTER TABLE deliveries ATTACH PARTITION {week.name} {values}"))


def drop_weeks_before(session: Session, cutoff: date) -> list[str]:
    """Drop every weekly partition whose dates are all before `cutoff`, with the clicks and
    bounce reports of its rows; the names dropped. One transaction a partition (committed
    here). Dropping locks the whole ledger for an instant; a week whose lock could not be
    had within `LOCK_WAIT` (a long transaction on the ledger) is left for the next run."""
    dropped = []
    for week in weeks(session):
        if week.end > cutoff:
            break
        if _within_lock_wait(session, partial(_drop, session, week)):
            dropped.append(week.name)
    return dropped


def _drop(session: Session, week: Week) -> None:
    for child in ("clicks", "feedback_events"):
        session.execute(
            text(f"DELETE FROM {child} WHERE delivery_id IN (SELECT id FROM {week.name})")
        )
    session.execute(text(f"DROP TABLE {week.name}"))


def _within_lock_wait(session: Session, change: Callable[[], None]) -> bool:
    """Run a change of the ledger's partitions and commit it, waiting at most `LOCK_WAIT`
    for each lock, so that it never queues every sender behind a long transaction; False
    (rolled back) when a lock could not be had in time."""
    session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
    try:
        change()
        session.commit()
    except OperationalError as error:
        session.rollback()
        if getattr(error.orig, "sqlstate", None) != _LOCK_NOT_AVAILABLE:
            raise
        log.warning("ledger partitions: a lock was not had within %s; next run", LOCK_WAIT)
        return False
    return True
