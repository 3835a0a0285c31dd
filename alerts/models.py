"""Content and delivery: articles and the delivery ledger."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.elements import ColumnElement

from subscribers.database import Base, UTCDateTime, string_enum, utcnow
from subscribers.models import Subscriber, Topic

article_topics = Table(
    "article_topics",
    Base.metadata,
    Column("article_id", ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True),
    Column("topic_id", ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Article(Base):
    """A story on the publisher's site. Its identity is its GUID when it has one, else its URL."""

    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_hash: Mapped[str] = mapped_column(String(64), unique=True)
    guid: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    summary_html: Mapped[str] = mapped_column(Text, default="")
    section: Mapped[str | None] = mapped_column(String(100))
    author: Mapped[str | None] = mapped_column(String(200))
    image_url: Mapped[str | None] = mapped_column(Text)  # https only (alerts.feeds.articles)
    image_alt: Mapped[str | None] = mapped_column(Text)  # None: the headline serves
    image_width: Mapped[int | None] = mapped_column(Integer)  # as stated by the source, or None
    image_height: Mapped[int | None] = mapped_column(Integer)
    breaking: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ingested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    topics: Mapped[list[Topic]] = relationship(
        secondary=article_topics, order_by=Topic.slug, lazy="selectin"
    )


class KeywordTerms(Base):
    """A catalogue keyword (subscribers.models.Keyword) as the matcher indexes it: its
    terms in the site's language (PostgreSQL's lexemes; the words on SQLite, whose FTS5
    table keeps the stemmed index), and its longest term, by which an article's terms
    find it. Written by alerts.feeds.keywords."""

    __tablename__ = "keyword_terms"

    keyword_id: Mapped[int] = mapped_column(
        ForeignKey("keywords.id", ondelete="CASCADE"), primary_key=True
    )
    language: Mapped[str] = mapped_column(String(32))
    terms: Mapped[list[str]] = mapped_column(ARRAY(Text).with_variant(JSON(), "sqlite"))
    lead: Mapped[str] = mapped_column(String(200), index=True)


class KeywordMatch(Base):
    """An article that mentions a catalogue keyword, found when the article came in. Its
    readers are those who follow the keyword (subscribers.models.ReaderKeyword)."""

    __tablename__ = "keyword_matches"

    keyword_id: Mapped[int] = mapped_column(
        ForeignKey("keywords.id", ondelete="CASCADE"), primary_key=True
    )
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    matched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    CLAIMED = "claimed"  # taken by a worker's batch, not yet attempted
    SENDING = "sending"  # the SMTP exchange for this row has started
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    SUPPRESSED = "suppressed"
    CANCELLED = "cancelled"  # an editor called the issue off before this row was sent
    BOUNCED = "bounced"  # the relay accepted it (250), then a hard bounce came back


class NoticeStatus(enum.StrEnum):
    PENDING = "pending"  # written with what caused it; queued, or waiting for a retry
    SENDING = "sending"  # a worker took it: its SMTP exchange may have started
    SENT = "sent"
    FAILED = "failed"  # refused, out of attempts, the reader gone, or the outcome unknown


