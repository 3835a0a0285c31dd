"""Adding many new readers at once: the write half of an import, a chunk per call.

A `ChunkWriter` takes chunks of already checked readers in two steps. `prepare` needs no
database and runs in the thread that reads the file: the keyed hashes of the addresses, the
readers' link keys (one read of the random source a chunk), their topics' slugs and, on
PostgreSQL, each reader's line of `COPY` text (unless the last chunk was mostly readers
already stored, as when a file runs again after a crash: `write` then makes the lines of
the new readers alone, rather than the reading thread making lines for nobody). `write`
then spends a handful of statements on the chunk, whatever its size: one look-up of the
addresses that are known or suppressed, the topics that do not exist yet, then the readers,
their topics and their consent events. PostgreSQL takes the chunk with `COPY` into a
temporary table, then one statement inserts the readers with `ON CONFLICT (email) DO
NOTHING` and, from what that returns, their consent events and topics: no row comes back to
Python. SQLite takes multi-row INSERTs with the same conflict clause. An address that
another writer adds at the same moment is skipped, never doubled.

The chunk is written inside a SAVEPOINT. Should the database still refuse something that
the checks let through, the chunk is rolled back and written again one reader at a time,
each in its own SAVEPOINT, so the refused reader is reported alone and the others are kept.
Nothing is committed here: the caller commits, a chunk at a time if it wants a crash to lose
at most the chunk in flight (a run again then skips whoever is already stored).

`write_chunks` overlaps reading and writing on PostgreSQL: while the server works on one
chunk, the next is read, checked and prepared (a thread writes, the caller's thread reads;
the session is only ever used by the writer). SQLite works in the caller's process, so there
is nothing to overlap: its chunks are written in turn.

`write_in_parallel` goes one step further on PostgreSQL: two writer connections, each
committing its own chunks, so that the server's work on a chunk (most of an import's time)
runs on two cores. Chunks then commit out of order, and three things keep an import what it
was with one writer. Topics are created, and committed, in the reading thread before the
chunk that names them is handed over, so a writer never waits on a topic another has not
committed (nor sees no topic at all). An address repeated in a chunk still in flight is
skipped there, as a repeat of an earlier line, so two open transactions never insert the
same address: no lock waits between writers and no deadlock, and the earlier line wins.
And resuming is as before: whatever a crash leaves uncommitted (at most one chunk a
writer) is missing as a whole, and a run again skips everyone already stored.
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

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
from subscribers.tokens import new_link_keys
from subscribers.topics import ensure_topics, slugify

# How many readers a caller should hand over per call, and commit at a time: PostgreSQL
# takes a chunk with one COPY and one statement, and each chunk costs a few round trips and
# a commit besides; SQLite's INSERTs bind every value.
POSTGRES_CHUNK = 10_000
SQLITE_CHUNK = 500
# Writer connections of `write_in_parallel`: the server's work runs on this many cores.
PARALLEL_WRITERS = 2

# The chunk as COPY writes it; emptied before each chunk, dropped at commit.
_STAGED = """import_readers (
    line integer, email text, name text, status text, frequency text, timezone text,
    send_hour smallint, confirmed boolean, link_key text, kind text, source text,
    details json, topic_slugs text[], language text
) ON COMMIT DROP"""
# Which of the chunk's addresses are known, and which are suppressed, in one round trip; the
# arrays go as text literals, which the driver sends as they are (a list is dumped element
# by element in Python).
_LOOK_UP = """
SELECT false, email FROM subscribers WHERE email = ANY(CAST(:emails AS varchar[]))
UNION ALL
SELECT true, email_hash FROM suppressions WHERE email_hash = ANY(CAST(:hashes AS varchar[]))
"""
# Readers in file order, skipping addresses taken since the chunk was checked; then the
# consent event and the topics of each reader that went in, from the same rows.
_FROM_STAGED = """
WITH new AS (
    INSERT INTO subscribers (email, name, status, frequency, timezone, send_hour, created_at,
                             confirmed_at, status_changed_at, paused_until, breaking_alerts,
                             link_key, language)
    SELECT email, name, status, frequency, timezone, send_hour, :moment,
           CASE WHEN confirmed THEN CAST(:moment AS timestamptz) END, :moment,
           CAST(:paused_until AS timestamptz), false, link_key, language
    FROM import_readers ORDER BY line
    ON CONFLICT (email) DO NOTHING
    RETURNING id, email
), consents AS (
    INSERT INTO consent_events (subscriber_id, kind, source, details, occurred_at)
    SELECT new.id, staged.kind, staged.source, staged.details, :recorded
    FROM new JOIN import_readers AS staged USING (email) ORDER BY new.id
), topics AS (
    INSERT INTO subscriber_topics (subscriber_id, topic_id)
    SELECT new.id, topics.id
    FROM new JOIN import_readers AS staged USING (email)
         CROSS JOIN unnest(staged.topic_slugs) AS wanted (slug)
         JOIN topics ON topics.slug = wanted.slug
)
SELECT count(*) FROM new
"""
# What COPY's text format reads as an escape, a column or a row end.
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_NULL = "\\N"
# The values a new reader's row takes, by whether the import vouches for their consent.
_ACTIVE, _PENDING = SubscriberStatus.ACTIVE.value, SubscriberStatus.PENDING.value
_IMPORT, _SUBSCRIBE = ConsentKind.IMPORT.value, ConsentKind.SUBSCRIBE.value
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
    keyword_alerts: bool = False  # keyword alerts as it happens, besides the digest
    language: str | None = None  # subscribers.languages; None: the site's default


@dataclass(frozen=True, slots=True)
class PreparedChunk:
    """A chunk made ready by `ChunkWriter.prepare`; the lists follow `readers`."""

    readers: list[NewReader]
    hashes: list[str]
    link_keys: list[str]
    slugs: list[list[str]]
    topic_names: set[str]
    copy_lines: list[str]  # empty when left to the writer

    def row(self, position: int) -> tuple[NewReader, str, list[str]]:
        return self.readers[position], self.link_keys[position], self.slugs[position]


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

    def prepare(self, session: Session, names: set[str]) -> bool:
        """Know the ids of these names' topics, creating the topics that do not exist yet;
        say whether the database was asked."""
        missing = [name for name in sorted(names) if self.slug(name) not in self._ids]
        missing = [name for name in missing if self.slug(name)]
        if missing:
            for topic in ensure_topics(session, missing):
                self._ids[topic.slug] = topic.id
        return bool(missing)

    def slugs(self, names: Sequence[str]) -> list[str]:
        """The slugs of these names, each once; a name with an empty slug has none."""
        return [slug for slug in dict.fromkeys(map(self.slug, names)) if slug]

    def ids(self, slugs: Sequence[str]) -> list[int]:
        """The ids of prepared topics, by slug."""
        return [self._ids[slug] for slug in slugs]

    def forget(self) -> None:
        """Drop what a rolled-back SAVEPOINT may have created."""
        self._ids.clear()

    def slug(self, name: str) -> str:
        slug = self._slugs.get(name)
        if slug is None:
            slug = slugify(name)
            if len(self._slugs) < _NAMES_KEPT:
                self._slugs[name] = slug
        return slug


class ChunkWriter:
    """Writes the chunks of one import into `session`: `prepare` each chunk (in any thread),
    then `write` it (in the session's thread). Readers created carry `now` as their sign-up
    time and `paused_until` as their pause (None: due from today)."""

    def __init__(
        self,
        session: Session,
        *,
        hash_key: str,
        now: datetime | None = None,
        paused_until: datetime | None = None,
    ) -> None:
        self.session = session
        self.postgres = is_postgres(session)
        self.size = POSTGRES_CHUNK if self.postgres else SQLITE_CHUNK
        self._hash_key = hash_key
        self._now = now
        self._paused_until = paused_until
        self._topic_ids = TopicIds()
        # Whether the last chunk written was mostly new readers. If not (a run again after a
        # crash, over readers already stored), `prepare` leaves the COPY lines to `write`,
        # which makes them for the new readers alone.
        self._mostly_new = True

    def prepare(self, readers: Sequence[NewReader]) -> PreparedChunk:
        """What a chunk needs that the database does not give: no query is made here."""
        readers = list(readers)
        slugs = [self._topic_ids.slugs(reader.topics) for reader in readers]
        keys = new_link_keys(len(readers))
        chunk = PreparedChunk(
            readers=readers,
            hashes=[email_hash(reader.email, self._hash_key) for reader in readers],
            link_keys=keys,
            slugs=slugs,
            topic_names={name for reader in readers for name in reader.topics},
            copy_lines=[],
        )
        if self.postgres and self._mostly_new:
            chunk.copy_lines.extend(map(_copy_line, readers, keys, slugs))
        return chunk

    def create_topics(self, chunk: PreparedChunk) -> bool:
        """Create the topics the chunk names that do not exist yet, in this writer's session
        (for writers on other connections, once it commits); say whether a query was made.
        A topic named only by readers who turn out to be known is created too (hidden, as
        every topic an import names)."""
        return self._topic_ids.prepare(self.session, chunk.topic_names)

    def write(self, chunk: PreparedChunk) -> ChunkOutcome:
        """Add the readers of one chunk that are neither known nor suppressed.

        A known address, or a repeat of an address earlier in the chunk, is skipped, never
        overwritten; a suppressed address is refused with add_subscriber's reason. Anything
        the database refuses is refused alone (see the module's docstring).
        """
        outcome = ChunkOutcome()
        if not chunk.readers:
            return outcome
        known, suppressed = self._look_up(chunk)
        fresh: dict[str, int] = {}  # address: position in the chunk
        for position, reader in enumerate(chunk.readers):
            if reader.email in known or reader.email in fresh:
                outcome.skipped += 1
            elif chunk.hashes[position] in suppressed:
                outcome.refused.append((reader.line, str(Suppressed())))
            else:
                fresh[reader.email] = position
        self._mostly_new = len(fresh) * 2 >= len(chunk.readers)
        if not fresh:
            return outcome
        moment = self._now or utcnow()
        session = self.session
        _begin_on_sqlite(session)
        try:
            with session.begin_nested():
                created = self._write(chunk, list(fresh.values()), moment)
            refused = 0
        except (IntegrityError, DataError):
            self._topic_ids.forget()
            created, refused = 0, 0
            for position in fresh.values():
                try:
                    with session.begin_nested():
                        created += self._write(chunk, [position], moment)
                except (IntegrityError, DataError) as error:
                    self._topic_ids.forget()
                    refused += 1
                    reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
                    line = chunk.readers[position].line
                    outcome.refused.append((line, f"the database refused this row: {reason}"))
        outcome.created += created
        # Whoever was neither written nor refused was added by another writer meanwhile.
        outcome.skipped += len(fresh) - created - refused
        return outcome

    def _look_up(self, chunk: PreparedChunk) -> tuple[set[str], set[str]]:
        """The chunk's addresses already stored, and its hashes on the suppression list."""
        session = self.session
        emails = set(reader.email for reader in chunk.readers)
        if self.postgres:
            found = session.execute(
                text(_LOOK_UP),
                {"emails": _array_literal(emails), "hashes": _array_literal(set(chunk.hashes))},
            )
            known: set[str] = set()
            suppressed: set[str] = set()
            for is_hash, value in found:
                (suppressed if is_hash else known).add(value)
            return known, suppressed
        known = set(session.scalars(select(Subscriber.email).where(Subscriber.email.in_(emails))))
        hashes = set(chunk.hashes)
        suppressed = set(
            session.scalars(
                select(Suppression.email_hash).where(Suppression.email_hash.in_(hashes))
            )
        )
        return known, suppressed

    def _write(self, chunk: PreparedChunk, positions: list[int], moment: datetime) -> int:
        """Insert these readers of the chunk, their topics and consent events; return how
        many went in."""
        readers = [chunk.readers[position] for position in positions]
        self._topic_ids.prepare(self.session, {name for r in readers for name in r.topics})
        if self.postgres:
            created = self._write_copied(chunk, positions, moment)
        else:
            created = self._write_values(chunk, positions, moment)
        _write_keywords(self.session, readers, moment)
        _write_keyword_alerts(self.session, readers, moment)
        return created

    def _write_copied(self, chunk: PreparedChunk, positions: list[int], moment: datetime) -> int:
        """COPY the readers into a temporary table; one statement takes it from there."""
        session = self.session
        session.execute(text(f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGED}"))
        session.execute(text("TRUNCATE import_readers"))
        driver = session.connection().connection.driver_connection
        assert driver is not None
        with driver.cursor() as cursor, cursor.copy("COPY import_readers FROM STDIN") as copy:
            if chunk.copy_lines:
                copy.write("".join([chunk.copy_lines[position] for position in positions]))
            else:
                copy.write("".join([_copy_line(*chunk.row(position)) for position in positions]))
        inserted = session.scalar(
            text(_FROM_STAGED),
            {"moment": moment, "paused_until": self._paused_until, "recorded": utcnow()},
        )
        return int(inserted or 0)

    def _write_values(self, chunk: PreparedChunk, positions: list[int], moment: datetime) -> int:
        """Multi-row INSERTs: the readers (returning their ids), then consents and topics."""
        session = self.session
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
                "paused_until": self._paused_until,
                "breaking_alerts": False,
                "link_key": chunk.link_keys[position],
                "language": reader.language,
            }
            for position in positions
            for reader in (chunk.readers[position],)
        ]
        inserted = {email: row_id for row_id, email in session.execute(statement, rows)}
        recorded = utcnow()
        consents: list[dict[str, Any]] = []
        links: list[dict[str, Any]] = []
        for position in positions:
            reader = chunk.readers[position]
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
                for topic_id in self._topic_ids.ids(chunk.slugs[position])
            )
        if consents:
            session.execute(sqlite.insert(ConsentEvent), consents)
        if links:
            session.execute(sqlite.insert(subscriber_topics), links)
        return len(inserted)


