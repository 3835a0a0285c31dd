"""editions, issues, breaking alerts, clicks, staff users and the audit log

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from subscribers.database import UTCDateTime

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _status(name: str) -> sa.Enum:
    return sa.Enum("open", "paused", "cancelled", name=name, native_enum=False, length=20)


def upgrade() -> None:
    op.create_table(
        "editions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "cadence",
            sa.Enum("daily", "weekly", name="cadence", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("weekday", sa.SmallInteger(), nullable=True),
        sa.Column("send_hour", sa.SmallInteger(), nullable=True),
        sa.Column("subject_template", sa.Text(), nullable=False),
        sa.Column("intro", sa.Text(), nullable=False),
        sa.Column("max_articles", sa.Integer(), nullable=False),
        sa.Column("click_tracking", sa.Boolean(), nullable=False),
        sa.Column("open_tracking", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_editions")),
        sa.UniqueConstraint("slug", name=op.f("uq_editions_slug")),
    )
    op.create_table(
        "edition_topics",
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["edition_id"], ["editions.id"],
            name=op.f("fk_edition_topics_edition_id_editions"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"], ["topics.id"],
            name=op.f("fk_edition_topics_topic_id_topics"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("edition_id", "topic_id", name=op.f("pk_edition_topics")),
    )  # fmt: skip
    op.create_table(
        "issues",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("status", _status("issuestatus"), nullable=False),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("intro", sa.Text(), nullable=True),
        sa.Column("pinned_ids", sa.JSON(), nullable=False),
        sa.Column("dropped_ids", sa.JSON(), nullable=False),
        sa.Column("locked_ids", sa.JSON(), nullable=True),
        sa.Column("locked_at", UTCDateTime(), nullable=True),
        sa.Column("sent_now_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["edition_id"], ["editions.id"],
            name=op.f("fk_issues_edition_id_editions"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issues")),
        sa.UniqueConstraint(
            "edition_id", "local_date", name=op.f("uq_issues_edition_id_local_date")
        ),
    )  # fmt: skip
    op.create_table(
        "breaking_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("status", _status("issuestatus"), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"],
            name=op.f("fk_breaking_alerts_article_id_articles"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breaking_alerts")),
        sa.UniqueConstraint("article_id", name=op.f("uq_breaking_alerts_article_id")),
    )  # fmt: skip
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.alter_column(
            "edition",
            existing_type=sa.Enum("daily", "weekly", name="edition", native_enum=False, length=20),
            type_=sa.String(length=50),
            existing_nullable=False,
        )
        batch_op.alter_column(
            "status",
            existing_type=sa.Enum(
                "pending", "claimed", "sending", "sent", "failed", "skipped", "suppressed",
                name="deliverystatus", native_enum=False, length=20,
            ),
            type_=sa.Enum(
                "pending", "claimed", "sending", "sent", "failed", "skipped", "suppressed",
                "cancelled", name="deliverystatus", native_enum=False, length=20,
            ),
            existing_nullable=False,
        )  # fmt: skip
        batch_op.add_column(sa.Column("issue_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("alert_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("opened_at", UTCDateTime(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_deliveries_issue_id_issues"),
            "issues",
            ["issue_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_deliveries_alert_id_breaking_alerts"), "breaking_alerts",
            ["alert_id"], ["id"], ondelete="SET NULL",
        )  # fmt: skip
        batch_op.create_index(batch_op.f("ix_deliveries_issue_id"), ["issue_id"])
        batch_op.create_index(batch_op.f("ix_deliveries_alert_id"), ["alert_id"])
    with op.batch_alter_table("feed_sources") as batch_op:
        batch_op.add_column(sa.Column("poll_minutes", sa.Integer(), nullable=True))
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.add_column(sa.Column("scopes", sa.JSON(), nullable=True))
    with op.batch_alter_table("subscribers") as batch_op:
        batch_op.add_column(
            sa.Column("breaking_alerts", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "clicks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("issue_id", sa.Integer(), nullable=True),
        sa.Column("article_id", sa.Integer(), nullable=True),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("clicked_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"], ["deliveries.id"],
            name=op.f("fk_clicks_delivery_id_deliveries"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["issue_id"], ["issues.id"], name=op.f("fk_clicks_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], name=op.f("fk_clicks_article_id_articles"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clicks")),
    )  # fmt: skip
    op.create_index(op.f("ix_clicks_delivery_id"), "clicks", ["delivery_id"])
    op.create_index(op.f("ix_clicks_issue_id"), "clicks", ["issue_id"])
    op.create_table(
        "staff_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column(
            "role",
            sa.Enum("admin", "editor", "operator", name="role", native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("session_version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_login_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_users")),
        sa.UniqueConstraint("email", name=op.f("uq_staff_users_email")),
    )
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=300), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("target", sa.String(length=300), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_occurred_at"), "audit_events", ["occurred_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_audit_events_occurred_at"), table_name="audit_events")
    op.drop_table("audit_events")
    op.drop_table("staff_users")
    op.drop_index(op.f("ix_clicks_issue_id"), table_name="clicks")
    op.drop_index(op.f("ix_clicks_delivery_id"), table_name="clicks")
    op.drop_table("clicks")
    with op.batch_alter_table("subscribers") as batch_op:
        batch_op.drop_column("breaking_alerts")
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.drop_column("scopes")
    with op.batch_alter_table("feed_sources") as batch_op:
        batch_op.drop_column("poll_minutes")
    with op.batch_alter_table("deliveries") as batch_op:
        batch_op.drop_index(batch_op.f("ix_deliveries_alert_id"))
        batch_op.drop_index(batch_op.f("ix_deliveries_issue_id"))
        batch_op.drop_constraint(batch_op.f("fk_deliveries_alert_id_breaking_alerts"))
        batch_op.drop_constraint(batch_op.f("fk_deliveries_issue_id_issues"))
        batch_op.drop_column("opened_at")
        batch_op.drop_column("alert_id")
        batch_op.drop_column("issue_id")
    op.drop_table("breaking_alerts")
    op.drop_table("issues")
    op.drop_table("edition_topics")
    op.drop_table("editions")
