"""What every view needs, built once per app: settings, database, guard, limiter, notifier."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app, g
from sqlalchemy.orm import Session

from alerts.delivery.notices import send_notice
from alerts.jobs import send_queued_batch
from alerts.ledger.queue import Publish
from alerts.runtime import Runtime
from alerts.web.ratelimit import (
    MemoryRateLimiter,
    RateLimiter,
    RedisRateLimiter,
    limiter_client,
)
from alerts.web.security import FormGuard

log = logging.getLogger(__name__)
WORDING_VERSION = "2026-11-a"
# The name of the threads that send batches without a broker (tests wait for them).
SENDING_THREAD = "newsalerts-send"

# Hands a notice of the outbox (by id, after its row is committed) to a worker.
Notifier = Callable[[int], None]


@dataclass
class WebContext:
    runtime: Runtime
    guard: FormGuard
    limiter: RateLimiter
    notify: Notifier
    # Hands batches of ledger ids to the workers (or, without Redis, to a thread here).
    publish: Publish

    @classmethod
    def build(cls, runtime: Runtime) -> WebContext:
        settings = runtime.settings
        limiter: RateLimiter
        if settings.redis_url:
            limiter = RedisRateLimiter(limiter_client(settings.redis_url))
        else:
            limiter = MemoryRateLimiter()
        return cls(
            runtime=runtime,
            guard=FormGuard(settings.secret_key, min_seconds=settings.form_min_seconds),
            limiter=limiter,
            notify=_celery_notifier(runtime) if settings.uses_celery else _inline_notifier(runtime),
            publish=_celery_publisher(runtime)
            if settings.uses_celery
            else _thread_publisher(runtime),
        )


def _inline_notifier(runtime: Runtime) -> Notifier:
    def notify(notice_id: int) -> None:
        with runtime.session() as session:
            try:
                send_notice(session, notice_id, sender=runtime.notice_sender())
            except Exception:
                # The visitor's request succeeded and the notice is in the outbox: the
                # scheduler's tick sends it if this attempt could not even be recorded.
                log.exception("could not send notice %s", notice_id)

    return notify


def _celery_notifier(runtime: Runtime) -> Notifier:
    from alerts.tasks.app import SEND_NOTICE, create_celery

    app = create_celery(runtime.settings)

    def notify(notice_id: int) -> None:
        # The app routes notices to the urgent queue: a reader waits for this one.
        try:
            app.send_task(SEND_NOTICE, args=[notice_id])
        except Exception:
            # The broker is down: the notice is in the outbox, and the scheduler's tick
            # sends it once NOTICE_REQUEUE_SECONDS have passed. The visitor gets no 5xx.
            log.exception("could not queue notice %s; the tick will send it", notice_id)

    return notify


def _celery_publisher(runtime: Runtime) -> Publish:
    from alerts.tasks.app import create_celery
    from alerts.tasks.publishing import publisher_for

    return publisher_for(create_celery(runtime.settings))


def _thread_publisher(runtime: Runtime) -> Publish:
    """Without a broker (development), send in a background thread so the page answers;
    every batch starts at once, so nothing is more urgent than anything else."""

    def send(batches: list[list[int]]) -> None:
        for batch in batches:
            try:
                send_queued_batch(runtime, batch)
            except Exception:
                log.exception("sending a batch in-process failed")

    def publish(batches: list[list[int]], *, urgent: bool) -> None:
        threading.Thread(target=send, args=(batches,), name=SENDING_THREAD, daemon=True).start()

    return publish


def web_context() -> WebContext:
    context = current_app.extensions["newsalerts"]
    assert isinstance(context, WebContext)
    return context


def db() -> Session:
    """The request's database session, closed when the request ends."""
    if "db" not in g:
        g.db = web_context().runtime.sessions()
    session = g.db
    assert isinstance(session, Session)
    return session