def write_chunks(session: Session, chunks: Iterator[Chunk], write: Callable[[Chunk], None]) -> None:
    """Call `write` on each chunk in turn; on PostgreSQL, read the next chunk meanwhile.

    An error in `write` stops the reading and is raised here; an error while reading (a file
    that breaks midway) is raised once the chunks read before it are written.
    """
    if not is_postgres(session):
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


def write_in_parallel(
    sessions: Callable[[], Session],
    batches: Iterator[tuple[int, list[NewReader]]],
    done: Callable[[int, ChunkOutcome], None],
    *,
    hash_key: str,
    now: datetime | None = None,
    paused_until: datetime | None = None,
    writers: int = PARALLEL_WRITERS,
) -> None:
    """Write each batch of readers with one of `writers` connections from `sessions`, each
    chunk committed by its writer: a whole job over several transactions (see the module's
    docstring). `done` is called after each commit, one call at a time, with the number the
    batch came with and the chunk's outcome (repeats of a chunk in flight counted as skipped).

    A batch is (a number passed back to `done`, its readers). An error in a writer stops the
    reading and is raised here; an error while reading is raised once the chunks read before
    it are committed. PostgreSQL only: SQLite takes one writer at a time.
    """
    topics = sessions()
    preparer = ChunkWriter(topics, hash_key=hash_key, now=now, paused_until=paused_until)
    lock = threading.Lock()
    in_flight: dict[int, set[str]] = {}  # chunk number: its addresses, until committed
    handoff: queue.Queue[tuple[int, int, int, PreparedChunk] | None] = queue.Queue(maxsize=1)
    failures: list[BaseException] = []

    def prepared() -> Iterator[tuple[int, int, int, PreparedChunk]]:
        for number, (extra, readers) in enumerate(batches):
            with lock:
                taken = list(in_flight.values())
                kept = [r for r in readers if not any(r.email in emails for emails in taken)]
                in_flight[number] = {reader.email for reader in kept}
            chunk = preparer.prepare(kept)
            if preparer.create_topics(chunk):
                topics.commit()  # before any writer needs them
            yield number, extra, len(readers) - len(kept), chunk

    def work() -> None:
        with sessions() as session:
            writer = ChunkWriter(session, hash_key=hash_key, now=now, paused_until=paused_until)
            while (item := handoff.get()) is not None:
                if failures:
                    continue  # only drain, so the reading thread never blocks
                number, extra, repeats, chunk = item
                try:
                    outcome = writer.write(chunk)
                    session.commit()
                    outcome.skipped += repeats
                    with lock:
                        del in_flight[number]
                        preparer._mostly_new = writer._mostly_new
                        done(extra, outcome)
                except BaseException as error:  # raised again in the caller's thread
                    failures.append(error)
                    with contextlib.suppress(Exception):  # the thread must go on draining
                        session.rollback()

    threads = [
        threading.Thread(target=work, name=f"import-writer-{n}", daemon=True)
        for n in range(writers)
    ]
    for thread in threads:
        thread.start()
    try:
        for item in prepared():
            if failures:
                break
            handoff.put(item)
    finally:
        for _ in threads:
            handoff.put(None)
        for thread in threads:
            thread.join()
        topics.close()
    if failures:
        raise failures[0]


