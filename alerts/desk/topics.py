"""The topic catalogue as the desk keeps it: follower counts, renaming, public or hidden on
the sign-up form, and merging two topics into one.

A topic is created wherever a name is first seen. One first seen in an imported reader's
row or an API article's tags starts hidden: only an editor makes it a choice on the public
form, so a typo in a file never becomes one. One first seen in the publisher's own feeds (a
section of the site) is offered at once, so a fresh install's form is not empty. A topic's
slug is its identity in links, the API and CSV files, so renaming changes only the name
readers see. Merging moves the
followers, articles and editions of one topic to the other, then deletes it. Every change
is audited; the caller commits.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Table, delete, func, insert, literal, select
from sqlalchemy.orm import Session

from alerts.audit import record
from alerts.errors import BadInput, NotFound
from alerts.models import article_topics, edition_topics
from subscribers.models import Subscriber, SubscriberStatus, Topic, subscriber_topics

MAX_NAME_LENGTH = 200


@dataclass(frozen=True, slots=True)
class TopicRow:
    """A topic with its active followers (readers who get mail) and all its followers."""

    slug: str
    name: str
    public: bool
    active_followers: int
    followers: int


def topic_rows(session: Session) -> list[TopicRow]:
    """Every topic, by name, with its follower counts."""
    counts = (
        select(
            subscriber_topics.c.topic_id,
            func.count().label("followers"),
            func.count()
            .filter(Subscriber.status == SubscriberStatus.ACTIVE)
            .label("active_followers"),
        )
        .join(Subscriber, Subscriber.id == subscriber_topics.c.subscriber_id)
        .group_by(subscriber_topics.c.topic_id)
        .subquery()
    )
    query = (
        select(
            Topic.slug,
            Topic.name,
            Topic.public,
            func.coalesce(counts.c.active_followers, 0),
            func.coalesce(counts.c.followers, 0),
        )
        .outerjoin(counts, counts.c.topic_id == Topic.id)
        .order_by(Topic.name, Topic.slug)
    )
    return [
        TopicRow(slug, name, bool(public), int(active), int(followers))
        for slug, name, public, active, followers in session.execute(query)
    ]


def find_topic(session: Session, slug: str) -> Topic:
    """Raises NotFound when no topic has this slug."""
    topic = session.scalar(select(Topic).where(Topic.slug == slug))
    if topic is None:
        raise NotFound(f"there is no topic {slug!r}")
    return topic


def rename_topic(session: Session, topic: Topic, name: str, *, actor: str, now: datetime) -> None:
    """Give the topic a new name; its slug stays. Raises BadInput for an empty name, one too
    long, or one with a line break or control character."""
    cleaned = " ".join(name.split())
    if not cleaned:
        raise BadInput("give the topic a name")
    if len(cleaned) > MAX_NAME_LENGTH:
        raise BadInput(f"a topic's name has at most {MAX_NAME_LENGTH} characters")
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in cleaned):
        raise BadInput("a topic's name cannot hold control characters")
    if cleaned == topic.name:
        return
    record(session, actor=actor, action="topic.rename", target=f"topic/{topic.slug}",
           details={"from": topic.name, "to": cleaned}, now=now)  # fmt: skip
    topic.name = cleaned


def set_public(session: Session, topic: Topic, public: bool, *, actor: str, now: datetime) -> bool:
    """Offer the topic on the sign-up form, or hide it; True if that changed anything.
    Readers who follow a hidden topic keep it."""
    if topic.public is public:
        return False
    topic.public = public
    record(session, actor=actor, action="topic.publish" if public else "topic.hide",
           target=f"topic/{topic.slug}", now=now)  # fmt: skip
    return True


def merge_topics(session: Session, source: Topic, into: Topic, *, actor: str, now: datetime) -> int:
    """Move `source`'s followers, articles and editions to `into`, then delete `source`;
    return how many readers were moved (those already following `into` keep it once).
    Raises BadInput for a topic merged into itself."""
    if source.id == into.id:
        raise BadInput("choose another topic to merge into")
    moved = _move(session, subscriber_topics, "subscriber_id", source.id, into.id)
    _move(session, article_topics, "article_id", source.id, into.id)
    _move(session, edition_topics, "edition_id", source.id, into.id)
    record(session, actor=actor, action="topic.merge", target=f"topic/{into.slug}",
           details={"merged": source.slug, "readers": moved}, now=now)  # fmt: skip
    session.delete(source)
    session.flush()
    # Loaded readers, articles and editions may still list the deleted topic.
    session.expire_all()
    return moved


def _move(session: Session, table: Table, owner: str, source: int, into: int) -> int:
    """Link `into` to every owner of `source` that lacks it; drop the links to `source`."""
    owners = table.c[owner]
    already = select(owners).where(table.c.topic_id == into)
    missing = select(owners, literal(into)).where(
        table.c.topic_id == source, owners.not_in(already)
    )
    linked = session.execute(
        insert(table).from_select([owner, "topic_id"], missing).returning(owners)
    ).all()
    session.execute(delete(table).where(table.c.topic_id == source))
    return len(linked)


__all__ = [
    "MAX_NAME_LENGTH",
    "TopicRow",
    "find_topic",
    "merge_topics",
    "rename_topic",
    "set_public",
    "topic_rows",
]
