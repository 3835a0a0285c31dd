"""running counts of the ledger, kept by the database as rows change

`delivery_counts` holds small signed deltas: how many ledger rows entered or left each
(issue, alert, state, relay, reply class, planned hour, latency bucket) key. Triggers on
`deliveries` append them in the transaction that changes the rows: one grouped insert per
statement on PostgreSQL (statement triggers with transition tables), one row per changed
row on SQLite. Nothing references a `deliveries` row, so dropping ledger rows by retention
leaves the counts whole; deleting a settled row (erasing its reader) subtracts nothing.
alerts.ledger.counts folds the deltas into one row per key. The revision back-fills the
counts from the ledger as it stands, one folded row per key.

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Seconds from planning to acceptance: a sent row's bucket is the first bound it is within
# (alerts.ledger.counts.LATENCY_BUCKETS; past the last one, their count).
LATENCY_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)
UNSETTLED = "('pending', 'claimed', 'sending')"
KEY = ("issue_id", "alert_id", "status", "relay", "reply_class", "planned_hour", "latency_le")
VALUES = ("rows", "entered", "seconds", "last_at")


def _epoch(dialect: str, column: str) -> str:
    if dialect == "sqlite":
        return f"((julianday({column}) - 2440587.5) * 86400.0)"
    return f"extract(epoch from {column})"


def _key(dialect: str, row: str) -> list[str]:
    """The key columns of the counts, as SQL over one ledger row named `row`."""
    seconds = f"({_epoch(dialect, f'{row}.sent_at')} - {_epoch(dialect, f'{row}.created_at')})"
    buckets = " ".join(
        f"WHEN {seconds} <= {bound} THEN {index}" for index, bound in enumerate(LATENCY_BUCKETS)
    )
    hour = f"CAST(floor({_epoch(dialect, f'{row}.created_at')} / 3600) AS INTEGER)"
    if dialect == "sqlite":  # no floor() before SQLite 3.35's math functions
        hour = f"CAST(strftime('%s', {row}.created_at) AS INTEGER) / 3600"
    return [
        f"coalesce({row}.issue_id, 0)",
        f"coalesce({row}.alert_id, 0)",
        f"{row}.status",
        f"coalesce({row}.relay, '')",
        f"CASE substr({row}.smtp_reply, 1, 1) WHEN '2' THEN '2xx' WHEN '4' THEN '4xx' "
        f"WHEN '5' THEN '5xx' ELSE 'none' END",
        hour,
        f"CASE WHEN {row}.status = 'sent' AND {row}.sent_at IS NOT NULL THEN CASE {buckets} "
        f"ELSE {len(LATENCY_BUCKETS)} END ELSE -1 END",
    ]


def _entered(dialect: str, row: str) -> list[str]:
    """`rows`, `entered`, `seconds`, `last_at` of a row entering its state."""
    now = "CURRENT_TIMESTAMP" if dialect == "sqlite" else "statement_timestamp()"
    seconds = f"({_epoch(dialect, f'{row}.sent_at')} - {_epoch(dialect, f'{row}.created_at')})"
    return [
        "1",
        "1",
        f"CASE WHEN {row}.status = 'sent' AND {row}.sent_at IS NOT NULL THEN {seconds} ELSE 0 END",
        _epoch(dialect, f"coalesce({row}.sent_at, {now})"),
    ]


def _columns() -> str:
    return ", ".join((*KEY, *VALUES, "folded"))


def _postgresql_triggers() -> list[str]:
    key_new, key_old = _key("postgresql", "n"), _key("postgresql", "o")
    grouped = ", ".join(f"k.{name}" for name in KEY)
    named_new = ", ".join(f"{sql} AS {name}" for sql, name in zip(key_new, KEY, strict=True))
    named_old = ", ".join(f"{sql} AS {name}" for sql, name in zip(key_old, KEY, strict=True))
    rows, entered, seconds, at = _entered("postgresql", "n")
    changed = f"({', '.join(key_old)}) IS DISTINCT FROM ({', '.join(key_new)})"
    insert = f"INSERT INTO delivery_counts ({_columns()})"
    aggregate = (
        f"SELECT {grouped}, sum(k.rows), sum(k.entered), sum(k.seconds), max(k.last_at), false"
    )
    functions = {
        "insert": (
            f"{insert} {aggregate} FROM (SELECT {named_new}, {rows} AS rows, {entered} AS entered,"
            f" {seconds} AS seconds, {at} AS last_at FROM counted_new n) k GROUP BY {grouped}"
        ),
        "update": (
            f"{insert} {aggregate} FROM ("
            f"SELECT {named_old}, -1 AS rows, 0 AS entered, 0::float8 AS seconds, "
            f"NULL::float8 AS last_at FROM counted_old o JOIN counted_new n USING (id) "
            f"WHERE {changed} UNION ALL "
            f"SELECT {named_new}, 1, CASE WHEN o.status <> n.status THEN 1 ELSE 0 END, "
            f"CASE WHEN o.status <> n.status THEN {seconds} ELSE 0 END, "
            f"CASE WHEN o.status <> n.status THEN {at} END "
            f"FROM counted_old o JOIN counted_new n USING (id) WHERE {changed}"
            f") k GROUP BY {grouped}"
        ),
        "delete": (
            f"{insert} {aggregate} FROM (SELECT {named_old}, -1 AS rows, 0 AS entered, "
            f"0::float8 AS seconds, NULL::float8 AS last_at FROM counted_old o "
            f"WHERE o.status IN {UNSETTLED}) k GROUP BY {grouped}"
        ),
    }
    tables = {
        "insert": "NEW TABLE AS counted_new",
        "update": "OLD TABLE AS counted_old NEW TABLE AS counted_new",
        "delete": "OLD TABLE AS counted_old",
    }
    statements = []
    for event, body in functions.items():
        statements.append(
            f"CREATE FUNCTION deliveries_counted_{event}() RETURNS trigger LANGUAGE plpgsql "
            f"AS $$ BEGIN {body}; RETURN NULL; END $$"
        )
        statements.append(
            f"CREATE TRIGGER deliveries_counted_{event} AFTER {event.upper()} ON deliveries "
            f"REFERENCING {tables[event]} FOR EACH STATEMENT "
            f"EXECUTE FUNCTION deliveries_counted_{event}()"
        )
    return statements


def _sqlite_triggers() -> list[str]:
    key_new, key_old = _key("sqlite", "NEW"), _key("sqlite", "OLD")
    rows, entered, seconds, at = _entered("sqlite", "NEW")
    insert = f"INSERT INTO delivery_counts ({_columns()}) VALUES"
    new_values = ", ".join(key_new)
    old_values = ", ".join(key_old)
    moved = "CASE WHEN OLD.status <> NEW.status THEN"
    return [
        "CREATE TRIGGER deliveries_counted_insert AFTER INSERT ON deliveries BEGIN "
        f"{insert} ({new_values}, {rows}, {entered}, {seconds}, {at}, 0); END",
        f"CREATE TRIGGER deliveries_counted_update AFTER UPDATE ON deliveries "
        f"WHEN ({old_values}) IS NOT ({new_values}) BEGIN "
        f"{insert} ({old_values}, -1, 0, 0, NULL, 0); "
        f"{insert} ({new_values}, 1, {moved} 1 ELSE 0 END, {moved} {seconds} ELSE 0 END, "
        f"{moved} {at} END, 0); END",
        "CREATE TRIGGER deliveries_counted_delete AFTER DELETE ON deliveries "
        f"WHEN OLD.status IN {UNSETTLED} BEGIN {insert} ({old_values}, -1, 0, 0, NULL, 0); END",
    ]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "delivery_counts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("issue_id", sa.Integer(), nullable=False),  # 0: none
        sa.Column("alert_id", sa.Integer(), nullable=False),  # 0: none
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("relay", sa.String(length=255), nullable=False),  # '': not named
        sa.Column("reply_class", sa.String(length=4), nullable=False),
        sa.Column("planned_hour", sa.Integer(), nullable=False),
        sa.Column("latency_le", sa.SmallInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("entered", sa.BigInteger(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("last_at", sa.Float(), nullable=True),
        sa.Column("folded", sa.Boolean(), nullable=False),
    )
    op.create_index(
        "ux_delivery_counts_folded",
        "delivery_counts",
        list(KEY),
        unique=True,
        postgresql_where=sa.text("folded"),
        sqlite_where=sa.text("folded"),
    )
    op.create_index("ix_delivery_counts_issue_id", "delivery_counts", ["issue_id"])
    op.create_index("ix_delivery_counts_alert_id", "delivery_counts", ["alert_id"])
    # Triggers first: on PostgreSQL creating them locks out writers until this commits,
    # so no row changes between the back-fill and the first delta.
    for statement in _postgresql_triggers() if dialect == "postgresql" else _sqlite_triggers():
        op.execute(statement)
    key = ", ".join(f"{sql} AS {name}" for sql, name in zip(_key(dialect, "d"), KEY, strict=True))
    rows, entered, seconds, at = _entered(dialect, "d")
    grouped = ", ".join(f"k.{name}" for name in KEY)
    op.execute(
        f"INSERT INTO delivery_counts ({_columns()}) "
        f"SELECT {grouped}, sum(k.rows), sum(k.entered), sum(k.seconds), max(k.last_at), "
        f"{'true' if dialect == 'postgresql' else '1'} FROM (SELECT {key}, {rows} AS rows, "
        f"{entered} AS entered, {seconds} AS seconds, {at} AS last_at FROM deliveries d) k "
        f"GROUP BY {grouped}"
    )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for event in ("insert", "update", "delete"):
        if dialect == "postgresql":
            op.execute(f"DROP TRIGGER deliveries_counted_{event} ON deliveries")
            op.execute(f"DROP FUNCTION deliveries_counted_{event}()")
        else:
            op.execute(f"DROP TRIGGER deliveries_counted_{event}")
    op.drop_table("delivery_counts")
