"""reader_buckets: the planner's buckets kept by triggers, so a tick costs the buckets, not the list

The minute tick counted every active reader per (time zone, hour) to find the buckets and
tell whether a planned bucket's audience had changed: one index scan of the whole list a
minute (2.96 s at 1,000,000 readers). `reader_buckets` holds, per (frequency, time zone,
hour), the number of active readers and a version that every change to a reader of the
bucket (joining, leaving, moving, pausing, a topic followed or dropped) raises. Triggers
keep it in the transaction that changes the readers: per statement with transition tables
on PostgreSQL (an import of 10,000 readers is one grouped upsert), per row on SQLite.
A bucket's mark (planned_buckets) keeps the version it planned instead of sums of ids.

Revision ID: 0024
Revises: 0023
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | Sequence[str] | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BUCKET = "frequency, timezone, send_hour"
# What moves a reader in or out of a bucket's audience; other columns (a name, a link key,
# the keyword alerts' clock) change nothing the planner looks at.
_WATCHED = "status, frequency, timezone, send_hour, paused_until"

_POSTGRESQL_FUNCTIONS = (
    f"""
    CREATE FUNCTION reader_buckets_readers() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' THEN
            INSERT INTO reader_buckets AS b ({_BUCKET}, readers, version)
            SELECT {_BUCKET}, count(*) FILTER (WHERE status = 'active'), 1
            FROM new_rows GROUP BY {_BUCKET}
            ON CONFLICT ({_BUCKET}) DO UPDATE
                SET readers = b.readers + excluded.readers, version = b.version + 1;
        ELSIF TG_OP = 'DELETE' THEN
            UPDATE reader_buckets AS b
            SET readers = b.readers - gone.readers, version = b.version + 1
            FROM (SELECT {_BUCKET}, count(*) FILTER (WHERE status = 'active') AS readers
                  FROM old_rows GROUP BY {_BUCKET}) AS gone
            WHERE (b.frequency, b.timezone, b.send_hour)
                = (gone.frequency, gone.timezone, gone.send_hour);
        ELSE
            WITH moved AS (
                SELECT o.frequency AS o_frequency, o.timezone AS o_timezone,
                       o.send_hour AS o_hour, (o.status = 'active')::int AS o_active,
                       n.frequency AS n_frequency, n.timezone AS n_timezone,
                       n.send_hour AS n_hour, (n.status = 'active')::int AS n_active
                FROM old_rows AS o JOIN new_rows AS n USING (id)
                WHERE (o.status, o.frequency, o.timezone, o.send_hour, o.paused_until)
                    IS DISTINCT FROM
                      (n.status, n.frequency, n.timezone, n.send_hour, n.paused_until)
            ), deltas AS (
                SELECT o_frequency AS frequency, o_timezone AS timezone,
                       o_hour AS send_hour, -o_active AS readers FROM moved
                UNION ALL
                SELECT n_frequency, n_timezone, n_hour, n_active FROM moved
            )
            INSERT INTO reader_buckets AS b ({_BUCKET}, readers, version)
            SELECT {_BUCKET}, sum(readers), 1 FROM deltas GROUP BY {_BUCKET}
            ON CONFLICT ({_BUCKET}) DO UPDATE
                SET readers = b.readers + excluded.readers, version = b.version + 1;
        END IF;
        RETURN NULL;
    END $$
    """,
    f"""
    CREATE FUNCTION reader_buckets_topics() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE reader_buckets AS b SET version = b.version + 1
        FROM (SELECT DISTINCT {_BUCKET} FROM subscribers
              WHERE id IN (SELECT subscriber_id FROM changed_rows)) AS touched
        WHERE (b.frequency, b.timezone, b.send_hour)
            = (touched.frequency, touched.timezone, touched.send_hour);
        RETURN NULL;
    END $$
    """,
)
_POSTGRESQL_TRIGGERS = (
    "CREATE TRIGGER reader_buckets_insert AFTER INSERT ON subscribers "
    "REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION reader_buckets_readers()",
    "CREATE TRIGGER reader_buckets_update AFTER UPDATE ON subscribers "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION reader_buckets_readers()",
    "CREATE TRIGGER reader_buckets_delete AFTER DELETE ON subscribers "
    "REFERENCING OLD TABLE AS old_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION reader_buckets_readers()",
    "CREATE TRIGGER reader_buckets_topic_insert AFTER INSERT ON subscriber_topics "
    "REFERENCING NEW TABLE AS changed_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION reader_buckets_topics()",
    "CREATE TRIGGER reader_buckets_topic_delete AFTER DELETE ON subscriber_topics "
    "REFERENCING OLD TABLE AS changed_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION reader_buckets_topics()",
)


def _sqlite_enter(row: str) -> str:
    return (
        f"INSERT OR IGNORE INTO reader_buckets ({_BUCKET}, readers, version) "
        f"VALUES ({row}.frequency, {row}.timezone, {row}.send_hour, 0, 0); "
        f"UPDATE reader_buckets SET readers = readers + ({row}.status = 'active'), "
        f"version = version + 1 WHERE frequency = {row}.frequency "
        f"AND timezone = {row}.timezone AND send_hour = {row}.send_hour;"
    )


def _sqlite_leave(row: str) -> str:
    return (
        f"UPDATE reader_buckets SET readers = readers - ({row}.status = 'active'), "
        f"version = version + 1 WHERE frequency = {row}.frequency "
        f"AND timezone = {row}.timezone AND send_hour = {row}.send_hour;"
    )


def _sqlite_topics(row: str) -> str:
    return (
        f"UPDATE reader_buckets SET version = version + 1 WHERE ({_BUCKET}) = "
        f"(SELECT {_BUCKET} FROM subscribers WHERE id = {row}.subscriber_id);"
    )


_CHANGED = " OR ".join(f"OLD.{column} IS NOT NEW.{column}" for column in _WATCHED.split(", "))
_SQLITE_TRIGGERS = (
    "CREATE TRIGGER reader_buckets_insert AFTER INSERT ON subscribers "
    f"BEGIN {_sqlite_enter('NEW')} END",
    f"CREATE TRIGGER reader_buckets_update AFTER UPDATE OF {_WATCHED} ON subscribers "
    f"WHEN {_CHANGED} BEGIN {_sqlite_leave('OLD')} {_sqlite_enter('NEW')} END",
    "CREATE TRIGGER reader_buckets_delete AFTER DELETE ON subscribers "
    f"BEGIN {_sqlite_leave('OLD')} END",
    "CREATE TRIGGER reader_buckets_topic_insert AFTER INSERT ON subscriber_topics "
    f"BEGIN {_sqlite_topics('NEW')} END",
    "CREATE TRIGGER reader_buckets_topic_delete AFTER DELETE ON subscriber_topics "
    f"BEGIN {_sqlite_topics('OLD')} END",
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "reader_buckets",
        sa.Column("frequency", sa.String(length=20), primary_key=True),
        sa.Column("timezone", sa.String(length=64), primary_key=True),
        sa.Column("send_hour", sa.SmallInteger(), primary_key=True),
        sa.Column("readers", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
    )
    # Triggers before the back-fill: on PostgreSQL creating them takes a lock that keeps
    # writers out until this commits, so no reader changes between the two.
    if dialect == "postgresql":
        for statement in (*_POSTGRESQL_FUNCTIONS, *_POSTGRESQL_TRIGGERS):
            op.execute(statement)
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)
    op.execute(
        f"INSERT INTO reader_buckets ({_BUCKET}, readers, version) "
        f"SELECT {_BUCKET}, sum(CASE WHEN status = 'active' THEN 1 ELSE 0 END), 1 "
        f"FROM subscribers GROUP BY {_BUCKET}"
    )
    # A pause that ends makes a reader due without changing their row: the tick finds
    # those among the few readers with a pause.
    op.create_index(
        "ix_subscribers_paused_until",
        "subscribers",
        ["paused_until"],
        postgresql_where=sa.text("paused_until IS NOT NULL"),
        sqlite_where=sa.text("paused_until IS NOT NULL"),
    )
    # Marks now keep the bucket's version; the old ones are dropped (the next tick looks
    # at each due bucket once more, and the ledger's key makes that harmless).
    op.execute("DELETE FROM planned_buckets")
    with op.batch_alter_table("planned_buckets") as batch:
        batch.drop_column("id_sum")
        batch.drop_column("id_hash")
        batch.add_column(sa.Column("version", sa.BigInteger(), nullable=False, server_default="0"))


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute("DELETE FROM planned_buckets")
    with op.batch_alter_table("planned_buckets") as batch:
        batch.drop_column("version")
        batch.add_column(sa.Column("id_sum", sa.BigInteger(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("id_hash", sa.BigInteger(), nullable=False, server_default="0"))
    op.drop_index("ix_subscribers_paused_until", table_name="subscribers")
    for name in (
        "reader_buckets_insert",
        "reader_buckets_update",
        "reader_buckets_delete",
        "reader_buckets_topic_insert",
        "reader_buckets_topic_delete",
    ):
        table = "subscriber_topics" if "topic" in name else "subscribers"
        op.execute(
            f"DROP TRIGGER IF EXISTS {name} ON {table}"
            if dialect == "postgresql"
            else f"DROP TRIGGER IF EXISTS {name}"
        )
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS reader_buckets_readers()")
        op.execute("DROP FUNCTION IF EXISTS reader_buckets_topics()")
    op.drop_table("reader_buckets")
