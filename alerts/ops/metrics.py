"""Prometheus metrics for `GET /metrics`, computed at scrape time from the database and Redis.

Nothing is counted in process memory: every web process on every machine answers the same
figures from the shared ledger and broker, so the exposition is multi-process safe without
prometheus-client's multiprocess mode, and a restarted process loses nothing. The two task
counters live in Redis too (bumped by every process that publishes or runs a task, see
alerts.tasks.queues). A scrape costs a few aggregate queries, two Redis round trips, (optionally)
one worker ping and one EHLO to each SMTP relay, side by side.

Figures that come from the ledger are database-wide: when several web processes are
scraped, aggregate them with `max`, not `sum` (see docs/prometheus-alerts.yml).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import redis
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import ColumnElement, Float, case, cast, func, select
from sqlalchemy.orm import Session

from alerts.logs import first_line
from alerts.models import Delivery, DeliveryStatus, FeedbackEvent, FeedbackKind, FeedSource
from alerts.ops.console import sends_in_progress
from alerts.ops.health import OK, check_relays
from alerts.runtime import Runtime
from alerts.tasks.app import QUEUES, create_celery
from alerts.tasks.beat import LAST_TICK_KEY
from alerts.tasks.queues import read_broker
from subscribers.database import utcnow

log = logging.getLogger(__name__)

RECENT = timedelta(hours=24)
LATENCY_WINDOW = timedelta(hours=1)
# Seconds from planning a delivery (created_at) to the relay accepting it (sent_at).
LATENCY_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
REPLY_CLASSES = ("2xx", "4xx", "5xx", "none")
_BOUNCES = {FeedbackKind.HARD_BOUNCE: "hard", FeedbackKind.SOFT_BOUNCE: "soft"}
_WAITING = (DeliveryStatus.PENDING, DeliveryStatus.CLAIMED)
# How a message's send ended: a hard bounce after the relay's 250 is `bounced`, once.
_ENDED = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.BOUNCED)
# A send's counts as alerts.ledger.states.Progress names them (`pending` includes `claimed`).
SEND_STATES = ("pending", "sending", "sent", "failed", "bounced", "suppressed", "cancelled",
               "skipped")  # fmt: skip


def render_metrics(
    runtime: Runtime,
    *,
    now: datetime | None = None,
    probe_workers: bool = True,
    worker_timeout: float = 0.5,
    probe_relays: bool = True,
) -> tuple[bytes, str]:
    """The exposition body and its content type, for a view to return as they are."""
    registry = CollectorRegistry()
    registry.register(
        NewsalertsCollector(
            runtime,
            now=now or utcnow(),
            probe_workers=probe_workers,
            worker_timeout=worker_timeout,
            probe_relays=probe_relays,
        )
    )
    return generate_latest(registry), CONTENT_TYPE_LATEST


class NewsalertsCollector(Collector):
    """One scrape's worth of metrics; build a new one per scrape (it holds `now`)."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        now: datetime,
        probe_workers: bool = True,
        worker_timeout: float = 0.5,
        queues: Sequence[str] = QUEUES,
        probe_relays: bool = True,
    ) -> None:
        self.runtime = runtime
        self.now = now
        self.probe_workers = probe_workers
        self.worker_timeout = worker_timeout
        self.queues = tuple(queues)
        self.probe_relays = probe_relays
        # Rows written before the ledger named its relay (or never attempted) count
        # against the only relay, or "unknown" when there are several.
        self.relays = [relay.name for relay in runtime.settings.relays]
        self.relay = self.relays[0] if len(self.relays) == 1 else "unknown"

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "newsalerts_up", "1 if the service answered this scrape, else 0.", labels=["service"]
        )
        metrics: list[Metric] = []
        try:  # all of a service's figures, or none of them
            with self.runtime.session() as session:
                metrics.extend(list(self._database(session)))
            up.add_metric(["database"], 1)
        except Exception as error:  # an unreachable database is what this scrape reports
            log.warning("metrics: the database did not answer: %s", first_line(error))
            up.add_metric(["database"], 0)
        if self.runtime.settings.redis_url:
            try:
                metrics.extend(self._redis(self.runtime.settings.redis_url))
                up.add_metric(["redis"], 1)
            except Exception as error:
                log.warning("metrics: Redis did not answer: %s", first_line(error))
                up.add_metric(["redis"], 0)
            else:
                if self.probe_workers:
                    metrics.append(self._workers())
        if self.probe_relays:
            for relay, state in check_relays(self.runtime.settings.relays, timeout=2.0).items():
                up.add_metric([relay], 1 if state == OK else 0)
        yield up
        yield from metrics

    # -- the database --------------------------------------------------------------------

    def _database(self, session: Session) -> Iterable[Metric]:
        yield from self._ledger(session)
        yield from self._sends(session)
        yield self._latency(session)
        yield from self._feedback(session)
        yield self._feeds(session)

    def _ledger(self, session: Session) -> Iterable[Metric]:
        since = self.now - RECENT
        first_digit = func.substr(Delivery.smtp_reply, 1, 1)
        rows = session.execute(
            select(
                Delivery.status,
                first_digit,
                Delivery.relay,
                func.count(),
                func.sum(case((Delivery.created_at >= since, 1), else_=0)),
                func.min(Delivery.created_at),
            ).group_by(Delivery.status, first_digit, Delivery.relay)
        )
        total = dict.fromkeys(DeliveryStatus, 0)
        recent = dict.fromkeys(DeliveryStatus, 0)
        messages: dict[tuple[str, str, str], int] = {
            (result, relay, reply): 0
            for result in ("sent", "failed", "bounced")
            for relay in self.relays
            for reply in REPLY_CLASSES
        }
        oldest: datetime | None = None
        for status, digit, relay, count, in_window, first_created in rows:
            total[status] += count
            recent[status] += int(in_window or 0)
            if status in _ENDED:
                key = (status.value, relay or self.relay, reply_class(digit))
                messages[key] = messages.get(key, 0) + count
            if status in _WAITING and (oldest is None or first_created < oldest):
                oldest = first_created

        by_state = GaugeMetricFamily(
            "newsalerts_deliveries", "Ledger rows by state, all time.", labels=["state"]
        )
        last_day = GaugeMetricFamily(
            "newsalerts_deliveries_last_24h",
            "Ledger rows by state, planned in the last 24 hours.",
            labels=["state"],
        )
        for status in DeliveryStatus:
            by_state.add_metric([status.value], total[status])
            last_day.add_metric([status.value], recent[status])
        sent_failed = CounterMetricFamily(
            "newsalerts_messages",
            "Deliveries that ended sent, failed or bounced (accepted, then a hard bounce), "
            "by relay and the class of the relay's last reply (from the ledger: erasing a "
            "reader lowers it).",
            labels=["result", "relay", "reply_class"],
        )
        for (result, relay, reply), count in sorted(messages.items()):
            sent_failed.add_metric([result, relay, reply], count)
        age = (self.now - oldest).total_seconds() if oldest is not None else 0.0
        return [
            by_state,
            last_day,
            sent_failed,
            GaugeMetricFamily(
                "newsalerts_oldest_pending_delivery_age_seconds",
                "Age of the oldest pending or claimed delivery (0 when none waits).",
                value=max(age, 0.0),
            ),
        ]

    def _sends(self, session: Session) -> Iterable[Metric]:
        """Each send in progress as the console shows it: its rows by state, its rate and
        whether it is paused. A send leaves these series once its last row is settled."""
        rows = GaugeMetricFamily(
            "newsalerts_send_deliveries",
            "Ledger rows of each send in progress (an issue or a breaking alert with rows "
            "not settled yet), by state; pending includes claimed.",
            labels=["send", "state"],
        )
        rate = GaugeMetricFamily(
            "newsalerts_send_messages_per_minute",
            "Messages of each send in progress accepted by the relay in the last minute.",
            labels=["send"],
        )
        paused = GaugeMetricFamily(
            "newsalerts_send_paused",
            "1 while a send in progress is paused, else 0.",
            labels=["send"],
        )
        for send in sends_in_progress(session, now=self.now):
            progress = send.progress
            for state in SEND_STATES:
                rows.add_metric([send.key, state], getattr(progress, state))
            rate.add_metric([send.key], progress.per_minute)
            paused.add_metric([send.key], 1 if send.status == "paused" else 0)
        return [rows, rate, paused]

    def _latency(self, session: Session) -> Metric:
        seconds = _send_seconds(session.get_bind().dialect.name)
        columns: list[ColumnElement[Any]] = [func.count(), func.sum(seconds)]
        columns += [func.sum(case((seconds <= bound, 1), else_=0)) for bound in LATENCY_BUCKETS]
        row = session.execute(
            select(*columns).where(
                Delivery.status == DeliveryStatus.SENT,
                Delivery.sent_at >= self.now - LATENCY_WINDOW,
            )
        ).one()
        count, total, *within = (value or 0 for value in row)
        buckets = [(str(b), float(n)) for b, n in zip(LATENCY_BUCKETS, within, strict=True)]
        return HistogramMetricFamily(
            "newsalerts_send_latency_seconds",
            "From planning to the relay's acceptance, for deliveries sent in the last hour "
            "(a sliding window: read the buckets directly, not with rate()).",
            buckets=[*buckets, ("+Inf", float(count))],
            sum_value=float(total),
        )

    def _feedback(self, session: Session) -> Iterable[Metric]:
        rows = session.execute(
            select(
                FeedbackEvent.kind,
                func.count(),
                func.sum(case((FeedbackEvent.occurred_at >= self.now - RECENT, 1), else_=0)),
            ).group_by(FeedbackEvent.kind)
        )
        total = dict.fromkeys(FeedbackKind, 0)
        recent = dict.fromkeys(FeedbackKind, 0)
        for kind, count, in_window in rows:
            total[kind], recent[kind] = count, int(in_window or 0)
        bounces = CounterMetricFamily(
            "newsalerts_bounces", "Bounce reports recorded, all time.", labels=["kind"]
        )
        bounces_recent = GaugeMetricFamily(
            "newsalerts_bounces_last_24h", "Bounce reports of the last 24 hours.", labels=["kind"]
        )
        for kind, label in _BOUNCES.items():
            bounces.add_metric([label], total[kind])
            bounces_recent.add_metric([label], recent[kind])
        complaint = FeedbackKind.COMPLAINT
        return [
            bounces,
            bounces_recent,
            CounterMetricFamily(
                "newsalerts_complaints", "Complaints recorded, all time.", value=total[complaint]
            ),
            GaugeMetricFamily(
                "newsalerts_complaints_last_24h",
                "Complaints of the last 24 hours.",
                value=recent[complaint],
            ),
        ]

    def _feeds(self, session: Session) -> Metric:
        lag = GaugeMetricFamily(
            "newsalerts_feed_lag_seconds",
            "Seconds since each feed source was last fetched successfully.",
            labels=["source"],
        )
        rows = session.execute(
            select(FeedSource.url, FeedSource.last_fetched_at)
            .where(FeedSource.last_fetched_at.is_not(None))
            .order_by(FeedSource.url)
        )
        for url, fetched in rows:
            if fetched is not None:
                lag.add_metric([url], max((self.now - fetched).total_seconds(), 0.0))
        return lag

    # -- the broker ----------------------------------------------------------------------

    def _redis(self, url: str) -> list[Metric]:
        client = _client(url)
        try:
            broker = read_broker(client, queues=self.queues, now=self.now.timestamp())
            last_tick = client.get(LAST_TICK_KEY)
        finally:
            client.close()
        depth = GaugeMetricFamily(
            "newsalerts_queue_depth",
            "Messages waiting in each Celery queue, priority sub-queues included.",
            labels=["queue"],
        )
        oldest = GaugeMetricFamily(
            "newsalerts_queue_oldest_message_age_seconds",
            "Age of the oldest message waiting in each queue (0 when none waits).",
            labels=["queue"],
        )
        for queue in broker.queues:
            depth.add_metric([queue.name], queue.waiting)
            oldest.add_metric([queue.name], queue.oldest_waiting_seconds or 0.0)
        metrics: list[Metric] = [
            depth,
            oldest,
            GaugeMetricFamily(
                "newsalerts_queue_unacked",
                "Messages taken by workers and not yet acknowledged (reserved or running).",
                value=broker.unacked,
            ),
            CounterMetricFamily(
                "newsalerts_tasks_published",
                "Celery tasks published by any process (counted in Redis).",
                value=broker.published_total,
            ),
            CounterMetricFamily(
                "newsalerts_tasks_finished",
                "Celery tasks workers finished, whatever the outcome (counted in Redis).",
                value=broker.finished_total,
            ),
        ]
        if last_tick is not None:
            metrics.append(
                GaugeMetricFamily(
                    "newsalerts_scheduler_last_tick_timestamp_seconds",
                    "Unix time of the scheduler's last completed tick.",
                    value=float(last_tick),
                )
            )
        return metrics

    def _workers(self) -> Metric:
        app = create_celery(self.runtime.settings)
        try:
            replies = app.control.ping(timeout=self.worker_timeout) or []
        except Exception:
            log.warning("metrics: the worker ping failed", exc_info=True)
            replies = []
        finally:
            app.close()
        return GaugeMetricFamily(
            "newsalerts_workers",
            "Celery workers that answered a ping during this scrape.",
            value=len({name for reply in replies for name in reply}),
        )


def reply_class(first_character: str | None) -> str:
    """'2xx', '4xx' or '5xx' from the first character of an SMTP reply; else 'none'."""
    if first_character in ("2", "4", "5"):
        return f"{first_character}xx"
    return "none"


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)


def _send_seconds(dialect: str) -> ColumnElement[float]:
    """`sent_at - created_at` in seconds, as SQL for the given database."""
    if dialect == "sqlite":
        days = func.julianday(Delivery.sent_at) - func.julianday(Delivery.created_at)
        return cast(days * 86400.0, Float)
    return cast(func.extract("epoch", Delivery.sent_at - Delivery.created_at), Float)
