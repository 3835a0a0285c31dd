"""The digest run as the CLI, the scheduler and the workers see it: plan, queue, send.

Planning commits the ledger before any batch is published, so a worker never sees a
batch whose rows are not in the database yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from alerts.delivery import BatchResult, RetryPolicy, SweepResult, send_batch, sweep_stuck
from alerts.planning import PlanResult, claim_queue, plan_in_chunks
from alerts.runtime import Runtime


@dataclass
class QueuedRun:
    plan: PlanResult
    batches: list[list[int]] = field(default_factory=list)
    swept: SweepResult = field(default_factory=SweepResult)

    @property
    def queued(self) -> int:
        return sum(len(batch) for batch in self.batches)


Publish = Callable[[list[list[int]]], None]


def plan_and_queue(
    runtime: Runtime, *, now: datetime, force: bool = False, publish: Publish | None = None
) -> QueuedRun:
    """Recover rows of vanished workers, write ledger rows for everyone due, and take every
    sendable row in batches.

    With `publish`, each chunk's batches are handed over as soon as the chunk is
    committed, so sending starts while the rest is planned.
    """
    settings = runtime.settings
    requeue_after = timedelta(seconds=settings.requeue_seconds)
    run = QueuedRun(PlanResult())

    def hand_over(ids: list[int]) -> None:
        size = settings.batch_size
        batches = [ids[i : i + size] for i in range(0, len(ids), size)]
        run.batches.extend(batches)
        if publish is not None and batches:
            publish(batches)

    with runtime.session() as session:
        run.swept = sweep_stuck(session, now=now, lease=_lease(runtime))
        session.commit()
        for chunk in plan_in_chunks(
            session, now=now, force=force, queued_until=now + requeue_after
        ):
            session.commit()
            run.plan.add(chunk.result)
            hand_over(chunk.pending_ids)
        leftovers = claim_queue(
            session, now=now, batch_size=settings.batch_size, requeue_after=requeue_after
        )
        session.commit()
        hand_over([i for batch in leftovers for i in batch])
    return run


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
            retry=RetryPolicy(
                max_attempts=runtime.settings.max_attempts,
                base=timedelta(seconds=runtime.settings.retry_base_seconds),
            ),
            on_message=on_message,
        )
