"""ledger rows without text: a derived Message-ID, the relay by number, no claim once sent

Three things a sent row carried go (docs/decisions.md, "A sent row without text"):

- `deliveries.message_id`: a row's Message-ID is now `<kind.id.mac@domain>`, the MAC a
  keyed hash of the row's id and local date under SECRET_KEY (alerts.ledger.message_ids).
  The Message-IDs rows already went out with had a random part that cannot be derived, so
  they move to `legacy_message_ids` (delivery id, Message-ID), where a bounce or a
  complaint naming one still finds its row; retention forgets them with their rows.
- `deliveries.relay` (text) becomes `relay_id`, a 2-byte number from the new `relays`
  table (alerts.ledger.relay_names). The count triggers of 0016/0019 read the name through
  it, so `delivery_counts` and every figure keep naming relays as before.
- A sent row's claim (time and owner): nothing reads it once the row is sent
  (alerts.ledger.outcomes clears it from now on); the rows sent before lose theirs here.

Every row is kept, and says the same. On PostgreSQL the relay's new type rewrites every
partition of the ledger (`ALTER COLUMN ... TYPE`), which also drops the bytes of the
dropped column and the dead versions the claims' update left: the ledger is locked while
it runs (72 s for 1,000,000 rows on a busy 2-core machine: docs/benchmarks.md). SQLite
keeps its plain table; its count triggers are written again around the change.

The downgrade puts the relay's name and the stored Message-IDs back (rows sent since have
none stored: their bounces are matched by their VERP return path); the claims of sent rows
do not come back.

Revision ID: 0028
Revises: 0027
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | Sequence[str] | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COUNT_TRIGGERS = ("insert", "update", "delete")
# The count triggers' relay key over a row `r`, before and after.
_RELAY_NAME = re.compile(r"coalesce\((\w+)\.relay, ''\)")
_RELAY_NUMBER = r"coalesce((SELECT rl.name FROM relays AS rl WHERE rl.id = \1.relay_id), '')"
_RELAY_NUMBER_BACK = re.compile(
    r"coalesce\(\(SELECT rl\.name FROM relays AS rl WHERE rl\.id = (\w+)\.relay_id\), ''\)"
)
_SETTLED_SENT = "status = 'sent' AND (claimed_at IS NOT NULL OR claimed_by IS NOT NULL)"


def upgrade() -> None:
    op.create_table(
        "legacy_message_ids",
        sa.Column("delivery_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("delivery_id", name=op.f("pk_legacy_message_ids")),
    )
    op.execute(
        "INSERT INTO legacy_message_ids (delivery_id, message_id) "
        "SELECT id, message_id FROM deliveries WHERE message_id IS NOT NULL ORDER BY id"
    )
    op.create_table(
        "relays",
        sa.Column("id", sa.SmallInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_relays")),
        sa.UniqueConstraint("name", name=op.f("uq_relays_name")),
    )
    op.execute(
        "INSERT INTO relays (name) SELECT DISTINCT relay FROM deliveries "
        "WHERE relay IS NOT NULL ORDER BY relay"
    )
    # The claims' columns are in no key the count triggers keep: nothing is counted.
    op.execute(f"UPDATE deliveries SET claimed_at = NULL, claimed_by = NULL WHERE {_SETTLED_SENT}")
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def _upgrade_postgresql() -> None:
    op.execute("ALTER TABLE deliveries DROP COLUMN message_id")
    # A USING expression may not hold a subquery; a function may. The rewrite this
    # forces on every partition also leaves out the dropped column and dead rows.
    op.execute(
        "CREATE FUNCTION relay_number_0024(name text) RETURNS smallint LANGUAGE sql STABLE "
        "AS $$ SELECT id FROM relays WHERE relays.name = $1 $$"
    )
    op.execute(
        "ALTER TABLE deliveries ALTER COLUMN relay TYPE smallint USING relay_number_0024(relay)"
    )
    op.execute("DROP FUNCTION relay_number_0024(text)")
    op.execute("ALTER TABLE deliveries RENAME COLUMN relay TO relay_id")
    _rewrite_count_functions(_RELAY_NAME, _RELAY_NUMBER)
    op.execute("ANALYZE deliveries")


def _upgrade_sqlite() -> None:
    triggers = _drop_count_triggers_sqlite()
    op.execute("ALTER TABLE deliveries ADD COLUMN relay_id SMALLINT")
    op.execute(
        "UPDATE deliveries SET relay_id = (SELECT r.id FROM relays AS r WHERE r.name = relay) "
        "WHERE relay IS NOT NULL"
    )
    # In place, not a batch operation: that would copy the table and lose its triggers.
    op.execute("ALTER TABLE deliveries DROP COLUMN relay")
    op.execute("ALTER TABLE deliveries DROP COLUMN message_id")
    for definition in triggers:
        rewritten, found = _RELAY_NAME.subn(_RELAY_NUMBER, definition)
        assert found, "a count trigger without the relay to rewrite"
        op.execute(rewritten)


def _drop_count_triggers_sqlite() -> list[str]:
    """Drop the count triggers (SQLite checks them against the columns it drops); their
    definitions."""
    bind = op.get_bind()
    definitions = []
    for event in _COUNT_TRIGGERS:
        definitions.append(
            str(
                bind.scalar(
                    sa.text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = :n"),
                    {"n": f"deliveries_counted_{event}"},
                )
            )
        )
        op.execute(f"DROP TRIGGER deliveries_counted_{event}")
    return definitions


def _rewrite_count_functions(pattern: re.Pattern[str], replacement: str) -> None:
    """Rewrite the count triggers' functions on PostgreSQL (their bodies name columns as
    text, which a rename does not follow)."""
    bind = op.get_bind()
    for event in _COUNT_TRIGGERS:
        definition = bind.scalar(
            sa.text(f"SELECT pg_get_functiondef('deliveries_counted_{event}'::regproc)")
        )
        rewritten, found = pattern.subn(replacement, str(definition))
        assert found, f"deliveries_counted_{event}: no relay to rewrite"
        op.execute(rewritten)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE deliveries ADD COLUMN message_id varchar(255)")
        op.execute("ALTER TABLE deliveries RENAME COLUMN relay_id TO relay")
        op.execute(
            "CREATE FUNCTION relay_name_0024(number smallint) RETURNS varchar LANGUAGE sql "
            "STABLE AS $$ SELECT name FROM relays WHERE relays.id = $1 $$"
        )
        op.execute(
            "ALTER TABLE deliveries ALTER COLUMN relay TYPE varchar(255) "
            "USING relay_name_0024(relay)"
        )
        op.execute("DROP FUNCTION relay_name_0024(smallint)")
        _rewrite_count_functions(_RELAY_NUMBER_BACK, r"coalesce(\1.relay, '')")
    else:
        triggers = _drop_count_triggers_sqlite()
        op.execute("ALTER TABLE deliveries ADD COLUMN message_id VARCHAR(255)")
        op.execute("ALTER TABLE deliveries ADD COLUMN relay VARCHAR(255)")
        op.execute(
            "UPDATE deliveries SET relay = (SELECT r.name FROM relays AS r "
            "WHERE r.id = relay_id) WHERE relay_id IS NOT NULL"
        )
        op.execute("ALTER TABLE deliveries DROP COLUMN relay_id")
        for definition in triggers:
            op.execute(_RELAY_NUMBER_BACK.sub(r"coalesce(\1.relay, '')", definition))
    op.execute(
        "UPDATE deliveries SET message_id = (SELECT l.message_id FROM legacy_message_ids AS l "
        "WHERE l.delivery_id = deliveries.id) "
        "WHERE id IN (SELECT delivery_id FROM legacy_message_ids)"
    )
    op.drop_table("relays")
    op.drop_table("legacy_message_ids")
