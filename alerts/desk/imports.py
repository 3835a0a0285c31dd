"""Importing readers, from the desk and from `newsalerts subscribers import`: the file
checked first on the desk (a preview, writing nothing), then imported, with the choice to
start tomorrow.

A confirmed import made in the afternoon would otherwise send today's digest at once to
every reader whose hour has passed (the planner's promise: a reader due today gets today's
issue). "Start tomorrow" pauses the readers this import creates until the next midnight
in the publisher's time zone; readers already stored are never touched.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import TextIO
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from alerts.audit import record
from subscribers.bulk import PARALLEL_WRITERS
from subscribers.csv_io import ImportReport, import_csv
from subscribers.keywords import DEFAULT_KEYWORDS_PER_READER


def next_midnight(now: datetime, timezone: str) -> datetime:
    """The start of tomorrow in `timezone`, as an aware moment."""
    zone = ZoneInfo(timezone)
    tomorrow = now.astimezone(zone).date() + timedelta(days=1)
    return datetime.combine(tomorrow, time(0), tzinfo=zone)


def import_readers(
    session: Session,
    stream: TextIO,
    *,
    confirmed: bool,
    start_tomorrow: bool,
    hash_key: str,
    timezone: str,
    actor: str,
    now: datetime,
    after_chunk: Callable[[ImportReport], None] | None = None,
    keyword_limit: int = DEFAULT_KEYWORDS_PER_READER,
    action: str = "readers.import",
    target: str | None = None,
    writer_sessions: Callable[[], Session] | None = None,
    writers: int = PARALLEL_WRITERS,
) -> ImportReport:
    """Import a CSV file (subscribers.csv_io.import_csv) and audit it as `action` on
    `target`. With `start_tomorrow`, the readers it creates are written already paused
    until the next midnight in `timezone` (in the statement that adds them: a scheduler
    tick between a chunk's commit and a later update would plan them for today). Raises
    CsvFormatError for a file that cannot be read at all. With `writer_sessions`, the chunks
    are written and committed by connections of their own (import_csv says how)."""
    resumes = next_midnight(now, timezone) if start_tomorrow else None
    report = import_csv(
        session, stream, confirmed=confirmed, hash_key=hash_key, now=now, paused_until=resumes,
        after_chunk=after_chunk, keyword_limit=keyword_limit, writer_sessions=writer_sessions,
        writers=writers,
    )  # fmt: skip
    record(
        session,
        actor=actor,
        action=action,
        target=target,
        details={
            "created": report.created,
            "skipped": report.skipped,
            "errors": len(report.errors),
            "confirmed": confirmed,
            "starts": resumes.isoformat() if resumes is not None else "at once",
        },
        now=now,
    )
    return report


__all__ = ["import_readers", "next_midnight"]
