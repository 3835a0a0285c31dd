"""feedback events: bounces and complaints per delivery; deliveries found by Message-ID

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from subscribers.database import UTCDateTime

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feedback_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_key", sa.String(length=100), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "hard_bounce",
                "soft_bounce",
                "complaint",
                name="feedbackkind",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("status_code", sa.String(length=20), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_feedback_events_delivery_id_deliveries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_feedback_events_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_events")),
        sa.UniqueConstraint("report_key", name=op.f("uq_feedback_events_report_key")),
    )
    with op.batch_alter_table("feedback_events") as batch_op:
        batch_op.create_index(
            batch_op.f("ix_feedback_events_delivery_id"), ["delivery_id"], unique=False
        )
        batch_op.create_index(
            "ix_feedback_events_subscriber_kind", ["subscriber_id", "kind"], unique=False
        )
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.create_index("ix_deliveries_message_id", ["message_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_index("ix_deliveries_message_id")
    op.drop_table("feedback_events")
