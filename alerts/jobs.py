"""The digest run as the CLI, the scheduler and the workers see it: plan, queue, send.

Planning commits the ledger before any batch is published, so a worker never sees a
batch whose rows are not in the database yet. A breaking or keyword alert's batches are
published as urgent (alerts.ledger.queue), whichever path queues them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial

import redis
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alerts.access.tokens import allows
from alerts.audit import record, token_actor
from alerts.db import short_idle_transactions
from alerts.delivery.liveness import dead_owners, forget, redis_state, wire_records
from alerts.delivery.notices import send_waiting_notices
from alerts.delivery.sending import BatchResult, send_batch
from alerts.digests.as_it_happens import KeywordAlertPlan, plan_keyword_alerts
from alerts.digests.breaking import alert_key, create_alert, plan_alert, set_alert_status
from alerts.digests.planning import PlanResult, plan_in_chunks
from alerts.digests.selection import local_today
from alerts.editions.issues import (
    cancel,
    get_issue,
    issue_for,
    pause,
    record_issue_articles,
    resume,
)
from alerts.editions.schedules import get_edition, issue_date, list_editions
from alerts.errors import AlertError, IssueError
from alerts.feedback.policy import suppress_refused_recipients
from alerts.ledger.claims import (
    Recovery,
    SweepResult,
    owners_in_hand,
    recover_owners,
    sweep_stuck,
)
from alerts.ledger.counts import fold
from alerts.ledger.outgoing import Outgoing, batch_log_context, load_outgoing
from alerts.ledger.queue import Publish, claim_in_chunks, cut, queue_rows, unqueue
from alerts.ledger.retention import Pruned, prune_ledger
from alerts.logs import first_line, log_context
from alerts.models import ApiToken, Article, BreakingAlert, IssueStatus
from alerts.runtime import Runtime
from subscribers.buckets import fold_buckets
from subscribers.database import utcnow

log = logging.getLogger(__name__)

# A sending process cut off mid-transaction loses it after this many idle seconds, so its
# row locks do not hold up the sweep (which acts after a heartbeat's TTL, 15 s).
IDLE_IN_TRANSACTION = 10


@dataclass
class QueuedRun:
    """What a run planned and handed over, as counts: the run holds one chunk of ledger
    ids at a time, whatever the number of readers."""

    plan: PlanResult
    queued: int = 0  # rows handed over
    batches: int = 0  # in this many batches
    swept: SweepResult = field(default_factory=SweepResult)

    def handed(self, batches: list[list[int]]) -> None:
        self.queued += sum(len(batch) for batch in batches)
        self.batches += len(batches)


def plan_and_queue(
    runtime: Runtime, *, now: datetime, force: bool = False, publish: Publish | None = None
) -> QueuedRun:
    """Recover rows of vanished workers, write ledger rows for everyone due, and hand
    every sendable row over in batches.

    Each chunk's batches are handed to `publish` as soon as the chunk is committed, so
    sending starts while the rest is planned, and this process never holds more than a
    chunk of readers or ids. Rows queued again (their message was lost, or their retry is
    due) go out by send, a breaking alert's as urgent. Without `publish` the rows are only
    stamped as queued (a lost message's rows are queued again later). Logs one line for
    each edition that had readers due, and one for rows queued again.
    """
    settings = runtime.settings
    requeue_after = timedelta(seconds=settings.requeue_seconds)
    run = QueuedRun(PlanResult())
    with runtime.session() as session:
        run.swept = sweep_stuck(session, now=now, lease=_lease(runtime))
        fold(session, now=now)
        fold_buckets(session)
        session.commit()
        send_waiting_notices(session, sender=runtime.notice_sender())
        for edition in list_editions(session, now=now, active_only=True):
            planned, queued_before = PlanResult(), run.queued
            with log_context(edition=edition.slug):
                for chunk in plan_in_chunks(
                    session, now=now, force=force, queued_until=now + requeue_after,
                    editions=[edition], committed=True,
                ):  # fmt: skip
                    session.commit()
                    planned.add(chunk.result)
                    batches = cut(chunk.pending_ids, settings.batch_size)
                    if publish is not None and batches:
                        publish(batches, urgent=False)
                    run.handed(batches)
                if planned.due:
                    _log_planned(planned, queued=run.queued - queued_before)
            run.plan.add(planned)
        queued_before = run.queued
        for leftovers in claim_in_chunks(
            session, now=now, batch_size=settings.batch_size, requeue_after=requeue_after
        ):
            session.commit()
            ids = [i for batch in leftovers for i in batch]
            again = queue_rows(session, ids, batch_size=settings.batch_size, publish=publish)
            run.handed(again)
    _log_recovered(run.swept, queued_again=run.queued - queued_before)
    return run


def _log_planned(plan: PlanResult, *, queued: int) -> None:
    log.info(
        "%d readers due: %d digests planned, %d with nothing new, %d planned before, "
        "%d of a cancelled issue; %d queued",
        plan.due, plan.planned, plan.skipped_empty, plan.already_planned, plan.cancelled,
        queued,
    )  # fmt: skip


def _log_recovered(swept: SweepResult, *, queued_again: int) -> None:
    if not (queued_again or swept.requeued or swept.abandoned):
        log.debug("nothing to queue again, no rows of stopped workers")
        return
    log.info(
        "%d rows queued again; of the rows of stopped workers, %d back to pending and "
        "%d failed (the outcome of their SMTP exchange is unknown)",
        queued_again, swept.requeued, swept.abandoned,
    )  # fmt: skip


@dataclass
class Sweep:
    """What one sweep found and did."""

    broker_lost_data: bool = False
    unqueued: int = 0
    dead_owners: int = 0
    recovery: Recovery = field(default_factory=Recovery)
    queued: int = 0


def sweep(runtime: Runtime, *, now: datetime, publish: Publish | None) -> Sweep:
    """Every few seconds: recover the rows of worker processes whose heartbeat stopped,
    notice that Redis lost its queues, fold the ledger's counts (alerts.ledger.counts), and
    queue every row ready to go.

    A dead owner's rows never attempted go out again at once, ahead of the backlog
    (urgent); the message that may have been on the wire is named an unknown outcome. When
    Redis came up empty, the rows whose batches it held are queued again at once instead
    of after REQUEUE_SECONDS, and missing heartbeats are not believed until the living had
    time to renew theirs. Without Redis there is nothing to sweep (the tick's lease sweep
    is the recovery). Raises redis.RedisError.
    """
    done = Sweep()
    url = runtime.settings.redis_url
    if not url:
        return done
    settings = runtime.settings
    requeue_after = timedelta(seconds=settings.requeue_seconds)
    client = redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
    try:
        state = redis_state(client, now=time.time())
        with runtime.session() as session:
            if state.lost_data:
                done.broker_lost_data = True
                done.unqueued = unqueue(session, now=now, requeue_after=requeue_after)
            dead: list[int] = []
            if state.heartbeats_settled:
                dead = dead_owners(client, owners_in_hand(session))
                done.dead_owners = len(dead)
                done.recovery = recover_owners(
                    session, wire_records(client, dead), queued_until=now + requeue_after
                )
            fold(session, now=now)
            fold_buckets(session)
            session.commit()
            forget(client, dead)
            first = queue_rows(
                session, done.recovery.requeued, batch_size=settings.batch_size,
                publish=publish, all_urgent=True,
            )  # fmt: skip
            done.queued = sum(len(batch) for batch in first)
            for ready in claim_in_chunks(
                session, now=now, batch_size=settings.batch_size, requeue_after=requeue_after
            ):
                session.commit()
                rest = queue_rows(
                    session, [i for batch in ready for i in batch],
                    batch_size=settings.batch_size, publish=publish,
                )  # fmt: skip
                done.queued += sum(len(batch) for batch in rest)
    finally:
        client.close()
    _log_sweep(done)
    return done


def _log_sweep(done: Sweep) -> None:
    if done.broker_lost_data:
        log.warning("Redis came up without its data: %d queued rows queued again",
                    done.unqueued)  # fmt: skip
    if done.dead_owners:
        recovery = done.recovery
        log.warning(
            "%d worker processes stopped proving they were alive: of their rows, %d sent "
            "again, %d recorded as accepted by the relay, %d of unknown outcome",
            done.dead_owners, len(recovery.requeued), recovery.accepted, recovery.unknown,
        )  # fmt: skip
    elif done.queued:
        log.info("%d rows queued", done.queued)


@dataclass
class StartedSend:
    """What "send now", "resume" or a new alert put on its way."""

    issue_id: int | None = None
    alert_id: int | None = None
    planned: int = 0
    queued: int = 0


def _queue(
    runtime: Runtime,
    session: Session,
    started: StartedSend,
    publish: Publish | None,
    *,
    edition: str,
    now: datetime,
) -> None:
    """Queue the pending rows of `started`'s issue or alert right away (an alert's as
    urgent). Commits."""
    settings = runtime.settings
    queued = batches = 0
    for chunk in claim_in_chunks(
        session, now=now, batch_size=settings.batch_size,
        requeue_after=timedelta(seconds=settings.requeue_seconds),
        issue_id=started.issue_id, alert_id=started.alert_id,
    ):  # fmt: skip
        session.commit()
        if publish is not None:
            publish(chunk, urgent=started.alert_id is not None)
        queued += sum(len(batch) for batch in chunk)
        batches += len(chunk)
    session.commit()
    started.queued += queued
    with log_context(edition=edition, issue_id=started.issue_id, alert_id=started.alert_id):
        log.info("%d planned, %d queued in %d batches", started.planned, queued, batches)


def send_now(
    runtime: Runtime,
    *,
    edition: str | int,
    local_date: date | None,
    now: datetime,
    actor: str,
    publish: Publish | None,
) -> StartedSend:
    """Start an edition's issue for `local_date` (default: the issue of today in the
    publisher's zone; for a weekly edition, this week's) for every reader of it, whatever
    their hour; readers who had it already are not sent it again. Raises EditionNotFound,
    IssueError (a switched-off edition, a cancelled issue).

    A switched-off edition is refused here rather than in each adapter: the schedule skips
    it, and neither the desk nor the API nor any later caller may send it by hand."""
    with runtime.session() as session:
        chosen = get_edition(session, edition)
        if not chosen.active:
            raise IssueError(f"the {chosen.name} is switched off; switch it on to send it")
        today = local_today(now, runtime.settings.default_timezone)
        day = local_date or issue_date(chosen, today)
        issue = issue_for(session, chosen, day, now=now)
        if issue.status is IssueStatus.CANCELLED:
            raise IssueError("this issue was cancelled; it cannot be sent")
        if issue.status is IssueStatus.PAUSED:
            resume(session, issue, now=now)
        issue.sent_now_at = now
        record(session, actor=actor, action="issue.send_now", target=f"{chosen.slug}/{day}",
               now=now)  # fmt: skip
        session.commit()
        started = StartedSend(issue_id=issue.id)
        for chunk in plan_in_chunks(session, now=now, force=True, editions=[chosen],
                                    local_date=day, committed=True):  # fmt: skip
            started.planned += chunk.result.planned
            session.commit()
        _queue(runtime, session, started, publish, edition=chosen.slug, now=now)
        return started


def change_issue(
    runtime: Runtime, *, issue_id: int, action: str, now: datetime, actor: str,
    publish: Publish | None,
) -> StartedSend:  # fmt: skip
    """Pause, resume or cancel an issue's send ("pause" | "resume" | "cancel").
    Raises IssueError."""
    with runtime.session() as session:
        issue = get_issue(session, issue_id)
        started = StartedSend(issue_id=issue.id)
        if action == "pause":
            pause(session, issue, now=now)
        elif action == "resume":
            resume(session, issue, now=now)
        elif action == "cancel":
            cancel(session, issue, now=now)
        else:
            raise IssueError(f"unknown action {action!r}")
        target = f"{issue.edition.slug}/{issue.local_date}"
        record(session, actor=actor, action=f"issue.{action}", target=target, now=now)
        session.commit()
        if action == "resume":
            _queue(runtime, session, started, publish, edition=issue.edition.slug, now=now)
        return started


def change_alert(
    runtime: Runtime, *, alert_id: int, action: str, now: datetime, actor: str,
    publish: Publish | None,
) -> StartedSend:  # fmt: skip
    """Pause, resume or cancel a breaking alert's send. Raises AlertError."""
    statuses = {"pause": IssueStatus.PAUSED, "resume": IssueStatus.OPEN,
                "cancel": IssueStatus.CANCELLED}  # fmt: skip
    if action not in statuses:
        raise AlertError(f"unknown action {action!r}")
    with runtime.session() as session:
        alert = session.get(BreakingAlert, alert_id)
        if alert is None:
            raise AlertError(f"there is no alert {alert_id}")
        set_alert_status(session, alert, statuses[action], now=now)
        record(session, actor=actor, action=f"alert.{action}", target=f"alert/{alert_id}",
               now=now)  # fmt: skip
        session.commit()
        started = StartedSend(alert_id=alert_id)
        if action == "resume":
            _queue(runtime, session, started, publish, edition=alert_key(alert_id), now=now)
        return started


