"""What the ledger costs on disk, a row at a time: the figure its size target is set in.

On PostgreSQL, bytes per row = (heap + every index + TOAST of `deliveries`, summed over its
partitions when it has any, plus the `selections` its rows share) / rows. SQLite keeps its
tables in one file and has no such figure.

Right after a send the files still hold the dead versions of every row the send updated
(pending, claimed, sending, sent: several a row); `settle` vacuums them so that the figure
counts what the rows keep. VACUUM marks that space free for the next rows rather than
giving it back, so the files shrink only by their empty tail pages.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

# A table's relations: its partitions at any depth (PostgreSQL 12+), or itself when it has
# none; to_regclass makes a missing table (a ledger older than selections) cost nothing.
_TOTAL = text(
    "SELECT coalesce((SELECT sum(pg_total_relation_size(relid)) "
    "FROM pg_partition_tree(to_regclass(:table))), "
    "pg_total_relation_size(to_regclass(:table)), 0)"
)


@dataclass(frozen=True)
class LedgerSize:
    rows: int
    ledger_bytes: int  # deliveries: heap, indexes and TOAST of every partition
    selection_bytes: int  # the selections the rows share

    @property
    def bytes_per_row(self) -> float:
        """Both tables' bytes over the ledger's rows (0 for an empty ledger)."""
        return (self.ledger_bytes + self.selection_bytes) / self.rows if self.rows else 0.0


def ledger_size(session: Session) -> LedgerSize | None:
    """The ledger's size on PostgreSQL, counted exactly (a full count of the rows: for a
    benchmark or an operator's question, not for every scrape); None on SQLite."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    rows = session.scalar(text("SELECT count(*) FROM deliveries")) or 0
    ledger = session.scalar(_TOTAL, {"table": "deliveries"}) or 0
    selections = session.scalar(_TOTAL, {"table": "selections"}) or 0
    return LedgerSize(rows=int(rows), ledger_bytes=int(ledger), selection_bytes=int(selections))


def settle(engine: Engine) -> None:
    """VACUUM (ANALYZE) the ledger and its selections on PostgreSQL (nothing on SQLite):
    dead row versions go, the planner's statistics are fresh. Runs outside a transaction,
    as VACUUM must; for a benchmark or an operator, not for the send path."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as connection:
        connection = connection.execution_options(isolation_level="AUTOCOMMIT")
        connection.execute(text("VACUUM (ANALYZE) deliveries, selections"))
