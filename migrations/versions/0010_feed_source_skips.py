"""feed sources: the last fetch's skipped items and the last error's reason

A feed is no longer refused whole for one bad item: its bad items are skipped, and what was
skipped ("no link ×2") is kept with the source so `feeds list` can show it. A failed fetch
keeps its reason too; before, only the status "error" was kept.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("feed_sources", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_skips", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.String(length=500), nullable=True))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("feed_sources", schema=None) as batch_op:
        batch_op.drop_column("last_error")
        batch_op.drop_column("last_skips")
