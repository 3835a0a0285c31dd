"""`render_metrics` against real databases (both backends) and the real Redis broker db.

The ledger is seeded with rows in every state, tasks are queued with no worker to take them
(one taken and left unacknowledged), and the exposition text is parsed back with
prometheus-client's own parser so every figure is checked exactly.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alerts.config import Settings, load_settings
from alerts.ledger.relay_names import relay_id
from alerts.models import (
    Cadence,
    Delivery,
    DeliveryStatus,
    Edition,
    FeedbackEvent,
    FeedbackKind,
    FeedSource,
    Issue,
    IssueStatus,
)
from alerts.ops.metrics import render_metrics
from alerts.runtime import Runtime
from alerts.tasks.app import BULK_QUEUE, URGENT_QUEUE, create_celery
from alerts.tasks.beat import LAST_TICK_KEY, record_tick, tick_is_recent
from alerts.tasks.handlers import SEND_BATCH, SEND_NOTICE
from subscribers.models import Subscriber
from tests.support.builders import reader
from tests.test_docker_compose import yaml_to_data

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
RELAY = "file://./outbox"  # the default SMTP_URL: the relay every ledger figure names
ROOT = Path(__file__).resolve().parents[3]
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def sample_values(body: bytes) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[name, frozenset(labels.items())]


def minutes(count: int) -> timedelta:
    return timedelta(minutes=count)


def seed_ledger(session: Session) -> None:
    """Eleven ledger rows, three feedback reports and two feed sources around NOW."""
    subscriber = reader(session, "metrics@example.com")
    session.flush()
    day = iter(range(1, 100))

    def row(status: DeliveryStatus, age: timedelta, **fields: Any) -> Delivery:
        created = NOW - age
        delivery = Delivery(
            edition=Cadence.DAILY,
            subscriber_id=subscriber.id,
            local_date=date(2026, 1, 1) + timedelta(days=next(day)),
            status=status,
            article_ids=[],
            created_at=created,
            **fields,
        )
        session.add(delivery)
        return delivery

    sent = DeliveryStatus.SENT
    accepted = "250 accepted"
    quick = row(
        sent, minutes(10), sent_at=NOW - minutes(10) + timedelta(seconds=3), smtp_reply=accepted
    )
    row(sent, minutes(30), sent_at=NOW - minutes(30) + timedelta(seconds=40), smtp_reply=accepted)
    row(sent, timedelta(hours=3), sent_at=NOW - minutes(50), smtp_reply=accepted)  # 7,800 s
    row(sent, timedelta(days=2), sent_at=NOW - timedelta(days=2), smtp_reply="written 1.eml")
    refused = row(DeliveryStatus.FAILED, minutes(60), smtp_reply="550 5.1.1 no such user")
    row(DeliveryStatus.FAILED, minutes(60), last_error="cannot connect to SMTP server")
    deferred = row(DeliveryStatus.FAILED, minutes(61), smtp_reply="421 4.7.0 try again later")
    row(DeliveryStatus.PENDING, minutes(15))
    row(DeliveryStatus.CLAIMED, minutes(20))
    row(DeliveryStatus.SKIPPED, timedelta(hours=26))
    row(DeliveryStatus.SUPPRESSED, timedelta(hours=2))
    session.flush()
    for key, delivery, kind, age in (
        ("hard", refused, FeedbackKind.HARD_BOUNCE, minutes(30)),
        ("soft", deferred, FeedbackKind.SOFT_BOUNCE, timedelta(hours=30)),
        ("arf", quick, FeedbackKind.COMPLAINT, minutes(60)),
    ):
        session.add(
            FeedbackEvent(
                report_key=key,
                delivery_id=delivery.id,
                subscriber_id=subscriber.id,
                kind=kind,
                source="dsn",
                occurred_at=NOW - age,
            )
        )
    session.add(
        FeedSource(
            url="https://news.example.com/feed.xml", last_fetched_at=NOW - timedelta(seconds=90)
        )
    )
    session.add(FeedSource(url="https://news.example.com/never.xml"))
    session.commit()


@pytest.fixture
def broker_settings(database_url: str, broker_url: str) -> Settings:
    return load_settings(database_url=database_url, redis_url=broker_url, _env_file=None)


@pytest.fixture
def runtime(broker_settings: Settings) -> Iterator[Runtime]:
    runtime = Runtime.from_settings(broker_settings)
    yield runtime
    runtime.close()


def test_every_figure_from_the_ledger_and_the_broker(
    session: Session, runtime: Runtime, broker_settings: Settings, broker_url: str
) -> None:
    seed_ledger(session)
    app = create_celery(broker_settings)
    for priority in (0, 0, 0, 9, 9):  # nobody consumes these: no worker runs in this test
        app.send_task(SEND_BATCH, args=[[1]], priority=priority)
    app.send_task(SEND_NOTICE, args=["confirm", 1])  # routed to the urgent queue
    record_tick(broker_url, NOW - timedelta(seconds=42))
    broker = redis.Redis.from_url(broker_url)
    # kombu's layout: a list per queue and priority level
    assert (broker.llen(BULK_QUEUE), broker.llen(BULK_QUEUE + "\x06\x169")) == (3, 2)
    with app.connection_for_write() as connection:
        # Taken and not acknowledged: what a worker's reserved or running task looks like.
        assert connection.default_channel.basic_get(BULK_QUEUE, no_ack=False) is not None
        body, content_type = render_metrics(runtime, now=NOW)
    app.close()

    assert content_type.startswith("text/plain")
    samples = sample_values(body)
    assert value(samples, "newsalerts_up", service="database") == 1
    assert value(samples, "newsalerts_up", service="redis") == 1

    everything = {"pending": 1, "claimed": 1, "sending": 0, "sent": 4, "failed": 3}
    everything |= {"skipped": 1, "suppressed": 1}
    for state, count in everything.items():
        assert value(samples, "newsalerts_deliveries", state=state) == count, state
    last_day = everything | {"sent": 3, "skipped": 0}
    for state, count in last_day.items():
        assert value(samples, "newsalerts_deliveries_last_24h", state=state) == count, state

    messages = {
        ("sent", "2xx"): 3,
        ("sent", "none"): 1,
        ("failed", "5xx"): 1,
        ("failed", "4xx"): 1,
        ("failed", "none"): 1,
    }
    for result in ("sent", "failed"):
        for reply in ("2xx", "4xx", "5xx", "none"):
            expected = messages.get((result, reply), 0)
            found = value(
                samples, "newsalerts_messages_total", result=result, relay=RELAY, reply_class=reply
            )
            assert found == expected, (result, reply)

    assert value(samples, "newsalerts_oldest_pending_delivery_age_seconds") == 1200

    # Every delivery ever sent (a counter since the ledger's counts: rate() gives a window):
    # 3 s, 40 s and 7,800 s from planning to acceptance, and one sent as it was planned.
    buckets = {
        labels["le"]: count
        for (name, labelset), count in samples.items()
        if name == "newsalerts_send_latency_seconds_bucket"
        for labels in [dict(labelset)]
    }
    assert buckets == {
        "1.0": 1,
        "5.0": 2,
        "15.0": 2,
        "30.0": 2,
        "60.0": 3,
        "120.0": 3,
        "300.0": 3,
        "600.0": 3,
        "1800.0": 3,
        "3600.0": 3,
        "+Inf": 4,
    }
    assert value(samples, "newsalerts_send_latency_seconds_count") == 4
    assert value(samples, "newsalerts_send_latency_seconds_sum") == pytest.approx(7843, abs=0.01)

    assert value(samples, "newsalerts_bounces_total", kind="hard") == 1
    assert value(samples, "newsalerts_bounces_total", kind="soft") == 1
    assert value(samples, "newsalerts_bounces_last_24h", kind="hard") == 1
    assert value(samples, "newsalerts_bounces_last_24h", kind="soft") == 0
    assert value(samples, "newsalerts_complaints_total") == 1
    assert value(samples, "newsalerts_complaints_last_24h") == 1

    lags = {
        dict(labels)["source"]: v for (n, labels), v in samples.items() if n.endswith("lag_seconds")
    }
    assert lags == {"https://news.example.com/feed.xml": 90}

    assert value(samples, "newsalerts_queue_depth", queue=BULK_QUEUE) == 4
    assert value(samples, "newsalerts_queue_depth", queue=URGENT_QUEUE) == 1
    assert value(samples, "newsalerts_queue_unacked") == 1
    assert value(samples, "newsalerts_workers") == 0
    tick = value(samples, "newsalerts_scheduler_last_tick_timestamp_seconds")
    assert tick == pytest.approx(NOW.timestamp() - 42)


def test_each_send_in_progress_has_its_rows_its_rate_and_whether_it_is_paused(
    session: Session, runtime: Runtime
) -> None:
    edition = Edition(slug="daily-brief", name="Daily briefing", created_at=NOW, updated_at=NOW)
    session.add(edition)
    session.flush()
    running, paused, finished = (
        Issue(
            edition_id=edition.id,
            local_date=date(2026, 11, day),
            pinned_ids=[],
            dropped_ids=[],
            created_at=NOW,
            updated_at=NOW,
            status=status,
        )
        for day, status in (
            (25, IssueStatus.OPEN),
            (24, IssueStatus.PAUSED),
            (23, IssueStatus.OPEN),
        )
    )
    session.add_all([running, paused, finished])
    session.flush()
    readers = iter(range(100))

    def rows(issue: Issue, status: DeliveryStatus, count: int, **fields: Any) -> None:
        for _ in range(count):
            subscriber = reader(session, f"send{next(readers)}@example.com")
            session.flush()
            session.add(
                Delivery(
                    edition=edition.slug,
                    subscriber_id=subscriber.id,
                    local_date=issue.local_date,
                    issue_id=issue.id,
                    status=status,
                    article_ids=[],
                    created_at=NOW - minutes(5),
                    **fields,
                )
            )

    rows(running, DeliveryStatus.SENT, 3, sent_at=NOW - timedelta(seconds=20))
    rows(running, DeliveryStatus.SENT, 1, sent_at=NOW - minutes(3))  # not in the last minute
    rows(running, DeliveryStatus.SENDING, 2)
    rows(running, DeliveryStatus.CLAIMED, 1)
    rows(running, DeliveryStatus.PENDING, 4)
    rows(running, DeliveryStatus.FAILED, 1, smtp_reply="550 5.1.1 no such user")
    rows(paused, DeliveryStatus.PENDING, 2)
    rows(finished, DeliveryStatus.SENT, 2, sent_at=NOW - minutes(1))
    session.commit()

    samples = sample_values(render_metrics(runtime, now=NOW, workers=False)[0])
    key = f"issue-{running.id}"
    expected = {"pending": 5, "sending": 2, "sent": 4, "failed": 1}
    expected |= {"suppressed": 0, "cancelled": 0, "skipped": 0}
    for state, count in expected.items():
        assert value(samples, "newsalerts_send_deliveries", send=key, state=state) == count
    assert value(samples, "newsalerts_send_messages_per_minute", send=key) == 3
    assert value(samples, "newsalerts_send_paused", send=key) == 0
    waiting = f"issue-{paused.id}"
    assert value(samples, "newsalerts_send_deliveries", send=waiting, state="pending") == 2
    assert value(samples, "newsalerts_send_paused", send=waiting) == 1
    labelled = {dict(labels).get("send") for _, labels in samples}
    assert f"issue-{finished.id}" not in labelled  # every row settled: no longer in progress
    assert labelled >= {key, waiting}


def test_an_empty_install_reports_zeros_not_gaps(runtime: Runtime) -> None:
    samples = sample_values(render_metrics(runtime, now=NOW, workers=False)[0])
    assert value(samples, "newsalerts_deliveries", state="pending") == 0
    assert value(samples, "newsalerts_oldest_pending_delivery_age_seconds") == 0
    assert value(samples, "newsalerts_send_latency_seconds_count") == 0
    assert value(samples, "newsalerts_queue_depth", queue=BULK_QUEUE) == 0
    assert value(samples, "newsalerts_queue_depth", queue=URGENT_QUEUE) == 0
    names = {name for name, _ in samples}
    # No tick recorded yet, and no worker probe asked for.
    assert "newsalerts_scheduler_last_tick_timestamp_seconds" not in names
    assert "newsalerts_workers" not in names


def test_unreachable_services_are_reported_not_raised(tmp_path: Path) -> None:
    settings = load_settings(
        database_url="postgresql://nobody@127.0.0.1:9/none",
        redis_url="redis://127.0.0.1:9/0",
        smtp_url="smtp://127.0.0.1:9",
        _env_file=None,
    )
    runtime = Runtime.from_settings(settings)
    try:
        samples = sample_values(render_metrics(runtime, now=NOW)[0])
    finally:
        runtime.close()
    assert samples == {
        ("newsalerts_up", frozenset({("service", "database")})): 0,
        ("newsalerts_up", frozenset({("service", "redis")})): 0,
    }  # a scrape does not connect to relays: their health is their recent outcomes


def test_messages_are_counted_by_the_relay_that_took_them(database_url: str) -> None:
    settings = load_settings(
        database_url=database_url,
        redis_url=None,
        smtp_url="smtp://relay-a.test:25,smtp://relay-b.test:2525",
        _env_file=None,
    )
    runtime = Runtime.from_settings(settings)
    try:
        with runtime.session() as session:
            subscriber = reader(session, "relays@example.com")
            session.flush()
            for day, relay, status, reply in (
                (1, "smtp:relay-a.test:25", DeliveryStatus.SENT, "250 ok"),
                (2, "smtp:relay-b.test:2525", DeliveryStatus.SENT, "250 ok"),
                (3, "smtp:relay-b.test:2525", DeliveryStatus.SENT, "250 ok"),
                (4, "smtp:relay-b.test:2525", DeliveryStatus.FAILED, "550 no"),
                (5, None, DeliveryStatus.SENT, "250 ok"),  # written before relays were named
            ):
                sent_at = NOW + timedelta(seconds=day) if status is DeliveryStatus.SENT else None
                session.add(Delivery(
                    edition=Cadence.DAILY, subscriber_id=subscriber.id,
                    local_date=date(2026, 1, day), status=status, created_at=NOW,
                    relay_id=relay_id(session, relay) if relay else None,
                    smtp_reply=reply, sent_at=sent_at,
                ))  # fmt: skip
            session.commit()
        samples = sample_values(render_metrics(runtime, now=NOW)[0])
    finally:
        runtime.close()

    def messages(result: str, relay: str, reply: str) -> float:
        return value(samples, "newsalerts_messages_total", result=result, relay=relay,
                     reply_class=reply)  # fmt: skip

    assert messages("sent", "smtp:relay-a.test:25", "2xx") == 1
    assert messages("sent", "smtp:relay-b.test:2525", "2xx") == 2
    assert messages("failed", "smtp:relay-b.test:2525", "5xx") == 1
    assert messages("failed", "smtp:relay-a.test:25", "5xx") == 0  # every relay has a series
    assert messages("sent", "unknown", "2xx") == 1

    # Each relay's health is when it last took a message and last refused one.
    def last(kind: str) -> dict[str, float]:
        name = f"newsalerts_relay_last_{kind}_timestamp_seconds"
        return {dict(labels)["relay"]: v for (n, labels), v in samples.items() if n == name}

    assert last("sent") == pytest.approx({
        "smtp:relay-a.test:25": NOW.timestamp() + 1,
        "smtp:relay-b.test:2525": NOW.timestamp() + 3,
        "unknown": NOW.timestamp() + 5,
    }, abs=0.01)  # fmt: skip
    assert set(last("failed")) == {"smtp:relay-b.test:2525"}


def test_erasing_a_reader_lowers_no_counter_and_frees_what_waited(
    session: Session, runtime: Runtime
) -> None:
    seed_ledger(session)
    before = sample_values(render_metrics(runtime, now=NOW, workers=False)[0])
    erased = session.scalars(select(Subscriber)).one()
    session.delete(erased)  # the ledger rows go with the reader (ON DELETE CASCADE)
    session.commit()
    assert session.scalar(select(func.count()).select_from(Delivery)) == 0
    after = sample_values(render_metrics(runtime, now=NOW, workers=False)[0])

    # The ledger's counters (feedback reports still go with their reader: not counted yet).
    ledger = ("newsalerts_messages_total", "newsalerts_send_latency_seconds")
    counters = {key for key in before if key[0].startswith(ledger)}
    assert any(before[key] for key in counters)
    assert {key: after[key] for key in counters} == {key: before[key] for key in counters}
    # The rows that were still to be sent are gone; what was sent stays counted.
    assert value(after, "newsalerts_deliveries", state="pending") == 0
    assert value(after, "newsalerts_deliveries", state="claimed") == 0
    assert value(after, "newsalerts_deliveries", state="sent") == 4


def test_without_a_broker_only_the_database_is_reported(database_url: str) -> None:
    runtime = Runtime.from_settings(
        load_settings(database_url=database_url, redis_url=None, _env_file=None)
    )
    try:
        samples = sample_values(render_metrics(runtime, now=NOW)[0])
    finally:
        runtime.close()
    assert {labels for name, labels in samples if name == "newsalerts_up"} == {
        frozenset({("service", "database")}),
    }
    assert not any(name.startswith("newsalerts_queue") for name, _ in samples)


def test_the_tick_note_feeds_the_beat_health_check(broker_url: str) -> None:
    assert tick_is_recent(redis_url=broker_url) is False
    record_tick(broker_url, datetime.now(UTC) - timedelta(seconds=30))
    assert tick_is_recent(60, redis_url=broker_url) is True
    assert tick_is_recent(10, redis_url=broker_url) is False
    assert float(redis.Redis.from_url(broker_url).get(LAST_TICK_KEY) or 0) > 0
    record_tick("redis://127.0.0.1:9/0", NOW)  # a broker that is down is logged, not raised
    assert tick_is_recent(redis_url="redis://127.0.0.1:9/0") is False


def test_the_alert_rules_parse_and_name_only_metrics_we_export(
    session: Session, runtime: Runtime
) -> None:
    seed_ledger(session)
    rules = yaml_to_data((ROOT / "docs" / "prometheus-alerts.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert {rule["alert"] for rule in alerts} >= {
        "NewsalertsQueueGrowing",
        "NewsalertsOldestPendingDelivery",
        "NewsalertsBounceRateHigh",
        "NewsalertsComplaintRateHigh",
        "NewsalertsSchedulerSilent",
        "NewsalertsNoWorker",
        "NewsalertsRelayFailing",
    }
    for rule in alerts:
        assert rule["expr"] and rule["labels"]["severity"] and rule["annotations"]["summary"]
    record_tick(runtime.settings.redis_url, NOW)
    body = render_metrics(runtime, now=NOW)[0].decode()
    exported = set(re.findall(r"^(newsalerts_\w+)", body, flags=re.MULTILINE))
    used = {name for rule in alerts for name in re.findall(r"newsalerts_\w+", rule["expr"])}
    assert used <= exported, used - exported


# Each case: an alert, the series Prometheus would hold (name -> values, one a minute for
# 30 minutes) and whether the rule's expression returns anything at minute 20.
Case = tuple[str, dict[str, str], bool]
REDIS = 'newsalerts_up{service="redis"}'
SENT = 'newsalerts_deliveries_last_24h{state="sent"}'
HARD = 'newsalerts_bounces_last_24h{kind="hard"}'
COMPLAINTS = "newsalerts_complaints_last_24h"
QUEUE_DEPTH = 'newsalerts_queue_depth{queue="newsalerts"}'
OLDEST = "newsalerts_oldest_pending_delivery_age_seconds"
URGENT_AGE = 'newsalerts_queue_oldest_message_age_seconds{queue="newsalerts.urgent"}'
BULK_AGE = 'newsalerts_queue_oldest_message_age_seconds{queue="newsalerts"}'
TICK = "newsalerts_scheduler_last_tick_timestamp_seconds"
RELAY_SENT = 'newsalerts_relay_last_sent_timestamp_seconds{relay="smtp:relay.example.com:25"}'
RELAY_FAILED = 'newsalerts_relay_last_failed_timestamp_seconds{relay="smtp:relay.example.com:25"}'


def case(alert: str, fires: bool, **series: str) -> Case:
    names = {"redis": REDIS, "sent": SENT, "hard": HARD, "complaints": COMPLAINTS}
    names |= {"depth": QUEUE_DEPTH, "oldest": OLDEST, "tick": TICK}
    names |= {"urgent_age": URGENT_AGE, "bulk_age": BULK_AGE}
    names |= {"workers": "newsalerts_workers", "database": 'newsalerts_up{service="database"}'}
    names |= {"relay_sent": RELAY_SENT, "relay_failed": RELAY_FAILED}
    return alert, {names[key]: values for key, values in series.items()}, fires


ALERT_CASES = [
    case("NewsalertsQueueGrowing", True, depth="0+10x30"),
    case("NewsalertsQueueGrowing", False, depth="50x30"),
    case("NewsalertsQueueGrowing", False, depth="300-10x30"),
    case("NewsalertsOldestPendingDelivery", True, oldest="700x30"),
    case("NewsalertsOldestPendingDelivery", False, oldest="500x30"),
    case("NewsalertsBounceRateHigh", True, hard="3x30", sent="100x30"),
    case("NewsalertsBounceRateHigh", False, hard="2x30", sent="100x30"),
    case("NewsalertsBounceRateHigh", False, hard="30x30", sent="99x30"),  # too few to judge
    case("NewsalertsComplaintRateHigh", True, complaints="2x30", sent="1000x30"),
    case("NewsalertsComplaintRateHigh", False, complaints="1x30", sent="1000x30"),
    case("NewsalertsComplaintRateHigh", False, complaints="5x30", sent="999x30"),
    # time() is 1,200 at minute 20: a tick at 0 is 20 minutes old, one at 1,000 is recent.
    case("NewsalertsSchedulerSilent", True, tick="0x30"),
    case("NewsalertsSchedulerSilent", False, tick="1000x30"),
    case("NewsalertsSchedulerSilent", True, redis="1x30"),  # Redis answers, no tick ever
    case("NewsalertsSchedulerSilent", False, redis="0x30"),  # ServiceDown says it instead
    case("NewsalertsNoWorker", True, workers="0x30", redis="1x30"),
    case("NewsalertsNoWorker", False, workers="2x30", redis="1x30"),
    case("NewsalertsNoWorker", False, workers="0x30", redis="0x30"),
    case("NewsalertsUrgentQueueSlow", True, urgent_age="0+30x30"),
    case("NewsalertsUrgentQueueSlow", False, urgent_age="60x30"),
    case("NewsalertsUrgentQueueSlow", False, bulk_age="0+30x30"),  # digests may wait
    case("NewsalertsServiceDown", True, database="0x30"),
    case("NewsalertsServiceDown", False, database="1x30"),
    # time() is 1,200 at minute 20: a failure at 1,100 is recent, a success at 100 is not.
    case("NewsalertsRelayFailing", True, relay_failed="1100x30"),  # never accepted one
    case("NewsalertsRelayFailing", True, relay_failed="1100x30", relay_sent="100x30"),
    case("NewsalertsRelayFailing", False, relay_failed="1100x30", relay_sent="1150x30"),
    case("NewsalertsRelayFailing", False, relay_failed="100x30", relay_sent="50x30"),
]


def with_instance(series: str, instance: str) -> str:
    if "{" in series:
        return series.replace("}", f',instance="{instance}"}}')
    return f'{series}{{instance="{instance}"}}'


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_the_alert_rules_fire_when_they_should(tmp_path: Path) -> None:
    """promtool evaluates each rule's expression over series shaped like our exposition."""
    rules_file = ROOT / "docs" / "prometheus-alerts.yml"
    rules = yaml_to_data(rules_file.read_text())
    expressions = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}
    tests: list[dict[str, Any]] = []
    for alert, series, fires in ALERT_CASES:
        # Two scraped web processes report the same figures: the rules use max(), not sum().
        labelled = {
            with_instance(name, instance): values
            for name, values in series.items()
            for instance in ("web-1", "web-2")
        }
        tests.append(
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in labelled.items()],
                "promql_expr_test": [
                    {
                        "expr": f"count({expressions[alert]})",
                        "eval_time": "20m",
                        "exp_samples": [{"labels": "{}", "value": 1}] if fires else [],
                    }
                ],
            }
        )
    test_file = tmp_path / "rules-test.yml"
    test_file.write_text(json.dumps({"rule_files": [str(rules_file)], "tests": tests}))
    result = subprocess.run(
        ["promtool", "test", "rules", str(test_file)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
