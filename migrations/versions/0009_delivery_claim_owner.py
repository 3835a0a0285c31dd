"""each claim names the worker process that holds it

A worker process proves it is alive with a heartbeat in Redis; the sweeper recovers the
rows of owners whose heartbeat stopped, within seconds instead of a lease. The owner is
a random 63-bit number per process (and per life of it: a process presumed dead takes a
new one), so a Redis that lost its data cannot hand an old number to a new worker.

The partial index holds only the rows in a worker's hands (claimed or sending): a few
thousand at most, whatever the size of the ledger, so finding the owners to check is
cheap at any size.

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_IN_HAND = sa.text("status IN ('claimed', 'sending')")


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.add_column(sa.Column("claimed_by", sa.BigInteger(), nullable=True))
    op.create_index(
        "ix_deliveries_in_hand",
        "deliveries",
        ["claimed_by"],
        postgresql_where=_IN_HAND,
        sqlite_where=_IN_HAND,
    )


def downgrade() -> None:
    op.drop_index("ix_deliveries_in_hand", table_name="deliveries")
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_column("claimed_by")
