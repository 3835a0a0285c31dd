"""The digest run as the CLI, the scheduler and the workers see it: plan, queue, send.

Planning commits the ledger before any batch is published, so a worker never sees a
batch whose rows are not in the database yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from alerts.delivery import BatchResult, send_batch
from alerts.planning import PlanResult, claim_queue, plan_digests
from alerts.runtime import Runtime


@dataclass
class QueuedRun:
    plan: PlanResult
    batches: list[list[int]] = field(default_factory=list)

    @property
    def queued(self) -> int:
        return sum(len(batch) for batch in self.batches)


def plan_and_queue(runtime: Runtime, *, now: datetime, force: bool = False) -> QueuedRun:
    """Write ledger rows for everyone due, then take every sendable row in batches."""
    with runtime.session() as session:
        plan = plan_digests(session, now=now, force=force)
        session.commit()
        batches = claim_queue(session, now=now, batch_size=runtime.settings.batch_size)
        session.commit()
    return QueuedRun(plan, batches)


def send_queued_batch(
    runtime: Runtime, ids: list[int], *, on_message: Callable[[], None] | None = None
) -> BatchResult:
    with runtime.session() as session:
        return send_batch(
            session,
            ids,
            composer=runtime.composer(session),
            transport=runtime.transport,
            on_message=on_message,
        )
