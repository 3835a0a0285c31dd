"""the planner finds due readers by bucket

Readers are grouped by (time zone, hour) of a cadence: the minute tick counts the buckets
from one index (index-only on PostgreSQL: status, frequency, time zone and hour as keys,
the id and the pause carried along), decides which are due, and reads only their readers.
`planned_buckets` remembers, for each bucket of an edition, the local date it was fully
planned for and the audience it had then (its size and two sums of its ids), so a tick where nobody
new is due reads no reader rows.

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from subscribers.database import UTCDateTime

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_subscribers_buckets",
        "subscribers",
        ["status", "frequency", "timezone", "send_hour"],
        postgresql_include=["id", "paused_until"],
    )
    op.create_table(
        "planned_buckets",
        sa.Column("edition", sa.String(length=50), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("send_hour", sa.SmallInteger(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("readers", sa.Integer(), nullable=False),
        sa.Column("id_sum", sa.BigInteger(), nullable=False),
        sa.Column("id_hash", sa.BigInteger(), nullable=False),
        sa.Column("planned_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("edition", "timezone", "send_hour"),
    )


def downgrade() -> None:
    op.drop_table("planned_buckets")
    op.drop_index("ix_subscribers_buckets", table_name="subscribers")
