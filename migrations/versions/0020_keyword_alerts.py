"""keyword alerts as it happens: the reader's choice and where their last alert stopped

`subscribers.keyword_alerts` is the reader's choice (off for everyone to begin with);
`keyword_alerted_at` and `keyword_alerted_through` say when their last keyword alert was
planned and the newest match it took in; `keyword_alert_due_at` (indexed) marks a reader
held back by KEYWORD_ALERT_MINUTES or ALERTS_PER_DAY, to be looked at again then.
`reader_keywords.added_at`: when the reader followed the keyword (NULL for keywords
followed before this revision), so older stories are not alerted. `keyword_alert_marks`:
how far the planner has read `keyword_matches`, so a tick with nothing new reads no reader.

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from subscribers.database import UTCDateTime

revision: str = "0020"
down_revision: str | Sequence[str] | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE on both databases: a batch rebuild of `subscribers` on SQLite would
    # lose the AUTOINCREMENT high-water mark (migration 0008) and give an id twice.
    op.add_column(
        "subscribers",
        sa.Column("keyword_alerts", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("subscribers", sa.Column("keyword_alerted_at", UTCDateTime(), nullable=True))
    op.add_column("subscribers", sa.Column("keyword_alerted_through", UTCDateTime(), nullable=True))
    op.add_column("subscribers", sa.Column("keyword_alert_due_at", UTCDateTime(), nullable=True))
    op.create_index("ix_subscribers_keyword_alert_due_at", "subscribers", ["keyword_alert_due_at"])
    op.add_column("reader_keywords", sa.Column("added_at", UTCDateTime(), nullable=True))
    op.create_table(
        "keyword_alert_marks",
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("through", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_keyword_alert_marks")),
    )


def downgrade() -> None:
    # DROP COLUMN (SQLite 3.35 and later) keeps the table, and so its AUTOINCREMENT mark.
    op.drop_table("keyword_alert_marks")
    op.drop_column("reader_keywords", "added_at")
    op.drop_index("ix_subscribers_keyword_alert_due_at", table_name="subscribers")
    for column in (
        "keyword_alert_due_at",
        "keyword_alerted_through",
        "keyword_alerted_at",
        "keyword_alerts",
    ):
        op.drop_column("subscribers", column)