class Cadence(enum.StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"


class EditionImages(enum.StrEnum):
    """Which stories of a digest show their image: the top story's full width and the
    others' as thumbnails, the top story's only, or none."""

    LEAD_AND_THUMBNAILS = "lead_and_thumbnails"
    LEAD = "lead"
    NONE = "none"


DEFAULT_EDITION_IMAGES = EditionImages.LEAD


class IssueStatus(enum.StrEnum):
    """What the editors decided for an issue: sending as scheduled, held, or called off."""

    OPEN = "open"
    PAUSED = "paused"
    CANCELLED = "cancelled"


edition_topics = Table(
    "edition_topics",
    Base.metadata,
    Column("edition_id", ForeignKey("editions.id", ondelete="CASCADE"), primary_key=True),
    Column("topic_id", ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True),
)

DEFAULT_SUBJECT = (
    "{{ lead }}{% if more %} — and {{ more }} more {{ 'story' if more == 1 else 'stories' }}"
    "{% endif %}"
)
# A summary in an email is a standfirst, not the article: this many characters of its text.
DEFAULT_SUMMARY_CHARS = 300


class Edition(Base):
    """A named, scheduled digest: the daily briefing, a weekly round-up, a topic edition.

    Its audience is the active readers whose frequency is its cadence and, for a topic
    edition, who follow at least one of its topics. It goes out at each reader's own hour
    unless it names one, and a weekly edition on its weekday (any day of the week, once,
    when it names none). The slug is its key in the ledger and never changes.
    """

    __tablename__ = "editions"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    cadence: Mapped[Cadence] = mapped_column(string_enum(Cadence), default=Cadence.DAILY)
    weekday: Mapped[int | None] = mapped_column(SmallInteger)  # 0 = Monday
    send_hour: Mapped[int | None] = mapped_column(SmallInteger)
    subject_template: Mapped[str] = mapped_column(Text, default=DEFAULT_SUBJECT)
    intro: Mapped[str] = mapped_column(Text, default="")
    max_articles: Mapped[int] = mapped_column(default=25)
    # Characters of each summary's text shown, cut at a word boundary (0: headlines only).
    summary_chars: Mapped[int] = mapped_column(default=DEFAULT_SUMMARY_CHARS)
    images: Mapped[EditionImages] = mapped_column(
        string_enum(EditionImages), default=DEFAULT_EDITION_IMAGES
    )
    click_tracking: Mapped[bool] = mapped_column(Boolean, default=False)
    open_tracking: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    topics: Mapped[list[Topic]] = relationship(
        secondary=edition_topics, order_by=Topic.slug, lazy="selectin"
    )


class Issue(Base):
    """One edition on one local date: what editors curated for it and whether it may go.

    Readers in different zones get the same issue at different instants; every ledger row
    of the edition for that local date belongs to it.
    """

    __tablename__ = "issues"
    __table_args__ = (UniqueConstraint("edition_id", "local_date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    edition_id: Mapped[int] = mapped_column(ForeignKey("editions.id", ondelete="CASCADE"))
    local_date: Mapped[date] = mapped_column(Date)
    status: Mapped[IssueStatus] = mapped_column(string_enum(IssueStatus), default=IssueStatus.OPEN)
    subject: Mapped[str | None] = mapped_column(Text)  # overrides the edition's template
    intro: Mapped[str | None] = mapped_column(Text)  # overrides the edition's intro
    pinned_ids: Mapped[list[int]] = mapped_column(JSON, default=list)  # in this order, on top
    dropped_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    locked_ids: Mapped[list[int] | None] = mapped_column(JSON)  # the frozen selection
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Every article the issue carried to any reader, recorded once its sending is over
    # (alerts.editions.issues.record_issue_articles): the archive's, after the ledger rows
    # that said it are pruned. None until then.
    article_ids: Mapped[list[int] | None] = mapped_column(JSON)
    sent_now_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    edition: Mapped[Edition] = relationship(lazy="joined")


class BreakingAlert(Base):
    """A short alert about one article to the readers of its topics who opted in."""

    __tablename__ = "breaking_alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[IssueStatus] = mapped_column(string_enum(IssueStatus), default=IssueStatus.OPEN)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    article: Mapped[Article] = relationship(lazy="joined")


# The rows in a worker's hands, as SQL: the predicate of the partial index on their owners.
IN_HAND = "status IN ('claimed', 'sending')"
# The rows anyone looks up by state: still to settle, or failed (the operators' page). A
# settled row (sent, skipped, cancelled, suppressed: nearly all of a big ledger) is in no
# index of states at all.
UNSETTLED_OR_FAILED = "status IN ('pending', 'claimed', 'sending', 'failed', 'bounced')"


class Selection(Base):
    """The articles one digest carries, in order: written once per distinct list of a
    planning run and shared by every reader who gets that list (readers with the same topic
    mix), so a ledger row holds a 4-byte reference instead of its own copy.

    `local_date` is its rows' local date: retention drops the selections of the days it
    drops (alerts.ledger.retention).
    """

    __tablename__ = "selections"

    id: Mapped[int] = mapped_column(primary_key=True)
    local_date: Mapped[date] = mapped_column(Date, index=True)
    article_ids: Mapped[list[int]] = mapped_column(JSON)


class Relay(Base):
    """A relay's name (`smtp:host:port`, as alerts.delivery names it), numbered once: a
    ledger row names the relay of its last attempt by this number, 2 bytes instead of the
    name's ~25 (alerts.ledger.relay_names writes them; nothing deletes or renames one).
    """

    __tablename__ = "relays"

    id: Mapped[int] = mapped_column(
        SmallInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(255), unique=True)


# A keyword alert's ledger rows (alerts.digests.as_it_happens) are of the edition
# `kw-<slot>`: the number of KEYWORD_ALERT_MINUTES windows since the epoch it was planned in.
KEYWORD_ALERT_PREFIX = "kw-"


def keyword_alert_edition(slot: int) -> str:
    return f"{KEYWORD_ALERT_PREFIX}{slot}"


def is_keyword_alert(edition: str) -> bool:
    """Whether a ledger row's edition is a keyword alert's."""
    return edition.startswith(KEYWORD_ALERT_PREFIX)


def keyword_alert_rows() -> ColumnElement[bool]:
    """The condition on ledger rows that picks keyword alerts' (the one place that knows
    how their edition is spelled in SQL)."""
    return Delivery.edition.startswith(KEYWORD_ALERT_PREFIX, autoescape=True)


class KeywordAlertMark(Base):
    """How far the keyword-alert planner has read `keyword_matches` (by `matched_at`): one
    row, so that a tick with nothing new reads no reader at all."""

    __tablename__ = "keyword_alert_marks"

    name: Mapped[str] = mapped_column(String(20), primary_key=True)
    through: Mapped[datetime] = mapped_column(UTCDateTime)


class Delivery(Base):
    """The ledger: one row per (edition, reader, local date), written before any mail leaves.

    The unique key makes a second planning run, a double scheduler tick or a redelivered
    task harmless; the status says what is left to do after a crash. Its reader first, it
    is also a reader's history.

    Rows are kept small (docs/decisions.md, "A ledger that fits"): the articles are a
    shared `Selection`, the text columns are filled only where something went wrong or is
    worth keeping, and the indexes of states cover only the rows not yet settled.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "local_date", "edition"),
        Index(
            "ix_deliveries_status_next_attempt",
            "status",
            "next_attempt_at",
            postgresql_where=text(UNSETTLED_OR_FAILED),
            sqlite_where=text(UNSETTLED_OR_FAILED),
        ),
        # Only the rows in a worker's hands: the sweeper finds their owners at any size.
        Index(
            "ix_deliveries_in_hand",
            "claimed_by",
            postgresql_where=text(IN_HAND),
            sqlite_where=text(IN_HAND),
        ),
        # A send's rows and their states: counted from the index alone.
        Index("ix_deliveries_issue_status", "issue_id", "status"),
        Index(
            "ix_deliveries_alert",
            "alert_id",
            postgresql_where=text("alert_id IS NOT NULL"),
            sqlite_where=text("alert_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # An edition's slug, alert-<id> (a breaking alert) or kw-<slot> (a keyword alert).
    edition: Mapped[str] = mapped_column(String(50))
    issue_id: Mapped[int | None] = mapped_column(ForeignKey("issues.id", ondelete="SET NULL"))
    alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("breaking_alerts.id", ondelete="SET NULL")
    )
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    local_date: Mapped[date] = mapped_column(Date)
    status: Mapped[DeliveryStatus] = mapped_column(
        string_enum(DeliveryStatus), default=DeliveryStatus.PENDING
    )
    # What the reader gets; NULL for a row with nothing in it (skipped). No foreign key:
    # retention deletes a date's selections only once no row can name them, and a key
    # would make each delete look for its rows in every partition (migration 0019).
    selection_id: Mapped[int | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The worker process holding the claim (alerts.delivery.liveness): a random 63-bit
    # number per life of a process, or NULL for a sender without a heartbeat.
    claimed_by: Mapped[int | None] = mapped_column(BigInteger)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # No Message-ID: it is derived from the row (alerts.ledger.message_ids).
    # The relay of the last attempt (`smtp:host:port`, read as `relay`): which one of a
    # failover list took the message or refused it. No foreign key, as for selection_id.
    relay_id: Mapped[int | None] = mapped_column(SmallInteger)
    smtp_reply: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the row was planned: its digest's window ends here, and the reader's next one
    # starts here.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    subscriber: Mapped[Subscriber] = relationship(lazy="joined")
    selection: Mapped[Selection | None] = relationship(
        lazy="selectin", primaryjoin="foreign(Delivery.selection_id) == Selection.id"
    )
    relay_row: Mapped[Relay | None] = relationship(
        primaryjoin="foreign(Delivery.relay_id) == Relay.id", viewonly=True
    )

    @hybrid_property
    def relay(self) -> str | None:
        """The name of the relay of the last attempt (written through `relay_id`)."""
        return self.relay_row.name if self.relay_row is not None else None

    @relay.inplace.expression
    @classmethod
    def _relay_expression(cls) -> ColumnElement[str | None]:
        return (
            select(Relay.name)
            .where(Relay.id == cls.relay_id)
            .correlate_except(Relay)
            .scalar_subquery()
        )

    def __init__(self, *, article_ids: Sequence[int] = (), **fields: Any) -> None:
        super().__init__(**fields)
        if article_ids:
            self.selection = Selection(local_date=self.local_date, article_ids=list(article_ids))

    @property
    def article_ids(self) -> list[int]:
        """The articles of the row's digest, in order (none for a skipped row)."""
        return list(self.selection.article_ids) if self.selection is not None else []


# The Message-IDs of rows sent before revision 0028, which stored theirs (a random part,
# not derivable): kept so that a report naming one is still matched. Nothing writes here.
legacy_message_ids = Table(
    "legacy_message_ids",
    Base.metadata,
    Column("delivery_id", BigInteger, primary_key=True, autoincrement=False),
    Column("message_id", String(255), nullable=False),
)


class DeliveryCount(Base):
    """Running counts of the ledger: how many rows entered or left each key.

    Triggers on `deliveries` (migration 0016) append a signed delta per key in the
    transaction that changes the rows; alerts.ledger.counts folds them into one row per key
    and reads totals plus the deltas not folded yet. Nothing points at a ledger row, so
    dropping old ledger rows leaves the counts whole; erasing a reader subtracts only the
    rows that were still waiting to be sent.
    """

    __tablename__ = "delivery_counts"
    __table_args__ = (
        Index(
            "ux_delivery_counts_folded",
            "issue_id",
            "alert_id",
            "status",
            "relay",
            "reply_class",
            "planned_hour",
            "latency_le",
            unique=True,
            postgresql_where=text("folded"),
            sqlite_where=text("folded"),
        ),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    issue_id: Mapped[int] = mapped_column(index=True)  # 0: none
    alert_id: Mapped[int] = mapped_column(index=True)  # 0: none
    status: Mapped[str] = mapped_column(String(20))  # a DeliveryStatus value
    relay: Mapped[str] = mapped_column(String(255))  # '': not named
    reply_class: Mapped[str] = mapped_column(String(4))  # 2xx, 4xx, 5xx or none
    planned_hour: Mapped[int] = mapped_column()  # hours since 1970 of the rows' created_at
    latency_le: Mapped[int] = mapped_column(SmallInteger)  # a sent row's bucket, else -1
    rows: Mapped[int] = mapped_column(BigInteger)  # rows in this key now (a delta)
    entered: Mapped[int] = mapped_column(BigInteger)  # rows that ever entered it
    seconds: Mapped[float] = mapped_column(Float)  # planning to acceptance, summed
    last_at: Mapped[float | None] = mapped_column(Float)  # Unix time of the latest entry
    folded: Mapped[bool] = mapped_column(Boolean)


class NoticeDelivery(Base):
    """The outbox of notices: one row per email to one reader (a sign-up confirmation,
    "manage your alerts"), written in the transaction that asked for it, so losing the
    broker's message loses no email. A worker sends it by id, once (alerts.delivery.notices).
    """

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_status_next_attempt", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # an alerts.mail.notices.Notice value
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[NoticeStatus] = mapped_column(
        string_enum(NoticeStatus), default=NoticeStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    # When the tick takes a pending row (again): its task was lost, or its retry is due.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[str | None] = mapped_column(String(255))
    smtp_reply: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)


class PlannedBucket(Base):
    """The readers of one (time zone, hour) of an edition's audience, all planned for a local
    date: the minute tick skips the bucket while its audience is the one it planned.

    The mark keeps the bucket's count of changes (subscribers.buckets) as it was before
    the tick read its readers: a reader who joins, leaves, changes their hour or topics
    raises it, a pause that ends is found by its end, and the tick looks at that bucket's
    readers again. A mark holds for an hour at most (alerts.digests.planning.MARK_LIFETIME).
    """

    __tablename__ = "planned_buckets"

    edition: Mapped[str] = mapped_column(String(50), primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64), primary_key=True)
    send_hour: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    local_date: Mapped[date] = mapped_column(Date)
    version: Mapped[int] = mapped_column(BigInteger, server_default="0")
    planned_at: Mapped[datetime] = mapped_column(UTCDateTime)


class FeedSource(Base):
    """A feed URL ingested before, with the validators that make the next fetch conditional.

    Only successful runs update the validators, so a failed fetch or parse leaves the last
    good ETag/Last-Modified in place and the next run fetches the feed in full.
    """

    __tablename__ = "feed_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(String(100))
    last_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[str | None] = mapped_column(String(20))
    # What the last fetch that read the feed skipped, counted by reason ("no link ×2").
    last_skips: Mapped[str | None] = mapped_column(Text)
    # Why the last fetch failed; cleared by the next good one.
    last_error: Mapped[str | None] = mapped_column(String(500))
    # The scheduler fetches the source again this many minutes after the last fetch.
    poll_minutes: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FeedbackKind(enum.StrEnum):
    HARD_BOUNCE = "hard_bounce"
    SOFT_BOUNCE = "soft_bounce"
    COMPLAINT = "complaint"


class FeedbackEvent(Base):
    """One bounce or complaint about one delivery, as a DSN, an ARF report or a webhook said.

    `report_key` identifies the report itself (its Message-ID, or the provider's event id),
    so processing the same report twice finds it here and changes nothing more. Soft
    bounces are counted from these rows; they go with the reader when the reader is erased.
    """

    __tablename__ = "feedback_events"
    __table_args__ = (Index("ix_feedback_events_subscriber_kind", "subscriber_id", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_key: Mapped[str] = mapped_column(String(100), unique=True)
    # No foreign key: a week of the ledger is dropped whole (migration 0019); a trigger on
    # `deliveries` removes these rows when theirs are deleted, retention when dropped.
    delivery_id: Mapped[int] = mapped_column(index=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscribers.id", ondelete="CASCADE"))
    kind: Mapped[FeedbackKind] = mapped_column(string_enum(FeedbackKind))
    source: Mapped[str] = mapped_column(String(20))
    status_code: Mapped[str | None] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(Base):
    """A publisher CMS's credential for /api/v1. Only a hash of the token is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    can_import_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    # What the token may do ("articles", "subscribers", "editions", "alerts"); None: all.
    scopes: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Click(Base):
    """A reader followed a tracked link: which delivery, which article, at which position."""

    __tablename__ = "clicks"

    id: Mapped[int] = mapped_column(primary_key=True)
    # No foreign key: a week of the ledger is dropped whole (migration 0019); a trigger on
    # `deliveries` removes these rows when theirs are deleted, retention when dropped.
    delivery_id: Mapped[int] = mapped_column(index=True)
    issue_id: Mapped[int | None] = mapped_column(
        ForeignKey("issues.id", ondelete="CASCADE"), index=True
    )
    article_id: Mapped[int | None] = mapped_column(ForeignKey("articles.id", ondelete="SET NULL"))
    position: Mapped[int] = mapped_column(SmallInteger)
    clicked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Role(enum.StrEnum):
    ADMIN = "admin"
    EDITOR = "editor"
    OPERATOR = "operator"


class StaffUser(Base):
    """An editor, operator or admin who logs in to the desk or the console."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(string_enum(Role))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Raised on a password change or deactivation: every older session cookie stops working.
    session_version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    """Append-only: who (a staff user, an API token, the command line) did what, when."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(300))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str | None] = mapped_column(String(300))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
