"""ledger rows derive their Message-ID instead of storing it; a sent row keeps no claim

A row's Message-ID is now `<kind.id.mac@domain>`, the MAC a keyed hash of the row's id and
local date under SECRET_KEY (alerts.ledger.message_ids): nothing to store, ~50 bytes less
in every row that was sent. `deliveries.message_id` goes. The Message-IDs rows already went
out with had a random part that cannot be derived, so they move to `legacy_message_ids`
(delivery id, Message-ID), where a bounce or complaint naming one still finds its row.
Every row is kept; nothing else in a row changes.

On PostgreSQL dropping a column changes the catalogue only: rows written before keep the
bytes of their Message-ID until their week's partition is dropped by retention (or a
`VACUUM FULL` of the partition rewrites them); rows written since are smaller. A rewrite of
the whole ledger here would hold its strongest lock for minutes.

A sent row keeps no claim (time and owner) from now on (alerts.ledger.outcomes); rows sent
before keep theirs, which nothing reads.

The downgrade puts the stored Message-IDs back; rows sent since have none stored (their
bounces are still matched by their VERP return path).

Revision ID: 0024
Revises: 0023
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | Sequence[str] | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "legacy_message_ids",
        sa.Column("delivery_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("delivery_id", name=op.f("pk_legacy_message_ids")),
    )
    op.execute(
        "INSERT INTO legacy_message_ids (delivery_id, message_id) "
        "SELECT id, message_id FROM deliveries WHERE message_id IS NOT NULL ORDER BY id"
    )
    # Not a batch operation: on SQLite that would copy the table and lose its triggers.
    # SQLite 3.35+ and PostgreSQL drop the column in place (on a partitioned table, from
    # every partition).
    op.execute("ALTER TABLE deliveries DROP COLUMN message_id")


def downgrade() -> None:
    op.execute("ALTER TABLE deliveries ADD COLUMN message_id varchar(255)")
    op.execute(
        "UPDATE deliveries SET message_id = (SELECT l.message_id FROM legacy_message_ids AS l "
        "WHERE l.delivery_id = deliveries.id) "
        "WHERE id IN (SELECT delivery_id FROM legacy_message_ids)"
    )
    op.drop_table("legacy_message_ids")
