"""how much of each summary an edition's emails show

A feed's summary can be a whole live blog; an email shows a standfirst, cut at a word
boundary after this many characters of text (0: headlines only).

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("editions") as batch_op:
        batch_op.add_column(
            sa.Column("summary_chars", sa.Integer(), nullable=False, server_default="300")
        )


def downgrade() -> None:
    with op.batch_alter_table("editions") as batch_op:
        batch_op.drop_column("summary_chars")