def start_alert(
    runtime: Runtime, *, article_id: int, now: datetime, actor: str, publish: Publish | None
) -> StartedSend:
    """Alert the readers of an article's topics who asked for alerts. Raises AlertError."""
    with runtime.session() as session:
        alert = create_alert(session, article_id=article_id, created_by=actor, now=now)
        record(session, actor=actor, action="alert.create", target=f"article/{article_id}",
               now=now)  # fmt: skip
        plan, _ = plan_alert(session, alert, now=now, per_day=runtime.settings.alerts_per_day)
        session.commit()
        started = StartedSend(alert_id=alert.id, planned=plan.planned)
        _queue(runtime, session, started, publish, edition=alert_key(alert.id), now=now)
        return started


def alert_if_breaking(
    runtime: Runtime,
    article: Article,
    token: ApiToken,
    *,
    changed: bool,
    now: datetime,
    publish: Publish | None,
) -> StartedSend | None:
    """Start the alert about an article a push just created or updated (`changed`) with
    `breaking: true`, once, when the pushing token has the "alerts" scope. Returns what was
    started, or None (not breaking, not changed, no scope, alerted already)."""
    if not (changed and article.breaking and allows(token, "alerts")):
        return None
    with runtime.session() as session:
        exists = session.scalar(
            select(BreakingAlert.id).where(BreakingAlert.article_id == article.id)
        )
    if exists is not None:
        return None
    try:
        return start_alert(
            runtime,
            article_id=article.id,
            now=now,
            actor=token_actor(token.name),
            publish=publish,
        )
    except (AlertError, IntegrityError):
        return None  # alerted by someone else in the meantime


