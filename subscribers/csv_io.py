"""Import and export of readers as CSV, the format every mailing tool and spreadsheet speaks.

The columns are `email,name,topics,frequency,timezone,hour,keywords,language` (topics and
keywords separated by `;`, keywords as the reader typed them; language a shipped BCP 47
code such as `de` or `ar`, empty for the site's default); an export adds
`keyword_alerts,status,created_at` (`keyword_alerts` is `yes` for keyword alerts as it
happens, empty otherwise), and an import accepts those three so that what one instance
exports another can import. Streams must be opened with `newline=""`, as the csv module
requires, so that quoted fields keep their line breaks and a refused address is refused as
written.

Cells are written safe to open in a spreadsheet: one that starts with `=`, `+`, `-`, `@`, a
tab or a carriage return would be run as a formula (an address such as
`=cmd|'/C calc'!A0@example.org` is valid), so the export puts a single quote before it, as
spreadsheets expect. The import removes exactly the quotes the export added, so a file
exported and imported again gives back the same readers; a quote a person typed before any
other character is kept.

An import reads the file as a stream and checks each row in Python; a bad row is reported
with its line number and leaves no trace, while every good row is kept. The good rows are
written a chunk at a time by `subscribers.bulk` (a few statements a chunk, not a few a row),
so the memory an import needs does not grow with the file. Nothing is committed here: the
caller commits, at the end or after each chunk (`after_chunk`). Committing each chunk makes
an import resumable: a crash loses at most the chunk in flight, and running the same file
again skips every reader already stored, so nobody is added twice. Given connections of
its own (`writer_sessions`), an import on PostgreSQL writes with two of them at once, each
committing its chunks (`subscribers.bulk.write_in_parallel`): the caller's session then only
sees the report.
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import TextIO

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from subscribers.addresses import normalise_email
from subscribers.bulk import (
    PARALLEL_WRITERS,
    ChunkOutcome,
    ChunkWriter,
    NewReader,
    is_postgres,
    write_chunks,
    write_in_parallel,
)
from subscribers.errors import CsvFormatError, InvalidPreference, SubscribersError
from subscribers.keywords import (
    DEFAULT_KEYWORDS_PER_READER,
    KEYWORD_SEPARATOR,
    TypedKeyword,
    parse_keywords,
)
from subscribers.languages import parse_language
from subscribers.models import Frequency, Subscriber, SubscriberStatus
from subscribers.preferences import parse_frequency, parse_hour, parse_timezone

IMPORT_COLUMNS = (
    "email", "name", "topics", "frequency", "timezone", "hour", "keywords", "language"
)  # fmt: skip
# `keyword_alerts` (yes or empty) is optional on import, like `status` and `created_at`.
EXPORT_COLUMNS = (*IMPORT_COLUMNS, "keyword_alerts", "status", "created_at")
TOPIC_SEPARATOR = ";"

# The consent record must not claim more than happened: a confirmed import vouches that the
# readers agreed elsewhere (kind "import", as add_subscriber records it); an unconfirmed one
# is only a request that each reader still has to confirm (kind "subscribe").
CONFIRMED_SOURCE = "import"
UNCONFIRMED_SOURCE = "import-unconfirmed"

# Readers who left must not come back through a file: an exported unsubscribed, bounced or
# complained reader is skipped, and a pending one stays pending even in a confirmed import.
_LEFT = frozenset(
    {SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED, SubscriberStatus.COMPLAINED}
)
_EXPORT_BATCH_SIZE = 1000
_MAX_NAME_LENGTH = 200
_MAX_TOPIC_NAME_LENGTH = 200
# What a spreadsheet reads as the start of a formula, and the quote that makes a cell text.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_TEXT_QUOTE = "'"
# The ASCII controls: all a name in plain ASCII can hold of what _has_control_characters refuses.
_ASCII_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class RowError:
    """One refused row: `line` is its CSV record number, the header being line 1."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class ImportReport:
    created: int = 0
    skipped: int = 0
    errors: list[RowError] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    email: str
    name: str | None
    topics: list[str]
    frequency: Frequency
    timezone: str
    hour: int
    status: SubscriberStatus | None
    keywords: tuple[TypedKeyword, ...]
    keyword_alerts: bool
    language: str | None = None


