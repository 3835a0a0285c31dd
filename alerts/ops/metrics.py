"""Prometheus metrics for `GET /metrics`, read at scrape time from the database and Redis.

Nothing is counted in process memory: every web process on every machine answers the same
figures from the shared database and broker, so the exposition is multi-process safe without
prometheus-client's multiprocess mode, and a restarted process loses nothing. The ledger's
figures come from its running counts (alerts.ledger.counts), kept by the database as rows
change, so a scrape costs the same at a thousand ledger rows or a hundred million, and
every `_total` series is a true counter: erasing a reader or dropping old ledger rows never
lowers it. The ledger itself is read only where rows are live: sends in progress and the
oldest row still waiting. The two task counters live in Redis (bumped by every process that
publishes or runs a task, see alerts.tasks.queues).

A scrape neither broadcasts to the workers nor connects to the relays: the workers that are
up are the keys they keep in Redis (alerts.tasks.presence), and each relay's health is when
it last took and last refused a message. The active checks (a worker ping, an EHLO to each
relay) are for `/readyz` and `newsalerts ops status`.

Figures that come from the database are database-wide: when several web processes are
scraped, aggregate them with `max`, not `sum` (see docs/prometheus-alerts.yml).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from itertools import accumulate

import redis
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from alerts.ledger.counts import LATENCY_BUCKETS, Count, ledger_counts
from alerts.logs import first_line
from alerts.models import DeliveryStatus, FeedbackEvent, FeedbackKind, FeedSource
from alerts.ops.console import oldest_pending, sends_in_progress
from alerts.ops.health import relay_activity
from alerts.runtime import Runtime
from alerts.tasks.app import QUEUES
from alerts.tasks.beat import LAST_TICK_KEY
from alerts.tasks.presence import read_presence
from alerts.tasks.queues import read_broker
from subscribers.database import utcnow

log = logging.getLogger(__name__)

RECENT = timedelta(hours=24)
REPLY_CLASSES = ("2xx", "4xx", "5xx", "none")
_BOUNCES = {FeedbackKind.HARD_BOUNCE: "hard", FeedbackKind.SOFT_BOUNCE: "soft"}
# How a message's send ended: a hard bounce after the relay's 250 is `bounced`, once.
_ENDED = (DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.BOUNCED)
# A send's counts as alerts.ledger.states.Progress names them (`pending` includes `claimed`).
SEND_STATES = ("pending", "sending", "sent", "failed", "bounced", "suppressed", "cancelled",
               "skipped")  # fmt: skip


def render_metrics(
    runtime: Runtime, *, now: datetime | None = None, workers: bool = True
) -> tuple[bytes, str]:
    """The exposition body and its content type, for a view to return as they are."""
    registry = CollectorRegistry()
    registry.register(NewsalertsCollector(runtime, now=now or utcnow(), workers=workers))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class NewsalertsCollector(Collector):
    """One scrape's worth of metrics; build a new one per scrape (it holds `now`)."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        now: datetime,
        workers: bool = True,
        queues: Sequence[str] = QUEUES,
    ) -> None:
        self.runtime = runtime
        self.now = now
        self.workers = workers
        self.queues = tuple(queues)
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
        yield up
        yield from metrics

    # -- the database --------------------------------------------------------------------

    def _database(self, session: Session) -> Iterable[Metric]:
        counts = ledger_counts(session, recent_from=self.now - RECENT)
        yield from self._ledger(session, counts)
        yield from self._sends(session)
        yield self._latency(counts)
        yield from self._relays(counts)
        yield from self._feedback(session)
        yield self._feeds(session)

    def _ledger(self, session: Session, counts: Sequence[Count]) -> Iterable[Metric]:
        total = dict.fromkeys(DeliveryStatus, 0)
        recent = dict.fromkeys(DeliveryStatus, 0)
        messages: dict[tuple[str, str, str], int] = {
            (result, relay, reply): 0
            for result in ("sent", "failed", "bounced")
            for relay in self.relays
            for reply in REPLY_CLASSES
        }
        for count in counts:
            total[count.status] += count.rows
            recent[count.status] += count.recent_rows
            if count.status in _ENDED:
                key = (count.status.value, count.relay or self.relay, count.reply_class)
                messages[key] = messages.get(key, 0) + count.entered
        oldest = oldest_pending(session)

        by_state = GaugeMetricFamily(
            "newsalerts_deliveries", "Ledger rows by state, all time.", labels=["state"]
        )
        last_day = GaugeMetricFamily(
            "newsalerts_deliveries_last_24h",
            "Ledger rows by state, planned in the last 24 hours (from the start of the hour).",
            labels=["state"],
        )
        for status in DeliveryStatus:
            by_state.add_metric([status.value], total[status])
            last_day.add_metric([status.value], recent[status])
        sent_failed = CounterMetricFamily(
            "newsalerts_messages",
            "Deliveries that ended sent, failed or bounced (accepted, then a hard bounce), "
            "by relay and the class of the relay's last reply: each time a row ended so (a "
            "retried row counts its failure and its success). Never goes down.",
            labels=["result", "relay", "reply_class"],
        )
        for (result, relay, reply), number in sorted(messages.items()):
            sent_failed.add_metric([result, relay, reply], number)
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

    def _latency(self, counts: Sequence[Count]) -> Metric:
        within = [0] * (len(LATENCY_BUCKETS) + 1)
        total = 0.0
        for count in counts:
            if count.status == DeliveryStatus.SENT and count.latency_le >= 0:
                within[min(count.latency_le, len(LATENCY_BUCKETS))] += count.entered
                total += count.seconds
        cumulative = list(accumulate(within))
        buckets = [
            (str(bound), float(n))
            for bound, n in zip(LATENCY_BUCKETS, cumulative[:-1], strict=True)
        ]
        return HistogramMetricFamily(
            "newsalerts_send_latency_seconds",
            "From planning to the relay's acceptance, for every delivery sent (a counter: "
            "use rate() over a window).",
            buckets=[*buckets, ("+Inf", float(cumulative[-1]))],
            sum_value=total,
        )

    def _relays(self, counts: Sequence[Count]) -> Iterable[Metric]:
        """When each relay last took and last refused a message, from the ledger's counts:
        a relay's health without connecting to it."""
        activity = relay_activity(counts, self.relays)
        sent = GaugeMetricFamily(
            "newsalerts_relay_last_sent_timestamp_seconds",
            "Unix time a relay last accepted a message (absent until it has).",
            labels=["relay"],
        )
        failed = GaugeMetricFamily(
            "newsalerts_relay_last_failed_timestamp_seconds",
            "Unix time a message last failed on a relay (absent until one has).",
            labels=["relay"],
        )
        for relay, seen in sorted(activity.items()):
            if seen.last_sent is not None:
                sent.add_metric([relay], seen.last_sent)
            if seen.last_failed is not None:
                failed.add_metric([relay], seen.last_failed)
        return [sent, failed]

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
            workers = self._workers(client) if self.workers else None
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
        if workers is not None:
            metrics.append(workers)
        if last_tick is not None:
            metrics.append(
                GaugeMetricFamily(
                    "newsalerts_scheduler_last_tick_timestamp_seconds",
                    "Unix time of the scheduler's last completed tick.",
                    value=float(last_tick),
                )
            )
        return metrics

    def _workers(self, client: redis.Redis) -> Metric:
        return GaugeMetricFamily(
            "newsalerts_workers",
            "Celery workers whose key in Redis is alive (renewed every few seconds).",
            value=len(read_presence(client)),
        )


def reply_class(first_character: str | None) -> str:
    """'2xx', '4xx' or '5xx' from the first character of an SMTP reply; else 'none'."""
    if first_character in ("2", "4", "5"):
        return f"{first_character}xx"
    return "none"


def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=3, socket_connect_timeout=3)
