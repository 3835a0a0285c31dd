"""Importing readers from the desk: the file checked first (a preview, writing nothing), then
imported through the same code as `newsalerts subscribers import`, with a choice the
command line has no need of: start tomorrow.

A confirmed import made in the afternoon would otherwise send today's digest at once to
every reader whose hour has passed (the planner's promise: a reader due today gets today's
issue). "Start tomorrow" pauses the readers this import created until the next midnight
in the publisher's time zone; readers already stored are never touched.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.orm import Session

from alerts.audit import record
from subscribers.csv_io import ImportReport, import_csv
from subscribers.keywords import DEFAULT_KEYWORDS_PER_READER
from subscribers.models import Subscriber


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
) -> ImportReport:
    """Import a CSV file (subscribers.csv_io.import_csv) and audit it. The readers it creates
    carry `now` as their sign-up time, which is how `start_tomorrow` finds them and only
    them. Raises CsvFormatError for a file that cannot be read at all."""
    resumes = next_midnight(now, timezone) if start_tomorrow else None

    def written(so_far: ImportReport) -> None:
        # Paused in the chunk's own transaction: a scheduler tick between the caller's
        # commit of a chunk and a later update would plan its readers for today.
        if resumes is not None:
            session.execute(
                update(Subscriber)
                .where(Subscriber.created_at == now, Subscriber.paused_until.is_(None))
                .values(paused_until=resumes)
                .execution_options(synchronize_session=False)
            )
        if after_chunk is not None:
            after_chunk(so_far)

    report = import_csv(
        session, stream, confirmed=confirmed, hash_key=hash_key, now=now, after_chunk=written,
        keyword_limit=keyword_limit,
    )  # fmt: skip
    record(
        session,
        actor=actor,
        action="readers.import",
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
