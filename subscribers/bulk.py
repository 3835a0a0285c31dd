"""Adding many new readers at once: the write half of an import, a chunk per call.

One call writes a chunk of already checked readers with a handful of statements, whatever
its size: which addresses are known, which are suppressed, the topics, then the readers,
their topics and their consent events. PostgreSQL takes the chunk with `COPY` into a
temporary table (the driver writes it in C; arrays bound as parameters were dumped element
by element in Python, a third of the time), then one statement inserts the readers with
`ON CONFLICT (email) DO NOTHING` and, from what that returns, their consent events and
topics: no row comes back to Python. SQLite takes multi-row INSERTs with the same conflict
clause. An address that another writer adds at the same moment is skipped, never doubled.

The chunk is written inside a SAVEPOINT. Should the database still refuse something that
the checks let through, the chunk is rolled back and written again one reader at a time,
each in its own SAVEPOINT, so the refused reader is reported alone and the others are kept.
Nothing is committed here: the caller commits, a chunk at a time if it wants a crash to lose
at most the chunk in flight (a run again then skips whoever is already stored).

`write_chunks` overlaps reading and writing on PostgreSQL: while the server works on one
chunk, the next is read and checked (a thread writes, the caller's thread reads; the
session is only ever used by the writer). SQLite works in the caller's process, so there is
nothing to overlap: its chunks are written in turn.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, String, any_, bindparam, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from subscribers.addresses import email_hash
from subscribers.database import utcnow
from subscribers.keywords import TypedKeyword, add_reader_keywords
from subscribers.models import (
    ConsentEvent,
    ConsentKind,
    Frequency,
    Subscriber,
    SubscriberStatus,
    Suppression,
    subscriber_topics,
)
from subscribers.services import Suppressed
from subscribers.tokens import new_link_key
from subscribers.topics import ensure_topics, slugify

# How many readers a caller should hand over per call, and commit at a time: PostgreSQL
# takes a chunk with one COPY and one statement; SQLite's INSERTs bind every value.
POSTGRES_CHUNK = 5000
SQLITE_CHUNK = 500

# The chunk as COPY writes it; emptied before each chunk, dropped at commit.
_STAGED = """import_readers (
    line integer, email text, name text, status text, frequency text, timezone text,
    send_hour smallint, confirmed boolean, link_key text, kind text, source text,
    details json, topic_ids integer[], language text
) ON COMMIT DROP"""
# Readers in file order, skipping addresses taken since the chunk was checked; then the
# consent event and the topics of each reader that went in, from the same rows.
_FROM_STAGED = """
WITH new AS (
    INSERT INTO subscribers (email, name, status, frequency, timezone, send_hour, created_at,
                             confirmed_at, status_changed_at, breaking_alerts, link_key,
                             language)
    SELECT email, name, status, frequency, timezone, send_hour, :moment,
           CASE WHEN confirmed THEN CAST(:moment AS timestamptz) END, :moment, false, link_key,
           language
    FROM import_readers ORDER BY line
    ON CONFLICT (email) DO NOTHING
    RETURNING id, email
), consents AS (
    INSERT INTO consent_events (subscriber_id, kind, source, details, occurred_at)
    SELECT new.id, staged.kind, staged.source, staged.details, :recorded
    FROM new JOIN import_readers AS staged USING (email) ORDER BY new.id
), topics AS (
    INSERT INTO subscriber_topics (subscriber_id, topic_id)
    SELECT new.id, topic.id
    FROM new JOIN import_readers AS staged USING (email),
         unnest(staged.topic_ids) AS topic (id)
)
SELECT count(*) FROM new
"""
Chunk = TypeVar("Chunk")
# Topic names whose slugs are remembered: the names of a catalogue, not one per reader.
_NAMES_KEPT = 10_000


@dataclass(frozen=True, slots=True)
class NewReader:
    """A checked row to add: what add_subscriber takes, already validated and normalised.

    `line` names the row in what the caller reports; `source` and `details` go into the
    consent event, whose kind is "import" for a confirmed reader and "subscribe" otherwise.
    """

    line: int
    email: str
    name: str | None
    topics: Sequence[str]
    frequency: Frequency
    timezone: str
    send_hour: int
    confirmed: bool
    source: str
    details: dict[str, object] = field(default_factory=dict)
    keywords: Sequence[TypedKeyword] = ()
    language: str | None = None  # subscribers.languages; None: the site's default


@dataclass
class ChunkOutcome:
    """What became of a chunk: created and skipped counts, and (line, reason) refusals."""

    created: int = 0
    skipped: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)


class TopicIds:
    """Topic ids by slug, remembered across the chunks of one import (a catalogue is small)."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._slugs: dict[str, str] = {}

    def prepare(self, session: Session, names: set[str]) -> None:
        """Know the ids of these names' topics, creating the topics that do not exist yet."""
        missing = [name for name in sorted(names) if self._slug(name) not in self._ids]
        missing = [name for name in missing if self._slug(name)]
        if missing:
            for topic in ensure_topics(session, missing):
                self._ids[topic.slug] = topic.id

    def ids(self, names: Sequence[str]) -> list[int]:
        """The ids of prepared names' topics, each once; names with an empty slug have none."""
        slugs = dict.fromkeys(self._slug(name) for name in names)
        return [self._ids[slug] for slug in slugs if slug]

    def forget(self) -> None:
        """Drop what a rolled-back SAVEPOINT may have created."""
        self._ids.clear()

    def _slug(self, name: str) -> str:
        slug = self._slugs.get(name)
        if slug is None:
            slug = slugify(name)
            if len(self._slugs) < _NAMES_KEPT:
                self._slugs[name] = slug
        return slug


