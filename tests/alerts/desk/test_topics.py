"""The topic catalogue on the desk, on both databases: counts, renaming, public or hidden,
merging; and that a topic first seen in an import or an API article is not public, while
one of the publisher's feeds is."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.desk.topics import find_topic, merge_topics, rename_topic, set_public, topic_rows
from alerts.errors import BadInput, NotFound
from alerts.feeds.ingest import ingest_source
from alerts.models import Article, AuditEvent, Cadence, Edition
from subscribers.csv_io import import_csv
from subscribers.models import Subscriber, SubscriberStatus, Topic
from tests.support.builders import HASH_KEY, articles, reader

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
EDITOR = "user:editor@newsroom.example.com"


def test_topics_first_seen_in_an_import_or_an_article_are_hidden(session: Session) -> None:
    import_csv(session, io.StringIO("email,topics\nada@example.com,no-such-topic\n"),
               confirmed=True, hash_key=HASH_KEY)  # fmt: skip
    articles(session, NOW, ("floods", ("Weather",), NOW - NOW))
    session.commit()
    shown = {topic.slug: topic.public for topic in session.scalars(select(Topic))}
    assert shown == {"no-such-topic": False, "weather": False}


def test_topics_of_the_publishers_feeds_are_offered_at_once(
    session: Session, tmp_path: Path
) -> None:
    """A feed's categories are the site's own sections: a fresh install's sign-up form
    offers them without an editor's visit (an existing hidden topic stays hidden)."""
    articles(session, NOW, ("floods", ("Weather",), NOW - NOW))
    feed = tmp_path / "feed.xml"
    feed.write_text(
        "<rss version='2.0'><channel><title>The Example Post</title>"
        "<link>https://news.example.com/</link><description>News</description>"
        "<item><title>Council votes on the new bridge</title>"
        "<link>https://news.example.com/bridge</link><category>Local</category>"
        "<category>Weather</category></item></channel></rss>",
        encoding="utf-8",
    )
    ingest_source(session, str(feed), now=NOW)
    session.commit()
    shown = {topic.slug: topic.public for topic in session.scalars(select(Topic))}
    assert shown == {"local": True, "weather": False}


def test_counts_rename_and_visibility_are_audited(session: Session) -> None:
    reader(session, "ada@example.com", topics=("Climate",))
    bo = reader(session, "bo@example.com", topics=("Climate", "Business"))
    bo.status = SubscriberStatus.UNSUBSCRIBED
    session.commit()
    rows = {row.slug: row for row in topic_rows(session)}
    assert (rows["climate"].active_followers, rows["climate"].followers) == (1, 2)
    assert (rows["business"].active_followers, rows["business"].followers) == (0, 1)

    climate = find_topic(session, "climate")
    for bad in ("   ", "x" * 201, "Line\nbreak\u202e"):
        with pytest.raises(BadInput):
            rename_topic(session, climate, bad, actor=EDITOR, now=NOW)
    rename_topic(session, climate, "  Climate   crisis ", actor=EDITOR, now=NOW)
    assert (climate.slug, climate.name) == ("climate", "Climate crisis")
    assert set_public(session, climate, True, actor=EDITOR, now=NOW) is True
    assert set_public(session, climate, True, actor=EDITOR, now=NOW) is False
    session.commit()
    audit = [(e.action, e.target, e.details) for e in session.scalars(select(AuditEvent))]
    assert audit == [
        ("topic.rename", "topic/climate", {"from": "Climate", "to": "Climate crisis"}),
        ("topic.publish", "topic/climate", {}),
    ]
    with pytest.raises(NotFound):
        find_topic(session, "nothing")


def test_merging_keeps_every_follower_article_and_edition_once(session: Session) -> None:
    ada = reader(session, "ada@example.com", topics=("Elections",))
    bo = reader(session, "bo@example.com", topics=("Elections", "Election 2026"))
    cy = reader(session, "cy@example.com", topics=("Election 2026",))
    articles(session, NOW, ("polls", ("Election 2026",), NOW - NOW))
    source, into = find_topic(session, "election-2026"), find_topic(session, "elections")
    edition = Edition(slug="vote", name="Vote", cadence=Cadence.DAILY, topics=[source])
    session.add(edition)
    session.commit()
    ids = ada.id, bo.id, cy.id

    with pytest.raises(BadInput):
        merge_topics(session, into, into, actor=EDITOR, now=NOW)
    assert merge_topics(session, source, into, actor=EDITOR, now=NOW) == 1
    session.commit()
    assert session.scalar(select(Topic).where(Topic.slug == "election-2026")) is None
    for reader_id in ids:
        subscriber = session.get(Subscriber, reader_id)
        assert subscriber is not None and subscriber.topic_slugs == ["elections"]
    story = session.scalar(select(Article))
    assert story is not None and [topic.slug for topic in story.topics] == ["elections"]
    assert [topic.slug for topic in session.get_one(Edition, edition.id).topics] == ["elections"]
    [event] = session.scalars(select(AuditEvent))
    assert (event.action, event.details) == (
        "topic.merge",
        {"merged": "election-2026", "readers": 1},
    )
