"""a ledger partitioned by week of local date, whose old weeks are dropped whole

On PostgreSQL `deliveries` becomes a table partitioned by range of `local_date`: one
partition a week (Monday to Sunday, named `deliveries_wYYYYMMDD` after its Monday) and a
default partition, so an insert for a week with no partition of its own never fails.
Retention then drops a week's partition whole instead of deleting its rows one by one
(alerts.ledger.partitions). The primary key becomes (id, local_date), as a partitioned
table's unique keys must hold the partition key; ids stay unique, drawn from the same
sequence. The columns are laid out widest first, which saves the padding between them.

`clicks` and `feedback_events` lose their foreign keys to `deliveries` (a partition with
rows that other tables reference could not be dropped): a statement trigger removes them
when their ledger rows are deleted, and retention removes them before dropping a
partition. `deliveries` loses its foreign key to `selections`: deleting a selection made
PostgreSQL look for its rows in the whole ledger (no index on `selection_id`), and
retention deletes only the selections no kept row names. SQLite keeps the plain table and
gets the same trigger and keys, so the code reads one way on both.

A sent row keeps no 2xx reply from now on (alerts.ledger.outcomes.kept_reply): the count
triggers of 0016 learn to count a row accepted (`sent_at` set) without a reply as 2xx, as
they counted it with one. Rows sent before keep their replies.

The rows are copied in id order into the new table (every row, id, click and report
kept), into a partition for each week that has rows and for this week and four after it.
The count triggers of 0016 move to the new table: created after the copy, so the copied
rows are not counted twice.

There is no way back but a backup: the downgrade refuses.

Revision ID: 0019
Revises: 0018
"""

import re
from collections.abc import Sequence
from datetime import date, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WEEKS_AHEAD = 4  # as alerts.ledger.partitions.WEEKS_AHEAD
_IN_HAND = "status IN ('claimed', 'sending')"
_UNSETTLED_OR_FAILED = "status IN ('pending', 'claimed', 'sending', 'failed', 'bounced')"
_COLUMNS = (
    "claimed_by, next_attempt_at, claimed_at, sent_at, opened_at, created_at, id, issue_id, "
    "alert_id, subscriber_id, selection_id, attempts, local_date, edition, status, "
    "message_id, relay, smtp_reply, last_error"
)
_CHILDREN = (("clicks", "fk_clicks_delivery_id_deliveries"),
             ("feedback_events", "fk_feedback_events_delivery_id_deliveries"))  # fmt: skip
_COUNT_TRIGGERS = ("insert", "update", "delete")
_CHILDREN_GO = {
    "postgresql": (
        "CREATE FUNCTION deliveries_children_delete() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN DELETE FROM clicks WHERE delivery_id IN (SELECT id FROM gone); "
        "DELETE FROM feedback_events WHERE delivery_id IN (SELECT id FROM gone); "
        "RETURN NULL; END $$",
        "CREATE TRIGGER deliveries_children_delete AFTER DELETE ON deliveries "
        "REFERENCING OLD TABLE AS gone FOR EACH STATEMENT "
        "EXECUTE FUNCTION deliveries_children_delete()",
    ),
    "sqlite": (
        "CREATE TRIGGER deliveries_children_delete AFTER DELETE ON deliveries BEGIN "
        "DELETE FROM clicks WHERE delivery_id = OLD.id; "
        "DELETE FROM feedback_events WHERE delivery_id = OLD.id; END",
    ),
}


# 0016's reply class of a row `r`, and the same with an accepted row without a reply as 2xx.
_REPLY_CLASS = re.compile(
    r"CASE substr\((\w+)\.smtp_reply, 1, 1\) WHEN '2' THEN '2xx' WHEN '4' THEN '4xx' "
    r"WHEN '5' THEN '5xx' ELSE 'none' END"
)
_ACCEPTED_WITHOUT_REPLY = (
    r"CASE WHEN \1.smtp_reply IS NULL AND \1.sent_at IS NOT NULL THEN '2xx' "
    r"ELSE \g<0> END"
)


