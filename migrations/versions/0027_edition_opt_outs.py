"""edition_opt_outs: a reader turns one edition off and keeps the others

One row per (reader, edition slug) the reader turned off; no row means the edition is on.
The slug, not a foreign key into editions: the subscription store sits below alerts. The
primary key, reader first, is what planning's NOT EXISTS probes for each reader of a bucket.

Revision ID: 0027
Revises: 0026
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from subscribers.database import UTCDateTime

revision: str = "0027"
down_revision: str | Sequence[str] | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "edition_opt_outs",
        sa.Column(
            "subscriber_id",
            sa.Integer(),
            sa.ForeignKey("subscribers.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("edition", sa.String(50), primary_key=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("edition_opt_outs")