def import_csv(
    session: Session,
    stream: TextIO,
    *,
    confirmed: bool,
    hash_key: str,
    now: datetime | None = None,
    paused_until: datetime | None = None,
    after_chunk: Callable[[ImportReport], None] | None = None,
    keyword_limit: int = DEFAULT_KEYWORDS_PER_READER,
    writer_sessions: Callable[[], Session] | None = None,
    writers: int = PARALLEL_WRITERS,
) -> ImportReport:
    """Add the readers of a CSV file; return what was created, skipped and refused.

    `confirmed=True` means the publisher already holds each reader's consent: rows become
    active readers. Otherwise they are pending until each reader confirms by email.
    An address already subscribed is skipped, never overwritten (the reader's own choices
    win), as is a repeat of an address earlier in the file. The readers it creates carry
    `now` as their sign-up time and `paused_until` as their pause (None: no pause).

    `after_chunk` is called with the report so far each time a chunk of rows is written:
    the place for a caller to commit, so that a crash loses at most one chunk.

    With `writer_sessions` (a factory of new sessions) on PostgreSQL, the chunks are written
    by `writers` connections of their own (two by default), and each chunk is committed as
    it is written: a whole job over several transactions. `after_chunk` is then called
    after each commit, one call at a time, and `session` is left alone. Without it, or on
    SQLite, one writer uses `session`, which the caller commits.

    Raises CsvFormatError when the file as a whole cannot be read; rows written since the
    caller last committed must be rolled back by the caller.
    """
    records = _records(stream)
    columns = _header(records)
    report = ImportReport()
    writer = ChunkWriter(session, hash_key=hash_key, now=now, paused_until=paused_until)

    def batches(rows: Iterable[_Row]) -> Iterator[tuple[int, list[NewReader]]]:
        # How many rows of each batch are left out as readers who left, and the others.
        for batch in _batches(rows, writer.size):
            readers = [
                _new_reader(row, confirmed=confirmed) for row in batch if row.status not in _LEFT
            ]
            yield len(batch) - len(readers), readers

    def done(left: int, outcome: ChunkOutcome) -> None:
        report.created += outcome.created
        report.skipped += left + outcome.skipped
        report.errors.extend(RowError(line, reason) for line, reason in outcome.refused)
        if after_chunk is not None:
            after_chunk(report)

    rows = _parsed_rows(records, columns, report, keyword_limit)
    if writer_sessions is not None and is_postgres(session):
        write_in_parallel(
            writer_sessions, batches(rows), done, hash_key=hash_key, now=now,
            paused_until=paused_until, writers=writers,
        )  # fmt: skip
    else:
        # In the reading thread: what a chunk needs besides the database is made here.
        prepared = ((left, writer.prepare(readers)) for left, readers in batches(rows))
        write_chunks(session, prepared, lambda item: done(item[0], writer.write(item[1])))
    report.errors.sort(key=lambda error: error.line)
    return report


@dataclass
class CsvCheck:
    """What an import of a file would try, found without writing anything: its columns,
    its first rows as written (for a preview), how many rows pass the checks, and the
    errors of those that do not. Known and suppressed addresses are only found on import."""

    columns: list[str]
    first_rows: list[list[str]]
    valid: int = 0
    errors: list[RowError] = field(default_factory=list)


def check_csv(
    stream: TextIO, *, preview: int = 10, keyword_limit: int = DEFAULT_KEYWORDS_PER_READER
) -> CsvCheck:
    """Read a whole file as `import_csv` would, and write nothing. Raises CsvFormatError
    when the file as a whole cannot be read."""
    records = _records(stream)
    columns = _header(records)
    check = CsvCheck(columns=columns, first_rows=[])

    def tapped() -> Iterator[tuple[int, list[str]]]:
        for line, fields in records:
            if len(check.first_rows) < preview and any(value.strip() for value in fields):
                check.first_rows.append(list(fields))
            yield line, fields

    report = ImportReport()
    for _ in _parsed_rows(tapped(), columns, report, keyword_limit):
        check.valid += 1
    check.errors = report.errors
    return check


