"""The digest run as the CLI, the scheduler and the workers see it: plan, queue, send.

Planning commits the ledger before any batch is published, so a worker never sees a
batch whose rows are not in the database yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from alerts.delivery import BatchResult, SweepResult, send_batch, sweep_stuck
from alerts.planning import PlanResult, claim_queue, plan_digests
from alerts.runtime import Runtime


@dataclass
class QueuedRun:
    plan: PlanResult
    batches: list[list[int]] = field(default_factory=list)
    swept: SweepResult = field(default_factory=SweepResult)

    @property
    def queued(self) -> int:
        return sum(len(batch) for batch in self.batches)


def plan_and_queue(runtime: Runtime, *, now: datetime, force: bool = False) -> QueuedRun:
    """Write ledger rows for everyone due, recover rows of vanished workers, then take
    every sendable row in batches."""
    with runtime.session() as session:
        plan = plan_digests(session, now=now, force=force)
        session.commit()
        swept = sweep_stuck(session, now=now, lease=_lease(runtime))
        session.commit()
        batches = claim_queue(
            session,
            now=now,
            batch_size=runtime.settings.batch_size,
            requeue_after=timedelta(seconds=runtime.settings.requeue_seconds),
        )
        session.commit()
    return QueuedRun(plan, batches, swept)


def _lease(runtime: Runtime) -> timedelta:
    return timedelta(seconds=runtime.settings.claim_lease_seconds)


def send_queued_batch(
    runtime: Runtime, ids: list[int], *, on_message: Callable[[], None] | None = None
) -> BatchResult:
    with runtime.session() as session:
        return send_batch(
            session,
            ids,
            composer=runtime.composer(session),
            transport=runtime.transport,
            lease=_lease(runtime),
            group_size=runtime.settings.send_group_size,
            on_message=on_message,
        )
