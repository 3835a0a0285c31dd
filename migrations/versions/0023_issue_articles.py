"""issues record the articles they carried, for the archive after the ledger is pruned

The archive built an old issue's list from its sent ledger rows; once LEDGER_KEEP_DAYS
pruned them, an archived issue showed no stories. `issues.article_ids` holds the list,
written once the issue's sending is over (the daily prune writes it first). NULL until
then: the archive reads the ledger meanwhile.

Revision ID: 0023
Revises: 0022
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | Sequence[str] | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("issues", sa.Column("article_ids", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("issues") as batch:
        batch.drop_column("article_ids")