def _new_reader(row: _Row, *, confirmed: bool) -> NewReader:
    # A reader exported while still pending stays pending, even in a confirmed import.
    really_confirmed = confirmed and row.status is not SubscriberStatus.PENDING
    return NewReader(
        line=row.line,
        email=row.email,
        name=row.name,
        topics=row.topics,
        frequency=row.frequency,
        timezone=row.timezone,
        send_hour=row.hour,
        confirmed=really_confirmed,
        source=CONFIRMED_SOURCE if really_confirmed else UNCONFIRMED_SOURCE,
        details={"line": row.line},
        keywords=row.keywords,
        keyword_alerts=row.keyword_alerts,
        language=row.language,
    )


def export_csv(session: Session, stream: TextIO, query: Select[Subscriber] | None = None) -> int:
    """Write every reader (or those `query` selects), in id order, as CSV that `import_csv`
    reads back; return the count.

    Rows are fetched in batches, so an export of any size runs in constant memory.
    """
    writer = csv.writer(stream)
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for row in export_rows(session, query):
        writer.writerow(row)
        count += 1
    return count


def export_rows(
    session: Session, query: Select[Subscriber] | None = None
) -> Iterator[tuple[str | int, ...]]:
    """The cells of each reader `query` selects (every reader by default), in id order, as
    `export_csv` writes them under EXPORT_COLUMNS; fetched a batch at a time."""
    statement = query if query is not None else select(Subscriber)
    readers = session.scalars(
        statement.order_by(Subscriber.id).execution_options(yield_per=_EXPORT_BATCH_SIZE)
    )
    for reader in readers:
        yield (
            _as_text(reader.email),
            _as_text(reader.name or ""),
            _as_text(TOPIC_SEPARATOR.join(reader.topic_slugs)),
            reader.frequency.value,
            _as_text(reader.timezone),
            reader.send_hour,
            _as_text(KEYWORD_SEPARATOR.join(reader.keyword_texts)),
            reader.language or "",
            "yes" if reader.keyword_alerts else "",
            reader.status.value,
            reader.created_at.isoformat(),
        )


def _records(stream: TextIO) -> Iterator[tuple[int, list[str]]]:
    """Yield (record number, fields), turning anything that is not CSV text into one error."""
    reader = csv.reader(stream, strict=True)
    line = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError as error:
            raise CsvFormatError(
                f"the file is not UTF-8 text ({error.reason} at byte {error.start})",
                line=line + 1,
            ) from None
        except csv.Error as error:
            raise CsvFormatError(f"the file is not valid CSV: {error}", line=line + 1) from None
        line += 1
        yield line, fields


def _header(records: Iterator[tuple[int, list[str]]]) -> list[str]:
    """Read and check the header row; return the column names in file order."""
    first = next(records, None)
    if first is None:
        raise CsvFormatError("the file is empty; expected a header row such as email,name,topics")
    _, fields = first
    if fields and fields[0].startswith("\ufeff"):  # a byte-order mark, as spreadsheets write
        fields[0] = fields[0][1:]
    if any(_has_control_characters(name.replace("\t", "")) for name in fields):
        raise CsvFormatError("the file is not CSV text: its first line contains binary data")
    columns = [name.strip().lower() for name in fields]
    if "email" not in columns:
        raise CsvFormatError(
            "the header row has no email column; the first line must name the columns, "
            f"such as {','.join(IMPORT_COLUMNS)}{_separator_hint(fields)}",
            line=1,
        )
    for position, name in enumerate(columns, start=1):
        if not name:
            raise CsvFormatError(f"column {position} of the header has no name", line=1)
    unknown = [name for name in columns if name not in EXPORT_COLUMNS]
    if unknown:
        raise CsvFormatError(
            f"unknown column{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"the known columns are {', '.join(EXPORT_COLUMNS)}",
            line=1,
        )
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise CsvFormatError(f"repeated column {', '.join(map(repr, repeated))}", line=1)
    return columns


def _parsed_rows(
    records: Iterable[tuple[int, list[str]]],
    columns: list[str],
    report: ImportReport,
    keyword_limit: int,
) -> Iterator[_Row]:
    """Yield the rows that pass every check; record the others in the report."""
    for line, fields in records:
        joined = "".join(fields)  # one string to look at: most rows need no more
        if not joined.strip():
            continue  # blank lines, often left at the end by editors
        if len(fields) > len(columns):
            report.errors.append(
                RowError(line, f"{len(fields)} values for the header's {len(columns)} columns")
            )
            continue
        if _TEXT_QUOTE in joined:
            fields = list(map(_from_text, fields))
        values = dict(zip(columns, fields, strict=False))
        try:
            yield _parse(line, values, keyword_limit)
        except SubscribersError as error:
            report.errors.append(RowError(line, str(error)))


