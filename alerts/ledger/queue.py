"""The queue: pending ledger rows taken in batches, the unit of work a worker takes — which
rows are ready to go, how they are cut, which queue they go to.

A breaking alert's batches are urgent, and so are a keyword alert's: they go to the queue
every worker takes from first (alerts.tasks.app), so an alert does not wait behind the
morning's digests. Rows that are queued again (lost messages, retries) are sorted by send
the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from alerts.ledger.states import not_held
from alerts.models import Delivery, DeliveryStatus, is_keyword_alert

# Ids per look-up: well under every database's limit of bound parameters.
_LOOKUP_CHUNK = 1000
# A queued batch that has not been claimed after this long is queued again (lost message).
REQUEUE_AFTER = timedelta(minutes=10)
# Rows claimed per transaction by claim_in_chunks: what a queueing process holds at once,
# whatever the size of the send.
QUEUE_CHUNK = 10_000


class Publish(Protocol):
    """Hands batches of ledger ids to the workers, after their rows are committed.
    `urgent` batches (breaking alerts) go ahead of everything else waiting."""

    def __call__(self, batches: list[list[int]], *, urgent: bool) -> None: ...


def cut(ids: Sequence[int], size: int) -> list[list[int]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def queue_rows(
    session: Session,
    ids: Sequence[int],
    *,
    batch_size: int,
    publish: Publish | None,
    all_urgent: bool = False,
) -> list[list[int]]:
    """Cut rows of any sends into batches of one send each and hand them over: the breaking
    and keyword alerts' first, as urgent, then the digests' (as urgent too with `all_urgent`: rows a
    dead worker left, which have waited long enough). Returns the batches in that order."""
    sends: dict[tuple[str, int | None, int | None], list[int]] = {}
    for offset in range(0, len(ids), _LOOKUP_CHUNK):
        rows = session.execute(
            select(Delivery.id, Delivery.edition, Delivery.issue_id, Delivery.alert_id)
            .where(Delivery.id.in_(ids[offset : offset + _LOOKUP_CHUNK]))
            .order_by(Delivery.id)
        )
        for delivery_id, edition, issue_id, alert_id in rows:
            sends.setdefault((edition, issue_id, alert_id), []).append(delivery_id)
    handed: list[list[int]] = []
    for urgent in (True, False):
        batches = [
            batch
            for (edition, _, alert_id), rows_of_send in sends.items()
            if (all_urgent or alert_id is not None or is_keyword_alert(edition)) is urgent
            for batch in cut(rows_of_send, batch_size)
        ]
        if batches and publish is not None:
            publish(batches, urgent=urgent)
        handed.extend(batches)
    return handed


def claim_queue(
    session: Session,
    *,
    now: datetime,
    batch_size: int,
    requeue_after: timedelta = REQUEUE_AFTER,
    issue_id: int | None = None,
    alert_id: int | None = None,
    after_id: int = 0,
    limit: int | None = None,
) -> list[list[int]]:
    """Ids of pending rows ready to go (of one issue or alert, or all), in batches,
    stamped so they are not queued twice. Rows of paused or cancelled issues stay.
    `after_id` and `limit` take the next `limit` rows in id order after `after_id`.

    A batch whose message is lost (broker restart, killed worker) is queued again after
    `requeue_after`; claiming in `send_batch` makes a duplicate queue entry harmless.
    Does not commit.
    """
    query = select(Delivery.id).where(
        Delivery.id > after_id,
        Delivery.status == DeliveryStatus.PENDING,
        or_(Delivery.next_attempt_at.is_(None), Delivery.next_attempt_at <= now),
        not_held(),
    )
    if issue_id is not None:
        query = query.where(Delivery.issue_id == issue_id)
    if alert_id is not None:
        query = query.where(Delivery.alert_id == alert_id)
    ready = session.scalars(query.order_by(Delivery.id).limit(limit)).all()
    for offset in range(0, len(ready), _LOOKUP_CHUNK):
        session.execute(
            update(Delivery)
            .where(Delivery.id.in_(ready[offset : offset + _LOOKUP_CHUNK]))
            .values(next_attempt_at=now + requeue_after)
            .execution_options(synchronize_session=False)
        )
    return [list(ready[i : i + batch_size]) for i in range(0, len(ready), batch_size)]


def claim_in_chunks(
    session: Session,
    *,
    now: datetime,
    batch_size: int,
    requeue_after: timedelta = REQUEUE_AFTER,
    issue_id: int | None = None,
    alert_id: int | None = None,
    chunk: int = QUEUE_CHUNK,
) -> Iterator[list[list[int]]]:
    """claim_queue `chunk` rows at a time, in id order: the batches of each chunk once its
    rows are stamped. The caller commits each chunk before it hands the batches over (and
    may commit before asking for the next): a send of any size is queued holding one
    chunk of ids, and the first batches leave before the last rows are read."""
    after = 0
    while True:
        batches = claim_queue(
            session, now=now, batch_size=batch_size, requeue_after=requeue_after,
            issue_id=issue_id, alert_id=alert_id, after_id=after, limit=chunk,
        )  # fmt: skip
        if not batches:
            return
        yield batches
        if sum(len(batch) for batch in batches) < chunk:
            return
        after = batches[-1][-1]


def unqueue(session: Session, *, now: datetime, requeue_after: timedelta) -> int:
    """Forget that pending rows were queued (the broker lost its queues), so they are
    queued again at once; the count. A row waiting for its retry within `requeue_after`
    cannot be told from a queued one and is tried early. Does not commit."""
    forgotten = session.execute(
        update(Delivery)
        .where(
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.next_attempt_at > now,
            Delivery.next_attempt_at <= now + requeue_after,
        )
        .values(next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    return forgotten.rowcount or 0  # type: ignore[attr-defined]
