"""the desk's readers and topics: list indexes, and topics that are not yet public

The reader list pages by id within a status or a topic, and searches by the start of an
address: an index for each (the prefix one with text_pattern_ops on PostgreSQL, where LIKE
cannot use a plain index unless the collation is "C"). Topics gain `public`: what the
sign-up form offers. Topics that exist already stay public; new ones start hidden until an
editor makes them public.

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_subscribers_status_id", "subscribers", ["status", "id"])
    op.create_index(
        "ix_subscribers_email_prefix",
        "subscribers",
        ["email"],
        postgresql_ops={"email": "text_pattern_ops"},
    )
    op.create_index(
        "ix_subscriber_topics_topic_subscriber", "subscriber_topics", ["topic_id", "subscriber_id"]
    )
    with op.batch_alter_table("topics") as batch_op:
        batch_op.add_column(
            sa.Column("public", sa.Boolean(), nullable=False, server_default=sa.true())
        )


def downgrade() -> None:
    with op.batch_alter_table("topics") as batch_op:
        batch_op.drop_column("public")
    op.drop_index("ix_subscriber_topics_topic_subscriber", table_name="subscriber_topics")
    op.drop_index("ix_subscribers_email_prefix", table_name="subscribers")
    op.drop_index("ix_subscribers_status_id", table_name="subscribers")
