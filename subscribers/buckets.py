"""The readers per bucket (frequency, time zone, hour), as the digest planner needs them.

`reader_buckets` holds signed deltas appended by triggers (subscribers.models.ReaderBucket):
reading a bucket's figures sums a few thousand folded rows and the deltas since the last
fold, whatever the number of readers. A bucket's count of changes only grows, so a planner
that saw it before can tell that something in the bucket changed since.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from subscribers.models import ReaderBucket

# One fold at a time on PostgreSQL (the tick's and the sweeper's may meet).
FOLD_LOCK = 7_422_001

Bucket = tuple[str, int]  # (time zone, hour)


@dataclass(frozen=True)
class BucketFigures:
    readers: int  # active readers, paused ones included
    changes: int  # changes ever made to the bucket's readers


def buckets_of(session: Session, frequency: str) -> dict[Bucket, BucketFigures]:
    """The buckets of `frequency` with active readers, and their figures."""
    rows = session.execute(
        select(
            ReaderBucket.timezone,
            ReaderBucket.send_hour,
            func.sum(ReaderBucket.readers),
            func.sum(ReaderBucket.changes),
        )
        .where(ReaderBucket.frequency == frequency)
        .group_by(ReaderBucket.timezone, ReaderBucket.send_hour)
        .having(func.sum(ReaderBucket.readers) > 0)
    )
    return {
        (zone, hour): BucketFigures(int(readers), int(changes))
        for zone, hour, readers, changes in rows
    }


def fold_buckets(session: Session) -> int:
    """Sum the deltas into one row per bucket, in the database; how many deltas were
    folded away. Does not commit. Only the deltas the fold deletes are added, so one
    committed meanwhile waits for the next fold. On PostgreSQL one statement deletes and
    adds (a fold that finds another under way leaves it the work); SQLite has one writer,
    and once this holds its lock no delta can come in between the two statements."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres and not session.scalar(select(func.pg_try_advisory_xact_lock(FOLD_LOCK))):
        return 0
    if postgres:
        return int(session.execute(text(_FOLD_POSTGRESQL)).scalar_one())
    last = session.scalar(select(func.max(ReaderBucket.id)).where(ReaderBucket.folded.is_(False)))
    if last is None:
        return 0
    session.execute(text(_FOLD_SQLITE), {"last": last})
    result = session.execute(
        delete(ReaderBucket).where(ReaderBucket.folded.is_(False), ReaderBucket.id <= last)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


_BUCKET = "frequency, timezone, send_hour"
_ADD = (
    f"ON CONFLICT ({_BUCKET}) WHERE folded DO UPDATE SET "
    "readers = reader_buckets.readers + excluded.readers, "
    "changes = reader_buckets.changes + excluded.changes"
)
_FOLD_POSTGRESQL = f"""
WITH gone AS (
    DELETE FROM reader_buckets WHERE NOT folded
    RETURNING {_BUCKET}, readers, changes
), added AS (
    INSERT INTO reader_buckets ({_BUCKET}, readers, changes, folded)
    SELECT {_BUCKET}, sum(readers), sum(changes), true FROM gone
    GROUP BY {_BUCKET} ORDER BY {_BUCKET}
    {_ADD}
)
SELECT count(*) FROM gone
"""
_FOLD_SQLITE = f"""
INSERT INTO reader_buckets ({_BUCKET}, readers, changes, folded)
SELECT {_BUCKET}, sum(readers), sum(changes), 1 FROM reader_buckets
WHERE NOT folded AND id <= :last GROUP BY {_BUCKET} ORDER BY {_BUCKET}
{_ADD}
"""
