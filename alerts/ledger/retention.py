"""Retention: the ledger keeps `LEDGER_KEEP_DAYS` local dates of rows, then lets them go.

Rows older than that are deleted in chunks of a bounded size, each chunk its own
transaction, so a prune never holds a long lock nor a transaction that grows with the
ledger; a prune stopped halfway leaves whole rows and resumes where it stopped. The
clicks and bounce reports of a deleted row go with it (their foreign keys cascade), and so
do the selections of the dates deleted. Running counts of sends are kept elsewhere (they
reference no ledger row), so nothing here needs rolling up first.

The scheduler runs it once a day (alerts.tasks); `newsalerts ledger prune` runs it now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from alerts.models import Delivery, Selection

# Rows per DELETE: a few megabytes of heap, well under a second, whatever the ledger.
PRUNE_CHUNK = 10_000


@dataclass(frozen=True)
class Pruned:
    cutoff: date  # rows of local dates before this one were deleted
    deliveries: int
    selections: int


def ledger_cutoff(today: date, keep_days: int) -> date:
    """The first local date kept: `keep_days` dates, today included."""
    return today - timedelta(days=keep_days - 1)


def prune_ledger(
    session: Session, *, today: date, keep_days: int, chunk: int = PRUNE_CHUNK
) -> Pruned:
    """Delete the ledger rows (and their selections) of local dates more than `keep_days`
    back from `today`. Commits after each chunk.

    The rows are found walking the ids upwards (a key that is indexed, where the local date
    is not): old rows come first, and one walk to the end finds the stragglers (a row
    planned late for an old date)."""
    if keep_days < 1:
        raise ValueError("keep_days must be at least 1")
    cutoff = ledger_cutoff(today, keep_days)
    return Pruned(
        cutoff=cutoff,
        deliveries=_delete_in_chunks(session, Delivery, cutoff, chunk),
        selections=_delete_in_chunks(session, Selection, cutoff, chunk),
    )


def _delete_in_chunks(
    session: Session, model: type[Delivery] | type[Selection], cutoff: date, chunk: int
) -> int:
    deleted, after = 0, 0
    while ids := list(
        session.scalars(
            select(model.id)
            .where(model.id > after, model.local_date < cutoff)
            .order_by(model.id)
            .limit(chunk)
        )
    ):
        session.execute(
            delete(model).where(model.id.in_(ids)).execution_options(synchronize_session=False)
        )
        session.commit()
        deleted, after = deleted + len(ids), ids[-1]
    return deleted
