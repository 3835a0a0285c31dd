"""deliveries that bounced after the relay accepted them are `bounced`, not `failed`

A hard bounce that arrives after the relay answered 250 used to turn its delivery into a
failed send: listed on the failures page with a retry button that could do nothing, and
counted as failed and as bounced. Such rows (failed, a 2xx reply, a hard-bounce report)
become `bounced`, the state new bounces now take. The status column stores plain strings
(no database enum), so only the rows change.

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HARD_BOUNCED = "SELECT delivery_id FROM feedback_events WHERE kind = 'hard_bounce'"


def upgrade() -> None:
    op.execute(
        "UPDATE deliveries SET status = 'bounced' WHERE status = 'failed' "
        f"AND smtp_reply LIKE '2%' AND id IN ({_HARD_BOUNCED})"
    )


def downgrade() -> None:
    op.execute("UPDATE deliveries SET status = 'failed' WHERE status = 'bounced'")