def _parse(line: int, values: dict[str, str], keyword_limit: int) -> _Row:
    """Check one row the way add_subscriber would, so that its error names the field."""
    email = normalise_email(values.get("email", ""))
    name = values.get("name", "").strip()
    if _has_control_characters(name):
        raise InvalidPreference("name", "it contains a line break or control character")
    if len(name) > _MAX_NAME_LENGTH:
        raise InvalidPreference("name", f"it is longer than {_MAX_NAME_LENGTH} characters")
    topics = [topic.strip() for topic in values.get("topics", "").split(TOPIC_SEPARATOR)]
    typed_keywords = values.get("keywords", "")
    for topic in topics:
        if len(topic) > _MAX_TOPIC_NAME_LENGTH:
            raise InvalidPreference(
                "topics", f"{topic[:20]!r}... is longer than {_MAX_TOPIC_NAME_LENGTH} characters"
            )
    return _Row(
        line=line,
        email=email,
        name=name or None,
        topics=[topic for topic in topics if topic],
        frequency=parse_frequency(values.get("frequency") or None),
        timezone=parse_timezone(values.get("timezone") or None),
        hour=parse_hour(values.get("hour")),
        status=_parse_status(values.get("status", "")),
        # Most files have no keywords: an empty cell is no keyword, without the parser.
        keywords=parse_keywords(typed_keywords.split(KEYWORD_SEPARATOR), limit=keyword_limit)
        if typed_keywords.strip()
        else (),
        keyword_alerts=_parse_flag("keyword_alerts", values.get("keyword_alerts", "")),
        language=parse_language(values.get("language")),
    )


def _parse_flag(field: str, raw: str) -> bool:
    """An empty cell, `no`, `false` or `0` is no; `yes`, `true` or `1` is yes."""
    value = raw.strip().lower()
    if value in ("", "no", "false", "0", "n"):
        return False
    if value in ("yes", "true", "1", "y"):
        return True
    raise InvalidPreference(field, f"{raw[:20]!r} is not yes or no")


def _parse_status(raw: str) -> SubscriberStatus | None:
    value = raw.strip().lower()
    if not value:
        return None
    try:
        return SubscriberStatus(value)
    except ValueError:
        choices = ", ".join(member.value for member in SubscriberStatus)
        raise InvalidPreference("status", f"{raw!r} is not one of {choices}") from None


def _read_as_formula(cell: str) -> bool:
    """True for a cell a spreadsheet would run, or one that only a text quote keeps from it
    (so that the quote the export adds can be told from one a person typed)."""
    if cell.startswith(_FORMULA_STARTS):
        return True
    return cell.startswith(_TEXT_QUOTE) and _read_as_formula(cell[1:])


def _as_text(cell: str) -> str:
    """A cell a spreadsheet shows as text, never runs: a quote before what it would run."""
    return _TEXT_QUOTE + cell if _read_as_formula(cell) else cell


def _from_text(cell: str) -> str:
    """Undo `_as_text`: drop the one quote it added, and only that one."""
    if cell.startswith(_TEXT_QUOTE) and _read_as_formula(cell[1:]):
        return cell[1:]
    return cell


def _separator_hint(fields: list[str]) -> str:
    """Spreadsheets in many locales save with `;` or tabs; say so rather than just refuse."""
    if len(fields) == 1:
        for separator, label in ((";", "semicolons"), ("\t", "tabs")):
            if separator in fields[0]:
                return f" (this file seems to separate columns with {label}; save it with commas)"
    return ""


def _has_control_characters(text: str) -> bool:
    """True for C0/C1 controls and U+FFFD, which text decoded from binary data is full of."""
    if text.isascii():  # one search; C1 controls and U+FFFD are not ASCII
        return _ASCII_CONTROLS.search(text) is not None
    return any(unicodedata.category(char) == "Cc" or char == "\ufffd" for char in text)


def _batches(rows: Iterable[_Row], size: int) -> Iterator[list[_Row]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


__all__ = [
    "EXPORT_COLUMNS",
    "IMPORT_COLUMNS",
    "CsvCheck",
    "ImportReport",
    "RowError",
    "check_csv",
    "export_csv",
    "export_rows",
    "import_csv",
]