def chunk_size(session: Session) -> int:
    return POSTGRES_CHUNK if _is_postgres(session) else SQLITE_CHUNK


def write_chunks(session: Session, chunks: Iterator[Chunk], write: Callable[[Chunk], None]) -> None:
    """Call `write` on each chunk in turn; on PostgreSQL, read the next chunk meanwhile.

    An error in `write` stops the reading and is raised here; an error while reading (a file
    that breaks midway) is raised once the chunks read before it are written.
    """
    if not _is_postgres(session):
        for chunk in chunks:
            write(chunk)
        return
    # One chunk waits while one is written: memory stays at two chunks whatever the file.
    handoff: queue.Queue[tuple[Chunk] | None] = queue.Queue(maxsize=1)
    failures: list[BaseException] = []

    def writer() -> None:
        while (item := handoff.get()) is not None:
            if not failures:  # after a failure, only drain, so the reader never blocks
                try:
                    write(item[0])
                except BaseException as error:  # raised again in the caller's thread
                    failures.append(error)

    thread = threading.Thread(target=writer, name="import-writer", daemon=True)
    thread.start()
    try:
        for chunk in chunks:
            if failures:
                break
            handoff.put((chunk,))
    finally:
        handoff.put(None)
        thread.join()
    if failures:
        raise failures[0]


def add_readers(
    session: Session,
    readers: Sequence[NewReader],
    *,
    hash_key: str,
    topic_ids: TopicIds,
    now: datetime | None = None,
) -> ChunkOutcome:
    """Add the readers of one chunk that are neither known nor suppressed.

    A known address, or a repeat of an address earlier in the chunk, is skipped, never
    overwritten; a suppressed address is refused with add_subscriber's reason. Anything the
    database refuses is refused alone (see the module's docstring).
    """
    outcome = ChunkOutcome()
    emails = {reader.email for reader in readers}
    known = set(
        session.scalars(select(Subscriber.email).where(_among(session, Subscriber.email, emails)))
    )
    hashes = {email: email_hash(email, hash_key) for email in emails}
    suppressed = set(
        session.scalars(
            select(Suppression.email_hash).where(
                _among(session, Suppression.email_hash, set(hashes.values()))
            )
        )
    )
    fresh: dict[str, NewReader] = {}
    for reader in readers:
        if reader.email in known or reader.email in fresh:
            outcome.skipped += 1
        elif hashes[reader.email] in suppressed:
            outcome.refused.append((reader.line, str(Suppressed())))
        else:
            fresh[reader.email] = reader
    if not fresh:
        return outcome
    moment = now or utcnow()
    _begin_on_sqlite(session)
    try:
        with session.begin_nested():
            created = _write(session, list(fresh.values()), topic_ids, moment)
        refused = 0
    except (IntegrityError, DataError):
        topic_ids.forget()
        created, refused = 0, 0
        for reader in fresh.values():
            try:
                with session.begin_nested():
                    created += _write(session, [reader], topic_ids, moment)
            except (IntegrityError, DataError) as error:
                topic_ids.forget()
                refused += 1
                reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
                outcome.refused.append((reader.line, f"the database refused this row: {reason}"))
    outcome.created += created
    # Whoever was neither written nor refused was added by another writer meanwhile.
    outcome.skipped += len(fresh) - created - refused
    return outcome


def _write(
    session: Session, readers: list[NewReader], topic_ids: TopicIds, moment: datetime
) -> int:
    """Insert the readers, their topics and consent events; return how many went in."""
    topic_ids.prepare(session, {name for reader in readers for name in reader.topics})
    if _is_postgres(session):
        created = _write_copied(session, readers, topic_ids, moment)
    else:
        created = _write_values(session, readers, topic_ids, moment)
    _write_keywords(session, readers, moment)
    return created