def _count_replies_unkept() -> None:
    """Rewrite the count triggers' functions (PostgreSQL) or the triggers (SQLite) so that
    a row accepted without a reply kept is counted 2xx."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for event in _COUNT_TRIGGERS:
            definition = bind.scalar(
                sa.text(f"SELECT pg_get_functiondef('deliveries_counted_{event}'::regproc)")
            )
            rewritten, found = _REPLY_CLASS.subn(_ACCEPTED_WITHOUT_REPLY, str(definition))
            assert found, f"deliveries_counted_{event}: no reply class to rewrite"
            op.execute(rewritten)
        return
    for event in _COUNT_TRIGGERS:
        definition = bind.scalar(
            sa.text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :name"),
            {"name": f"deliveries_counted_{event}"},
        )
        rewritten, found = _REPLY_CLASS.subn(_ACCEPTED_WITHOUT_REPLY, str(definition))
        assert found, f"deliveries_counted_{event}: no reply class to rewrite"
        op.execute(f"DROP TRIGGER deliveries_counted_{event}")
        op.execute(rewritten)


def _drop_selection_key_sqlite() -> None:
    """SQLite drops a foreign key by copying the table, which would lose its triggers and
    its partial indexes: their SQL is read first, they are dropped, and run again after."""
    bind = op.get_bind()
    kept = bind.execute(
        sa.text(
            "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'deliveries' "
            "AND type IN ('trigger', 'index') AND sql IS NOT NULL"
        )
    ).all()
    for kind, name, _ in kept:
        op.execute(f"DROP {kind.upper()} {name}")
    with op.batch_alter_table("deliveries", recreate="always") as batch:
        batch.drop_constraint("fk_deliveries_selection_id_selections", type_="foreignkey")
    for _, _, statement in kept:
        op.execute(statement)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for child, constraint in _CHILDREN:
            op.drop_constraint(constraint, child, type_="foreignkey")
        _upgrade_postgresql()
    else:
        for child, constraint in _CHILDREN:
            with op.batch_alter_table(child, recreate="always") as batch:
                batch.drop_constraint(constraint, type_="foreignkey")
        _drop_selection_key_sqlite()
    for statement in _CHILDREN_GO[dialect]:
        op.execute(statement)
    _count_replies_unkept()


def _upgrade_postgresql() -> None:
    op.execute(
        "CREATE TABLE deliveries_0019 ("
        "claimed_by bigint, next_attempt_at timestamptz, claimed_at timestamptz, "
        "sent_at timestamptz, opened_at timestamptz, created_at timestamptz NOT NULL, "
        "id integer NOT NULL DEFAULT nextval('deliveries_id_seq'), issue_id integer, "
        "alert_id integer, subscriber_id integer NOT NULL, selection_id integer, "
        "attempts integer NOT NULL, local_date date NOT NULL, edition varchar(50) NOT NULL, "
        "status varchar(20) NOT NULL, message_id varchar(255), relay varchar(255), "
        "smtp_reply text, last_error text) PARTITION BY RANGE (local_date)"
    )
    op.execute("CREATE TABLE deliveries_default PARTITION OF deliveries_0019 DEFAULT")
    bind = op.get_bind()
    # The weeks that have rows (not every week since the oldest: one stray date decades
    # back would make a thousand), and this week and the ones ahead.
    today = bind.scalar(sa.text("SELECT CURRENT_DATE"))
    with_rows = bind.scalars(
        sa.text("SELECT DISTINCT CAST(date_trunc('week', local_date) AS date) FROM deliveries")
    )
    ahead = (_monday(today) + timedelta(weeks=offset) for offset in range(WEEKS_AHEAD + 1))
    for week in sorted({*with_rows, *ahead}):
        op.execute(
            f"CREATE TABLE deliveries_w{week:%Y%m%d} PARTITION OF deliveries_0019 "
            f"FOR VALUES FROM ('{week.isoformat()}') TO ('{(week + timedelta(7)).isoformat()}')"
        )
    # In id order: each partition's pages follow the ids, as new rows do.
    op.execute(
        f"INSERT INTO deliveries_0019 ({_COLUMNS}) SELECT {_COLUMNS} FROM deliveries ORDER BY id"
    )
    op.execute("ALTER SEQUENCE deliveries_id_seq OWNED BY NONE")
    op.execute("DROP TABLE deliveries")  # its count triggers go with it; the functions stay
    op.execute("ALTER TABLE deliveries_0019 RENAME TO deliveries")
    op.execute("ALTER SEQUENCE deliveries_id_seq OWNED BY deliveries.id")
    op.create_primary_key("pk_deliveries", "deliveries", ["id", "local_date"])
    op.create_unique_constraint(
        "uq_deliveries_subscriber_id_local_date_edition",
        "deliveries",
        ["subscriber_id", "local_date", "edition"],
    )
    op.create_index("ix_deliveries_status_next_attempt", "deliveries",
                    ["status", "next_attempt_at"],
                    postgresql_where=sa.text(_UNSETTLED_OR_FAILED))  # fmt: skip
    op.create_index("ix_deliveries_in_hand", "deliveries", ["claimed_by"],
                    postgresql_where=sa.text(_IN_HAND))  # fmt: skip
    op.create_index("ix_deliveries_issue_status", "deliveries", ["issue_id", "status"])
    op.create_index("ix_deliveries_alert", "deliveries", ["alert_id"],
                    postgresql_where=sa.text("alert_id IS NOT NULL"))  # fmt: skip
    for name, target, column, action in (
        ("fk_deliveries_subscriber_id_subscribers", "subscribers", "subscriber_id", "CASCADE"),
        ("fk_deliveries_issue_id_issues", "issues", "issue_id", "SET NULL"),
        ("fk_deliveries_alert_id_breaking_alerts", "breaking_alerts", "alert_id", "SET NULL"),
    ):
        op.create_foreign_key(name, "deliveries", target, [column], ["id"], ondelete=action)
    tables = {
        "insert": "NEW TABLE AS counted_new",
        "update": "OLD TABLE AS counted_old NEW TABLE AS counted_new",
        "delete": "OLD TABLE AS counted_old",
    }
    for event in _COUNT_TRIGGERS:
        op.execute(
            f"CREATE TRIGGER deliveries_counted_{event} AFTER {event.upper()} ON deliveries "
            f"REFERENCING {tables[event]} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION deliveries_counted_{event}()"
        )
    op.execute("ANALYZE deliveries")


def downgrade() -> None:
    raise RuntimeError(
        "revision 0019 cannot be undone in place: the ledger is partitioned and clicks and "
        "reports no longer reference it. Restore a backup taken before the upgrade instead."
    )