def plan_keyword_alerts_and_queue(
    runtime: Runtime, *, now: datetime, publish: Publish | None
) -> KeywordAlertPlan:
    """Plan the keyword alerts now due (alerts.digests.as_it_happens), commit, and hand
    their rows over as urgent batches. A row whose message is lost is queued again by the
    tick after REQUEUE_SECONDS, like any other."""
    settings = runtime.settings
    with runtime.session() as session:
        plan, ids = plan_keyword_alerts(
            session, now=now, minutes=settings.keyword_alert_minutes,
            per_day=settings.alerts_per_day,
            queued_until=now + timedelta(seconds=settings.requeue_seconds),
        )  # fmt: skip
        session.commit()
        batches = queue_rows(session, ids, batch_size=settings.batch_size, publish=publish)
    if plan.readers:
        log.info(
            "keyword alerts: %d readers with news, %d planned, %d waiting for their window, "
            "%d at their day's limit, %d paused; %d batches queued",
            plan.readers, plan.planned, plan.held_window, plan.over_cap, plan.paused,
            len(batches),
        )  # fmt: skip
    return plan


def prune(runtime: Runtime, *, now: datetime, keep_days: int | None = None) -> Pruned:
    """Delete the ledger rows older than LEDGER_KEEP_DAYS local dates (or `keep_days`),
    a chunk per transaction, drop the weekly partitions past it and make the weeks ahead
    (alerts.ledger.retention), having first recorded on each finished issue the articles
    it carried (the archive's)."""
    keep = keep_days if keep_days is not None else runtime.settings.ledger_keep_days
    with runtime.session() as session:
        # First, what each finished issue carried: the archive's list outlives the rows.
        recorded = record_issue_articles(session, today=now.date())
        if recorded:
            log.info("the articles of %d finished issues recorded for the archive", recorded)
        pruned = prune_ledger(session, today=now.date(), keep_days=keep)
    log.info(
        "ledger kept from %s: %d rows and %d selections of older dates deleted; "
        "partitions dropped: %s; made ahead: %s",
        pruned.cutoff.isoformat(), pruned.deliveries, pruned.selections,
        ", ".join(pruned.dropped) or "none", ", ".join(pruned.made) or "none",
    )  # fmt: skip
    return pruned