def _write_keywords(session: Session, readers: list[NewReader], moment: datetime) -> None:
    """The keywords of the readers this chunk added (most files have none: no query then).
    A reader added by someone else meanwhile keeps their own list."""
    wanted = {reader.email: reader.keywords for reader in readers if reader.keywords}
    if not wanted:
        return
    added = session.execute(
        select(Subscriber.id, Subscriber.email).where(
            _among(session, Subscriber.email, set(wanted)), Subscriber.created_at == moment
        )
    )
    add_reader_keywords(session, {reader_id: wanted[email] for reader_id, email in added})


def _write_copied(
    session: Session, readers: list[NewReader], topic_ids: TopicIds, moment: datetime
) -> int:
    """COPY the chunk into a temporary table; one statement takes it from there."""
    session.execute(text(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGED}"))
    session.execute(text("TRUNCATE import_readers"))
    driver = session.connection().connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy("COPY import_readers FROM STDIN") as copy:
        for reader in readers:
            copy.write_row(
                (
                    reader.line,
                    reader.email,
                    reader.name,
                    _status(reader).value,
                    reader.frequency.value,
                    reader.timezone,
                    reader.send_hour,
                    reader.confirmed,
                    new_link_key(),
                    _consent_kind(reader).value,
                    reader.source,
                    json.dumps(reader.details),
                    "{" + ",".join(map(str, topic_ids.ids(reader.topics))) + "}",
                    reader.language,
                )
            )
    inserted = session.scalar(text(_FROM_STAGED), {"moment": moment, "recorded": utcnow()})
    return int(inserted or 0)


def _write_values(
    session: Session, readers: list[NewReader], topic_ids: TopicIds, moment: datetime
) -> int:
    """Multi-row INSERTs: the readers (returning their ids), then consents and topics."""
    statement = (
        sqlite.insert(Subscriber)
        .on_conflict_do_nothing(index_elements=["email"])
        .returning(Subscriber.id, Subscriber.email)
    )
    rows = [
        {
            "email": reader.email,
            "name": reader.name,
            "status": _status(reader),
            "frequency": reader.frequency,
            "timezone": reader.timezone,
            "send_hour": reader.send_hour,
            "created_at": moment,
            "confirmed_at": moment if reader.confirmed else None,
            "status_changed_at": moment,
            "breaking_alerts": False,
            "link_key": new_link_key(),
            "language": reader.language,
        }
        for reader in readers
    ]
    inserted = {email: row_id for row_id, email in session.execute(statement, rows)}
    recorded = utcnow()
    consents: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    for reader in readers:
        subscriber_id = inserted.get(reader.email)
        if subscriber_id is None:
            continue  # added by someone else since the chunk was checked
        consents.append(
            {
                "subscriber_id": subscriber_id,
                "kind": _consent_kind(reader),
                "source": reader.source,
                "details": dict(reader.details),
                "occurred_at": recorded,
            }
        )
        links.extend(
            {"subscriber_id": subscriber_id, "topic_id": topic_id}
            for topic_id in topic_ids.ids(reader.topics)
        )
    if consents:
        session.execute(sqlite.insert(ConsentEvent), consents)
    if links:
        session.execute(sqlite.insert(subscriber_topics), links)
    return len(inserted)


def _status(reader: NewReader) -> SubscriberStatus:
    return SubscriberStatus.ACTIVE if reader.confirmed else SubscriberStatus.PENDING


def _consent_kind(reader: NewReader) -> ConsentKind:
    # Consent given elsewhere (a confirmed import) vs. asked for now (to be confirmed).
    return ConsentKind.IMPORT if reader.confirmed else ConsentKind.SUBSCRIBE


def _among(
    session: Session, column: InstrumentedAttribute[str], values: set[str]
) -> ColumnElement[bool]:
    """`column IN values`; on PostgreSQL as one array parameter, not one per value."""
    if _is_postgres(session):
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(String)))
    return column.in_(values)


def _begin_on_sqlite(session: Session) -> None:
    """Python's sqlite3 begins a transaction only before a write, and a SAVEPOINT taken
    outside one is a transaction of its own that RELEASE commits: the chunk would be
    committed behind the caller's back. Begin first, so the SAVEPOINT nests in it."""
    if _is_postgres(session):
        return
    driver = session.connection().connection.driver_connection
    if driver is not None and not driver.in_transaction:
        driver.execute("BEGIN")


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


__all__ = ["ChunkOutcome", "NewReader", "TopicIds", "add_readers", "chunk_size", "write_chunks"]
