"""readers follow keywords, matched in every new article

`keywords` holds each normalised phrase once, `reader_keywords` who follows it (with the
words as typed), `keyword_terms` the phrase's terms as the matcher indexes them (and the
longest, by which an article's terms find the phrase), `keyword_matches` the articles
that mention it.

PostgreSQL: the `unaccent` extension (postgresql-contrib) is created here, which needs a
role allowed to create it (the database owner on PostgreSQL 13 and later, as it is a
trusted extension). SQLite: two FTS5 tables, `keyword_search` (the phrases, stemmed) and
`article_search` (each article's words, stemmed), kept by alerts.feeds.keywords.

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from subscribers.database import UTCDateTime

revision: str = "0017"
down_revision: str | Sequence[str] | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Case- and accent-insensitive, English stemming (FTS5 has no other stemmer).
SQLITE_TOKENIZER = "porter unicode61 remove_diacritics 2"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    op.create_table(
        "keywords",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phrase", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_keywords")),
        sa.UniqueConstraint("phrase", name=op.f("uq_keywords_phrase")),
    )
    op.create_table(
        "reader_keywords",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("keyword_id", sa.Integer(), nullable=False),
        sa.Column("typed", sa.String(length=200), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"], ["subscribers.id"],
            name=op.f("fk_reader_keywords_subscriber_id_subscribers"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["keyword_id"], ["keywords.id"],
            name=op.f("fk_reader_keywords_keyword_id_keywords"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscriber_id", "keyword_id", name=op.f("pk_reader_keywords")),
    )  # fmt: skip
    op.create_index(
        op.f("ix_reader_keywords_keyword_id"), "reader_keywords", ["keyword_id"], unique=False
    )
    terms_type = postgresql.ARRAY(sa.Text()) if postgres else sa.JSON()
    op.create_table(
        "keyword_terms",
        sa.Column("keyword_id", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=32), nullable=False),
        sa.Column("terms", terms_type, nullable=False),
        sa.Column("lead", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["keyword_id"], ["keywords.id"],
            name=op.f("fk_keyword_terms_keyword_id_keywords"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("keyword_id", name=op.f("pk_keyword_terms")),
    )  # fmt: skip
    op.create_index(op.f("ix_keyword_terms_lead"), "keyword_terms", ["lead"], unique=False)
    op.create_table(
        "keyword_matches",
        sa.Column("keyword_id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("matched_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["keyword_id"], ["keywords.id"],
            name=op.f("fk_keyword_matches_keyword_id_keywords"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"],
            name=op.f("fk_keyword_matches_article_id_articles"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("keyword_id", "article_id", name=op.f("pk_keyword_matches")),
    )  # fmt: skip
    op.create_index(
        op.f("ix_keyword_matches_article_id"), "keyword_matches", ["article_id"], unique=False
    )
    op.create_index(
        op.f("ix_keyword_matches_matched_at"), "keyword_matches", ["matched_at"], unique=False
    )
    if not postgres:
        op.execute(
            f"CREATE VIRTUAL TABLE keyword_search USING fts5(phrase, tokenize='{SQLITE_TOKENIZER}')"
        )
        op.execute(
            f"CREATE VIRTUAL TABLE article_search USING fts5(body, tokenize='{SQLITE_TOKENIZER}')"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TABLE article_search")
        op.execute("DROP TABLE keyword_search")
    op.drop_table("keyword_matches")
    op.drop_table("keyword_terms")
    op.drop_table("reader_keywords")
    op.drop_table("keywords")
