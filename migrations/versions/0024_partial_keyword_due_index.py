"""the keyword alerts' due index only for readers held back: no entry for a new reader

`ix_subscribers_keyword_alert_due_at` is read by `keyword_alert_due_at <= now` alone, and
only readers held back from a keyword alert have a value. As a full index it took an entry
(for a NULL) for every reader an import or a sign-up adds; as a partial one it takes none.

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

_HELD_BACK = "keyword_alert_due_at IS NOT NULL"


def upgrade() -> None:
    op.drop_index("ix_subscribers_keyword_alert_due_at", table_name="subscribers")
    op.create_index(
        "ix_subscribers_keyword_alert_due_at",
        "subscribers",
        ["keyword_alert_due_at"],
        postgresql_where=sa.text(_HELD_BACK),
        sqlite_where=sa.text(_HELD_BACK),
    )


def downgrade() -> None:
    op.drop_index("ix_subscribers_keyword_alert_due_at", table_name="subscribers")
    op.create_index("ix_subscribers_keyword_alert_due_at", "subscribers", ["keyword_alert_due_at"])
