"""The readers per bucket (frequency, time zone, hour), as the digest planner needs them.

`reader_buckets` holds signed deltas appended by triggers (subscribers.models.ReaderBucket):
reading a bucket's figures sums a few thousand folded rows and the deltas since the last
fold, whatever the number of readers. A bucket's count of changes only grows, so a planner
that saw it before can tell that something in the bucket changed since.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
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
    """Sum the deltas into one row per bucket; how many deltas were folded away. Does not
    commit. The deltas taken are exactly the ones deleted, so a delta committed meanwhile
    waits for the next fold; on PostgreSQL a fold that finds another under way leaves it
    the work."""
    if session.get_bind().dialect.name == "postgresql" and not session.scalar(
        select(func.pg_try_advisory_xact_lock(FOLD_LOCK))
    ):
        return 0
    taken = session.execute(
        delete(ReaderBucket)
        .where(ReaderBucket.folded.is_(False))
        .returning(
            ReaderBucket.frequency,
            ReaderBucket.timezone,
            ReaderBucket.send_hour,
            ReaderBucket.readers,
            ReaderBucket.changes,
        )
    ).all()
    sums: dict[tuple[str, str, int], list[int]] = {}
    for frequency, zone, hour, readers, changes in taken:
        total = sums.setdefault((frequency, zone, hour), [0, 0])
        total[0] += readers
        total[1] += changes
    if sums:
        _add_folded(session, [
            {"frequency": frequency, "timezone": zone, "send_hour": hour,
             "readers": readers, "changes": changes, "folded": True}
            for (frequency, zone, hour), (readers, changes) in sorted(sums.items())
        ])  # fmt: skip
    return len(taken)


def _add_folded(session: Session, values: Sequence[dict[str, Any]]) -> None:
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(ReaderBucket)
    excluded = statement.excluded
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["frequency", "timezone", "send_hour"],
            index_where=text("folded"),
            set_={
                "readers": ReaderBucket.readers + excluded.readers,
                "changes": ReaderBucket.changes + excluded.changes,
            },
        ),
        list(values),
    )
