"""a ledger row that fits: shared selections, no window columns, indexes of live rows

A ledger row cost 568 bytes on PostgreSQL with its indexes. It now holds a reference to a
`selections` row (the articles, written once for every reader with the same list) instead
of its own JSON list; `window_start` and `window_end` go (a digest's window ends when its
row is planned, `created_at`, and starts where the reader's previous one ended); the
reader's history is the unique key, reordered to start with the reader; the index of
states and the index of alerts cover only the rows that need them; Message-IDs are found
by the delivery id they carry, so they need no index.

On PostgreSQL the ledger is copied into a new table (dropping columns in place would leave
their bytes in every row until each is rewritten): every row keeps its id, and `clicks`
and `feedback_events` point at the new table. SQLite changes the table in place.

There is no way back: the windows' starts are not kept. The downgrade refuses.

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_IN_HAND = "status IN ('claimed', 'sending')"
_UNSETTLED_OR_FAILED = "status IN ('pending', 'claimed', 'sending', 'failed', 'bounced')"

# One selection per distinct non-empty list of a local date.
_SELECTIONS = (
    "INSERT INTO selections (local_date, article_ids) "
    "SELECT local_date, {first} FROM deliveries "
    "WHERE {length}(article_ids) > 0 GROUP BY local_date, {as_text} ORDER BY local_date"
)

_COLUMNS = (
    "id, edition, issue_id, alert_id, subscriber_id, local_date, status, selection_id, "
    "attempts, next_attempt_at, claimed_at, claimed_by, sent_at, message_id, relay, "
    "smtp_reply, last_error, opened_at, created_at"
)

_CHILDREN = (("clicks", "fk_clicks_delivery_id_deliveries"),
             ("feedback_events", "fk_feedback_events_delivery_id_deliveries"))  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "selections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("article_ids", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_selections"),
    )
    op.create_index("ix_selections_local_date", "selections", ["local_date"])
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def _upgrade_postgresql() -> None:
    op.execute(
        _SELECTIONS.format(
            first="(array_agg(article_ids))[1]",
            length="json_array_length",
            as_text="article_ids::text",
        )
    )
    op.execute(
        "CREATE TABLE deliveries_0015 ("
        "id integer NOT NULL DEFAULT nextval('deliveries_id_seq'), "
        "edition varchar(50) NOT NULL, issue_id integer, alert_id integer, "
        "subscriber_id integer NOT NULL, local_date date NOT NULL, "
        "status varchar(20) NOT NULL, selection_id integer, attempts integer NOT NULL, "
        "next_attempt_at timestamptz, claimed_at timestamptz, claimed_by bigint, "
        "sent_at timestamptz, message_id varchar(255), relay varchar(255), "
        "smtp_reply text, last_error text, opened_at timestamptz, "
        "created_at timestamptz NOT NULL)"
    )
    # In id order: the table's pages follow the ids, as new rows do.
    op.execute(
        f"INSERT INTO deliveries_0015 ({_COLUMNS}) SELECT d.id, d.edition, d.issue_id, "
        "d.alert_id, d.subscriber_id, d.local_date, d.status, s.id, d.attempts, "
        "d.next_attempt_at, d.claimed_at, d.claimed_by, d.sent_at, d.message_id, d.relay, "
        "d.smtp_reply, d.last_error, d.opened_at, d.created_at "
        "FROM deliveries AS d LEFT JOIN selections AS s "
        "ON s.local_date = d.local_date AND s.article_ids::text = d.article_ids::text "
        "ORDER BY d.id"
    )
    for child, constraint in _CHILDREN:
        op.execute(f"ALTER TABLE {child} DROP CONSTRAINT {constraint}")
    op.execute("ALTER SEQUENCE deliveries_id_seq OWNED BY NONE")
    op.execute("DROP TABLE deliveries")
    op.execute("ALTER TABLE deliveries_0015 RENAME TO deliveries")
    op.execute("ALTER SEQUENCE deliveries_id_seq OWNED BY deliveries.id")
    op.create_primary_key("pk_deliveries", "deliveries", ["id"])
    op.create_unique_constraint(
        "uq_deliveries_subscriber_id_local_date_edition",
        "deliveries",
        ["subscriber_id", "local_date", "edition"],
    )
    _indexes()
    op.create_foreign_key(
        "fk_deliveries_subscriber_id_subscribers",
        "deliveries",
        "subscribers",
        ["subscriber_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_foreign_key(
        "fk_deliveries_issue_id_issues",
        "deliveries",
        "issues",
        ["issue_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_foreign_key(
        "fk_deliveries_alert_id_breaking_alerts",
        "deliveries",
        "breaking_alerts",
        ["alert_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.create_foreign_key("fk_deliveries_selection_id_selections", "deliveries", "selections",
                          ["selection_id"], ["id"], ondelete="SET NULL")  # fmt: skip
    for child, constraint in _CHILDREN:
        op.create_foreign_key(constraint, child, "deliveries", ["delivery_id"], ["id"],
                              ondelete="CASCADE")  # fmt: skip
    op.execute("ANALYZE deliveries")


def _upgrade_sqlite() -> None:
    op.execute(
        _SELECTIONS.format(
            first="min(article_ids)", length="json_array_length", as_text="article_ids"
        )
    )
    op.add_column("deliveries", sa.Column("selection_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE deliveries SET selection_id = (SELECT s.id FROM selections AS s "
        "WHERE s.local_date = deliveries.local_date AND s.article_ids = deliveries.article_ids) "
        "WHERE json_array_length(article_ids) > 0"
    )
    for name in ("ix_deliveries_subscriber_window", "ix_deliveries_status_next_attempt",
                 "ix_deliveries_issue_id", "ix_deliveries_alert_id",
                 "ix_deliveries_message_id", "ix_deliveries_in_hand"):  # fmt: skip
        op.drop_index(name, table_name="deliveries")
    with op.batch_alter_table("deliveries", recreate="always") as batch:
        batch.drop_constraint("uq_deliveries_edition_subscriber_id_local_date", type_="unique")
        batch.drop_column("window_start")
        batch.drop_column("window_end")
        batch.drop_column("article_ids")
        batch.create_unique_constraint(
            "uq_deliveries_subscriber_id_local_date_edition",
            ["subscriber_id", "local_date", "edition"],
        )
        batch.create_foreign_key("fk_deliveries_selection_id_selections", "selections",
                                 ["selection_id"], ["id"], ondelete="SET NULL")  # fmt: skip
    _indexes()


def _indexes() -> None:
    op.create_index("ix_deliveries_status_next_attempt", "deliveries",
                    ["status", "next_attempt_at"], postgresql_where=sa.text(_UNSETTLED_OR_FAILED),
                    sqlite_where=sa.text(_UNSETTLED_OR_FAILED))  # fmt: skip
    op.create_index("ix_deliveries_in_hand", "deliveries", ["claimed_by"],
                    postgresql_where=sa.text(_IN_HAND), sqlite_where=sa.text(_IN_HAND))  # fmt: skip
    op.create_index("ix_deliveries_issue_status", "deliveries", ["issue_id", "status"])
    op.create_index("ix_deliveries_alert", "deliveries", ["alert_id"],
                    postgresql_where=sa.text("alert_id IS NOT NULL"),
                    sqlite_where=sa.text("alert_id IS NOT NULL"))  # fmt: skip


def downgrade() -> None:
    raise RuntimeError(
        "revision 0015 cannot be undone: the ledger no longer keeps where each digest's "
        "window started. Restore a backup taken before the upgrade instead."
    )
