"""subscriber ids never given twice; a link key per reader

Links in emails name a reader by id. SQLite without AUTOINCREMENT gives the next reader the
id of the last one deleted, so an erased reader's links led to the next reader. The table
is rebuilt with AUTOINCREMENT (PostgreSQL's sequence never gives an id twice: nothing to
do there), and each reader gets a link key the links are signed with.

Readers stored before this revision keep no key (NULL): their links are signed as before,
so the unsubscribe and preference links in the emails they already hold keep working. A
key is given to every new reader and when a reader's key is rotated.

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _on_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _refuse_cascading_rebuild() -> None:
    """Rebuilding the table drops the old one; with foreign keys enforced, that would
    delete every row that refers to a reader (topics, ledger, consent)."""
    if op.get_bind().exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(
            "migration 0008 rebuilds the subscribers table and needs PRAGMA foreign_keys=OFF"
        )


def upgrade() -> None:
    if _on_sqlite():
        _refuse_cascading_rebuild()
        with op.batch_alter_table(
            "subscribers", recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ) as batch_op:
            batch_op.add_column(sa.Column("link_key", sa.String(22), nullable=True))
    else:
        op.add_column("subscribers", sa.Column("link_key", sa.String(22), nullable=True))


def downgrade() -> None:
    if _on_sqlite():
        _refuse_cascading_rebuild()
        with op.batch_alter_table("subscribers", recreate="always") as batch_op:
            batch_op.drop_column("link_key")
    else:
        op.drop_column("subscribers", "link_key")