def _write_keywords(session: Session, readers: list[NewReader], moment: datetime) -> None:
    """The keywords of the readers this chunk added (most files have none: no query then).
    A reader added by someone else meanwhile keeps their own list."""
    wanted = {reader.email: reader.keywords for reader in readers if reader.keywords}
    if not wanted:
        return
    added = session.execute(
        select(Subscriber.id, Subscriber.email).where(
            Subscriber.email.in_(set(wanted)), Subscriber.created_at == moment
        )
    )
    add_reader_keywords(session, {reader_id: wanted[email] for reader_id, email in added})


def _write_keyword_alerts(session: Session, readers: list[NewReader], moment: datetime) -> None:
    """Keyword alerts on, from now, for the readers this chunk added who asked (no query
    when none did). A reader added by someone else meanwhile keeps their own choice."""
    wanted = {reader.email for reader in readers if reader.keyword_alerts}
    if not wanted:
        return
    session.execute(
        update(Subscriber)
        .where(Subscriber.email.in_(wanted), Subscriber.created_at == moment)
        .values(keyword_alerts=True, keyword_alerted_through=moment)
        .execution_options(synchronize_session=False)
    )


def _status(reader: NewReader) -> SubscriberStatus:
    return SubscriberStatus.ACTIVE if reader.confirmed else SubscriberStatus.PENDING


