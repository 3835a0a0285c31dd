"""keyword alerts as it happens: the reader's choice and where their last alert stopped

`subscribers.keyword_alerts` is the reader's choice (off for everyone to begin with);
`keyword_alerted_at` and `keyword_alerted_through` say when their last keyword alert was
planned and the newest match it took in; `keyword_alert_due_at` (indexed) marks a reader
held back by KEYWORD_ALERT_MINUTES or ALERTS_PER_DAY, to be looked at again then.
`reader_keywords.added_at`: when the reader followed the keyword (NULL for keywords
followed before this revision), so older stories are not alerted. `keyword_alert_marks`:
how far the planner has read `keyword_matches`, so a tick with nothing new reads no reader.

Revision ID: 0020
Revises: 0018
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from subscribers.database import UTCDateTime

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers") as batch_op:
        batch_op.add_column(
            sa.Column("keyword_alerts", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(sa.Column("keyword_alerted_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("keyword_alerted_through", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("keyword_alert_due_at", UTCDateTime(), nullable=True))
        batch_op.create_index(
            "ix_subscribers_keyword_alert_due_at", ["keyword_alert_due_at"], unique=False
        )
    with op.batch_alter_table("reader_keywords") as batch_op:
        batch_op.add_column(sa.Column("added_at", UTCDateTime(), nullable=True))
    op.create_table(
        "keyword_alert_marks",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("through", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_keyword_alert_marks")),
    )


def downgrade() -> None:
    op.drop_table("keyword_alert_marks")
    with op.batch_alter_table("reader_keywords") as batch_op:
        batch_op.drop_column("added_at")
    with op.batch_alter_table("subscribers") as batch_op:
        batch_op.drop_index("ix_subscribers_keyword_alert_due_at")
        batch_op.drop_column("keyword_alert_due_at")
        batch_op.drop_column("keyword_alerted_through")
        batch_op.drop_column("keyword_alerted_at")
        batch_op.drop_column("keyword_alerts")
