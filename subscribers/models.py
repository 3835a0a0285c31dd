"""The subscription store: readers, the topics they follow, consent events, suppressions."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from subscribers.database import Base, UTCDateTime, string_enum, utcnow
from subscribers.tokens import LINK_KEY_LENGTH, new_link_key


class SubscriberStatus(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    COMPLAINED = "complained"


class Frequency(enum.StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"


class ConsentKind(enum.StrEnum):
    SUBSCRIBE = "subscribe"
    IMPORT = "import"
    CONFIRM = "confirm"
    PREFERENCES = "preferences"
    UNSUBSCRIBE = "unsubscribe"
    ERASE = "erase"


subscriber_topics = Table(
    "subscriber_topics",
    Base.metadata,
    Column("subscriber_id", ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
    Column("topic_id", ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True),
    # A topic's followers in id order: the desk's reader list filtered by topic, a page at
    # a time, newest first; also every look-up by topic alone (an index on topic_id only
    # would be one more entry to write for each topic a reader follows).
    Index("ix_subscriber_topics_topic_subscriber", "topic_id", "subscriber_id"),
)


class Topic(Base):
    """A running subject of the news (an election, a war, a sector); readers follow topics."""

    __tablename__ = "topics"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # Offered on the public sign-up form. A topic first seen in an import or an API article
    # is not, until an editor makes it public (a typo in a CSV must not become a choice);
    # one first seen in the publisher's feeds is.
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Subscriber(Base):
    """A reader. The email is stored normalised and is unique.

    Ids are never given twice (AUTOINCREMENT on SQLite, a sequence on PostgreSQL): links in
    emails name a reader by id, and must not lead to the next reader after an erasure.
    """

    __tablename__ = "subscribers"
    __table_args__ = (
        CheckConstraint("send_hour >= 0 AND send_hour <= 23", name="send_hour_range"),
        # The planner's buckets (alerts.digests.planning): readers of a cadence by time zone
        # and hour, counted from the index alone on PostgreSQL.
        Index(
            "ix_subscribers_buckets",
            "status",
            "frequency",
            "timezone",
            "send_hour",
            postgresql_include=["id", "paused_until"],
        ),
        # The desk's reader list by status, newest first, a page at a time; also every
        # look-up by status alone (no index on status only: one more to keep up per reader).
        Index("ix_subscribers_status_id", "status", "id"),
        # The desk's search by the start of an address (LIKE 'abc%'), which PostgreSQL's
        # default index on email cannot answer unless the database's collation is "C".
        # (SQLite gets a plain one: its LIKE ignores case and uses no index either way.)
        Index("ix_subscribers_email_prefix", "email", postgresql_ops={"email": "text_pattern_ops"}),
        # Readers whose pause ends: due without a change to their row (subscribers.buckets).
        Index(
            "ix_subscribers_paused_until",
            "paused_until",
            postgresql_where=text("paused_until IS NOT NULL"),
            sqlite_where=text("paused_until IS NOT NULL"),
        ),
        # Readers held back from a keyword alert, by when to look again (a handful at any
        # time): partial, so that adding a reader, who is never held back yet, writes no
        # entry in it.
        Index(
            "ix_subscribers_keyword_alert_due_at",
            "keyword_alert_due_at",
            postgresql_where=text("keyword_alert_due_at IS NOT NULL"),
            sqlite_where=text("keyword_alert_due_at IS NOT NULL"),
        ),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[SubscriberStatus] = mapped_column(
        string_enum(SubscriberStatus), default=SubscriberStatus.PENDING
    )
    frequency: Mapped[Frequency] = mapped_column(string_enum(Frequency), default=Frequency.DAILY)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    send_hour: Mapped[int] = mapped_column(SmallInteger, default=7)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # A reader may pause digests for some weeks without unsubscribing.
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Breaking-news alerts on the reader's topics, besides the digest; opt-in.
    breaking_alerts: Mapped[bool] = mapped_column(Boolean, default=False)
    # Keyword alerts "as it happens": an email soon after a story mentions the reader's
    # words, besides the digest's "Your alerts" section; opt-in (alerts.digests.keyword_alerts).
    keyword_alerts: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the reader's last keyword alert was planned, and the newest match it took in:
    # the window KEYWORD_ALERT_MINUTES counts from, and where the next alert's stories start.
    keyword_alerted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    keyword_alerted_through: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A reader held back (their window or their day's alerts are used up) is looked at
    # again from this time, whether or not anything new matched.
    keyword_alert_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Binds the reader's links to this reader (subscribers.tokens); rotated to end them.
    # None for readers stored before keys existed, whose links are signed as they were then.
    link_key: Mapped[str | None] = mapped_column(String(LINK_KEY_LENGTH), default=new_link_key)
    # The language of the reader's pages and emails (subscribers.languages); None: the
    # site's DEFAULT_LANGUAGE, whatever it is when a message is written.
    language: Mapped[str | None] = mapped_column(String(16))

    topics: Mapped[list[Topic]] = relationship(
        secondary=subscriber_topics, order_by=Topic.slug, lazy="selectin"
    )
    # The reader's own words (subscribers.keywords), in the order they gave them.
    keywords: Mapped[list[ReaderKeyword]] = relationship(
        order_by="ReaderKeyword.position", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def topic_slugs(self) -> list[str]:
        return [topic.slug for topic in self.topics]

    @property
    def keyword_texts(self) -> list[str]:
        """The reader's keywords as they typed them."""
        return [keyword.typed for keyword in self.keywords]


