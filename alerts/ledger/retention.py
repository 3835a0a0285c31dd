"""Retention: the ledger keeps `LEDGER_KEEP_DAYS` local dates of rows, then lets them go.

On PostgreSQL the ledger is partitioned by week (alerts.ledger.partitions): a week's
partition is dropped whole once all seven of its dates are older than that, so a row is
kept `LEDGER_KEEP_DAYS` to `LEDGER_KEEP_DAYS` + 6 days; only the rows that landed in the
default partition (a week that had no partition of its own) are deleted date by date.
The same prune makes the partitions of the weeks ahead. SQLite has no partitions: its
rows are deleted date by date.

Deleted rows go in chunks of a bounded size, each chunk its own transaction, so a prune
never holds a long lock nor a transaction that grows with the ledger; a prune stopped
halfway leaves whole rows and resumes where it stopped. The clicks and bounce reports of a
row go with it (a trigger on `deliveries` removes them; before a partition is dropped, the
prune does), and so do the selections of the dates deleted, and the stored Message-IDs of
rows sent before revision 0028 (alerts.ledger.message_ids) once their rows are gone. The
running counts of sends are folded first; they reference no ledger row, and neither a
DROP nor a DELETE of settled rows changes them, so results and metrics keep the pruned
days.

The scheduler runs it once a day (alerts.tasks); `newsalerts ledger prune` runs it now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import Date, FromClause, Integer, column, delete, exists, select, table
from sqlalchemy.orm import Session

from alerts.ledger.counts import fold
from alerts.ledger.partitions import (
    DEFAULT_PARTITION,
    drop_weeks_before,
    make_ahead,
    partitioned,
    weeks,
)
from alerts.models import Delivery, Selection, legacy_message_ids

# Rows per DELETE: a few megabytes of heap, well under a second, whatever the ledger.
PRUNE_CHUNK = 10_000


@dataclass(frozen=True)
class Pruned:
    cutoff: date  # rows of local dates before this one were deleted
    deliveries: int  # rows deleted one by one (not those of the partitions dropped)
    selections: int
    dropped: list[str] = field(default_factory=list)  # weekly partitions dropped whole
    made: list[str] = field(default_factory=list)  # weekly partitions made ahead


def ledger_cutoff(today: date, keep_days: int) -> date:
    """The first local date kept: `keep_days` dates, today included."""
    return today - timedelta(days=keep_days - 1)


def prune_ledger(
    session: Session, *, today: date, keep_days: int, chunk: int = PRUNE_CHUNK
) -> Pruned:
    """Delete the ledger rows (and their selections) of local dates more than `keep_days`
    back from `today` — on PostgreSQL, drop the weeks whose every date is, and make the
    weeks ahead. Commits after each chunk and each partition.

    The rows are found walking the ids upwards (a key that is indexed, where the local date
    is not): old rows come first, and one walk to the end finds the stragglers (a row
    planned late for an old date)."""
    if keep_days < 1:
        raise ValueError("keep_days must be at least 1")
    cutoff = ledger_cutoff(today, keep_days)
    # The counts hold every send already (nothing above changes them); folded first, the
    # dropped weeks' figures are a few rows per issue, state and day.
    fold(session, now=datetime.combine(today, time(), UTC))
    session.commit()
    # Rows are looked for in the default partition only: the weekly ones go whole.
    rows = _DEFAULT if partitioned(session) else Delivery.__table__
    made = make_ahead(session, today=today)
    dropped = drop_weeks_before(session, cutoff)
    # A week that is kept keeps the selections of all its dates, older ones included.
    kept = [week.first for week in weeks(session)]
    selections_cutoff = min([cutoff, *kept[:1]])
    deleted = _delete_in_chunks(session, Delivery, rows, cutoff, chunk)
    _forget_legacy_message_ids(session)
    return Pruned(
        cutoff=cutoff,
        deliveries=deleted,
        selections=_delete_in_chunks(
            session, Selection, Selection.__table__, selections_cutoff, chunk
        ),
        dropped=dropped,
        made=made,
    )


def _forget_legacy_message_ids(session: Session) -> None:
    """Delete the stored Message-IDs whose rows are gone. Once the last row sent before
    revision 0028 is pruned the table stays empty, and this is one look at it a day."""
    legacy = legacy_message_ids.c
    if not session.scalar(select(exists(select(legacy.delivery_id)))):
        return
    session.execute(
        delete(legacy_message_ids).where(
            ~exists(select(Delivery.id).where(Delivery.id == legacy.delivery_id))
        )
    )
    session.commit()


_DEFAULT = table(DEFAULT_PARTITION, column("id", Integer()), column("local_date", Date()))


def _delete_in_chunks(
    session: Session,
    model: type[Delivery] | type[Selection],
    rows: FromClause,
    cutoff: date,
    chunk: int,
) -> int:
    """Delete `model`'s rows of dates before `cutoff` that `rows` holds (the model's own
    table, or one partition of it), walking their ids."""
    deleted, after = 0, 0
    while ids := list(
        session.scalars(
            select(rows.c.id)
            .where(rows.c.id > after, rows.c.local_date < cutoff)
            .order_by(rows.c.id)
            .limit(chunk)
        )
    ):
        # Through the model's table, so its triggers see the delete.
        session.execute(
            delete(model)
            .where(model.id.in_(ids), model.local_date < cutoff)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        deleted, after = deleted + len(ids), ids[-1]
    return deleted
