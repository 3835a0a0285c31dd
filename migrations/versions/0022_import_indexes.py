"""two indexes that others already cover: fewer to keep up on every insert

`ix_subscribers_status` (status) is the first column of `ix_subscribers_status_id` (status,
id) and of `ix_subscribers_buckets`; `ix_subscriber_topics_topic_id` (topic_id) is the first
column of `ix_subscriber_topics_topic_subscriber` (topic_id, subscriber_id). Every query
that used one of them can use the wider one, so each only cost upkeep: one index entry
more for every reader, and for every topic a reader follows, an import writes.

Revision ID: 0022
Revises: 0021
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0022"
down_revision: str | Sequence[str] | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_subscribers_status", table_name="subscribers")
    op.drop_index("ix_subscriber_topics_topic_id", table_name="subscriber_topics")


def downgrade() -> None:
    op.create_index("ix_subscriber_topics_topic_id", "subscriber_topics", ["topic_id"])
    op.create_index("ix_subscribers_status", "subscribers", ["status"])
