"""articles keep their image's description and size; editions choose which images show

A digest shows the top story's image full width and the others' as thumbnails, the top
story's only, or none: `editions.images`, "lead" for the editions there are. An article's
image keeps its alt text (`image_alt`, None: the headline) and the pixel size its feed
states (`image_width`, `image_height`), from which the email's height attribute comes.

Revision ID: 0026
Revises: 0025
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | Sequence[str] | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_IMAGES = sa.Enum(
    "lead_and_thumbnails", "lead", "none", name="editionimages", native_enum=False, length=20
)


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("image_alt", sa.Text(), nullable=True))
        batch.add_column(sa.Column("image_width", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("image_height", sa.Integer(), nullable=True))
    with op.batch_alter_table("editions") as batch:
        batch.add_column(sa.Column("images", _IMAGES, nullable=False, server_default="lead"))


def downgrade() -> None:
    with op.batch_alter_table("editions") as batch:
        batch.drop_column("images")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("image_height")
        batch.drop_column("image_width")
        batch.drop_column("image_alt")