def _consent_kind(reader: NewReader) -> ConsentKind:
    # Consent given elsewhere (a confirmed import) vs. asked for now (to be confirmed).
    return ConsentKind.IMPORT if reader.confirmed else ConsentKind.SUBSCRIBE


def _copy_line(reader: NewReader, link_key: str, slugs: list[str]) -> str:
    """The reader's row of the temporary table in COPY's text format. Slugs are letters,
    digits and hyphens, a link key base64 and a language a shipped one's tag: none needs
    escaping."""
    texts = (reader.email, reader.name or "", reader.timezone, reader.source)
    details = json.dumps(reader.details)
    if _COPY_SPECIAL.search(details) or any(map(_COPY_SPECIAL.search, texts)):
        # Rare (a backslash in a name): escape what COPY would read as an escape or a break.
        email, name, timezone, source = (value.translate(_COPY_ESCAPES) for value in texts)
        details = details.translate(_COPY_ESCAPES)
    else:
        email, name, timezone, source = texts
    if reader.confirmed:
        status, kind, confirmed = _ACTIVE, _IMPORT, "t"
    else:
        status, kind, confirmed = _PENDING, _SUBSCRIBE, "f"
    return (
        f"{reader.line}\t{email}\t{_COPY_NULL if reader.name is None else name}\t{status}\t"
        f"{reader.frequency.value}\t{timezone}\t{reader.send_hour}\t{confirmed}\t{link_key}\t"
        f"{kind}\t{source}\t{details}\t{_array_literal(slugs)}\t"
        f"{_COPY_NULL if reader.language is None else reader.language}\n"
    )


def _array_literal(values: Iterable[str]) -> str:
    """A PostgreSQL array of text, every element quoted (so that none reads as NULL)."""
    quoted = (value.replace("\\", "\\\\").replace('"', '\\"') for value in values)
    return "{" + ",".join(f'"{value}"' for value in quoted) + "}"


def _begin_on_sqlite(session: Session) -> None:
    """Python's sqlite3 begins a transaction only before a write, and a SAVEPOINT taken
    outside one is a transaction of its own that RELEASE commits: the chunk would be
    committed behind the caller's back. Begin first, so the SAVEPOINT nests in it."""
    if is_postgres(session):
        return
    driver = session.connection().connection.driver_connection
    if driver is not None and not driver.in_transaction:
        driver.execute("BEGIN")


def is_postgres(session: Session) -> bool:
    """Whether the session's database is PostgreSQL (the only one that takes COPY)."""
    return session.get_bind().dialect.name == "postgresql"


__all__ = [
    "PARALLEL_WRITERS",
    "ChunkOutcome",
    "ChunkWriter",
    "NewReader",
    "PreparedChunk",
    "is_postgres",
    "write_chunks",
    "write_in_parallel",
]
