"""Batches of ledger rows, the unit of work a worker takes: how they are cut, which queue
they go to, and what the logs say about each.

A breaking alert's batches are urgent: they go to the queue every worker takes from first
(alerts.tasks.app), so an alert does not wait behind the morning's digests. Rows that are
queued again (lost messages, retries) are sorted by send the same way.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.logs import log_context
from alerts.models import Delivery

# Ids per look-up: well under every database's limit of bound parameters.
_LOOKUP_CHUNK = 1000


class Publish(Protocol):
    """Hands batches of ledger ids to the workers, after their rows are committed.
    `urgent` batches (breaking alerts) go ahead of everything else waiting."""

    def __call__(self, batches: list[list[int]], *, urgent: bool) -> None: ...


def cut(ids: Sequence[int], size: int) -> list[list[int]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def queue_rows(
    session: Session, ids: Sequence[int], *, batch_size: int, publish: Publish | None
) -> list[list[int]]:
    """Cut rows of any sends into batches of one send each and hand them over: the breaking
    alerts' first, as urgent, then the digests'. Returns the batches in that order."""
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
            for (_, _, alert_id), rows_of_send in sends.items()
            if (alert_id is not None) is urgent
            for batch in cut(rows_of_send, batch_size)
        ]
        if batches and publish is not None:
            publish(batches, urgent=urgent)
        handed.extend(batches)
    return handed


@contextmanager
def batch_log_context(session: Session, ids: Sequence[int]) -> Iterator[None]:
    """Name the batch in every line logged inside the block: its send (edition slug, issue
    or alert id) and its first and last delivery id and size.

    A batch normally holds rows of one send; for one that does not (queued by an older
    version), the edition lists each slug and the issue and alert ids are left out.
    """
    if not ids:
        yield
        return
    sends = session.execute(
        select(Delivery.edition, Delivery.issue_id, Delivery.alert_id)
        .where(Delivery.id.in_(ids))
        .distinct()
    ).all()
    editions = sorted({edition for edition, _, _ in sends})
    issues = {issue_id for _, issue_id, _ in sends}
    alerts = {alert_id for _, _, alert_id in sends}
    with log_context(
        edition=",".join(editions) or None,
        issue_id=issues.pop() if len(issues) == 1 else None,
        alert_id=alerts.pop() if len(alerts) == 1 else None,
        first_delivery_id=min(ids),
        last_delivery_id=max(ids),
        batch_size=len(ids),
    ):
        yield