def _lease(runtime: Runtime) -> timedelta:
    return timedelta(seconds=runtime.settings.claim_lease_seconds)


def _suppress_nonexistent(session: Session, refused: list[Outgoing], *, secret: str) -> None:
    """Readers whose address the relay said does not exist: suppressed as a hard bounce,
    in the transaction that records the refusal (send_batch's `on_refused`)."""
    suppressed = suppress_refused_recipients(
        session, [row.id for row in refused], secret=secret, now=utcnow()
    )
    if suppressed:
        log.info("%d readers suppressed: their address does not exist", len(suppressed))


def send_queued_batch(
    runtime: Runtime, ids: list[int], *, on_message: Callable[[], None] | None = None
) -> BatchResult:
    """Send one batch of ledger rows (a worker's task, or in-process without a broker).

    Every line logged meanwhile, here or deeper down, names the batch and its send
    (alerts.ledger.outgoing.batch_log_context, from the rows the send then uses: they are
    read once); one line at the end says how it went.
    """
    with runtime.session() as session, short_idle_transactions(session, IDLE_IN_TRANSACTION):
        rows = load_outgoing(session, ids)  # once: the batch's name and its send
        with batch_log_context(ids, rows):
            try:
                result = send_batch(
                    session,
                    ids,
                    composer=runtime.composer(session),
                    transport=runtime.transport,
                    lease=_lease(runtime),
                    group_size=runtime.settings.send_group_size,
                    retry=runtime.retry_policy(),
                    on_message=on_message,
                    rows=rows,
                    liveness=runtime.liveness,
                    on_refused=partial(_suppress_nonexistent, secret=runtime.settings.secret_key),
                )
            except Exception as error:
                # The traceback is the caller's to log (Celery does); this line ties it to
                # the batch.
                log.warning("the batch stopped: %s", first_line(error)[:300])
                raise
            log.info(
                "batch done: %d sent, %d failed, %d to retry, %d no longer subscribed",
                result.sent, result.failed, result.retrying, result.not_mailable,
            )  # fmt: skip
            return result