class ReaderBucket(Base):
    """A change to the readers of one (frequency, time zone, hour): active readers added
    (or, negative, taken away) and how many changes it stands for.

    Triggers on `subscribers` and `subscriber_topics` (migration 0025) append these in the
    transaction that changes a reader: joining, leaving, moving bucket, pausing or resuming,
    following or dropping a topic. subscribers.buckets sums them per bucket and folds them
    into one row per bucket (`folded`); a bucket's count of changes only grows.
    """

    __tablename__ = "reader_buckets"
    __table_args__ = (
        Index(
            "ux_reader_buckets_folded",
            "frequency",
            "timezone",
            "send_hour",
            unique=True,
            postgresql_where=text("folded"),
            sqlite_where=text("folded"),
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    frequency: Mapped[str] = mapped_column(String(20))
    timezone: Mapped[str] = mapped_column(String(64))
    send_hour: Mapped[int] = mapped_column(SmallInteger)
    readers: Mapped[int] = mapped_column(BigInteger)
    changes: Mapped[int] = mapped_column(BigInteger)
    folded: Mapped[bool] = mapped_column(Boolean)


class Keyword(Base):
    """A word or phrase some reader follows, stored once however many readers follow it:
    the catalogue the matcher indexes (alerts.feeds.keywords). `phrase` is the normalised
    form (subscribers.keywords.normalise_keyword); a keyword nobody follows is deleted."""

    __tablename__ = "keywords"

    id: Mapped[int] = mapped_column(primary_key=True)
    phrase: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReaderKeyword(Base):
    """A reader following a keyword, with the words as the reader typed them."""

    __tablename__ = "reader_keywords"

    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    keyword_id: Mapped[int] = mapped_column(
        ForeignKey("keywords.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    typed: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(SmallInteger, default=0)
    # Stories matched before the reader followed the keyword are no keyword alert of theirs.
    # None for keywords followed before this was kept.
    added_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=utcnow)


class EditionOptOut(Base):
    """A reader who turned one edition off and keeps the others.

    Keyed by the edition's slug (its stable key in the ledger), not by a foreign key into
    alerts' editions: this package sits below alerts. Every edition a reader is eligible
    for is on until a row here says otherwise.
    """

    __tablename__ = "edition_opt_outs"

    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True
    )
    edition: Mapped[str] = mapped_column(String(50), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConsentEvent(Base):
    """Append-only record of what a reader agreed to, when, and through which form."""

    __tablename__ = "consent_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscribers.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[ConsentKind] = mapped_column(string_enum(ConsentKind))
    source: Mapped[str] = mapped_column(String(100))
    ip_address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(500))
    wording_version: Mapped[str | None] = mapped_column(String(50))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Suppression(Base):
    """An address that must never be mailed, kept only as a keyed hash."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(String(50))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


__all__ = [
    "ConsentEvent",
    "ConsentKind",
    "EditionOptOut",
    "Frequency",
    "Keyword",
    "ReaderKeyword",
    "Subscriber",
    "SubscriberStatus",
    "Suppression",
    "Topic",
    "subscriber_topics",
]
