"""`newsalerts ops status` against a real database and a real Redis broker."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from click.testing import CliRunner
from sqlalchemy.orm import Session

from alerts.cli import main
from alerts.cli.common import console
from alerts.config import Settings, load_settings
from alerts.digests.planning import plan_digests
from alerts.models import (
    Article,
    BreakingAlert,
    Delivery,
    DeliveryStatus,
    Edition,
    FeedbackEvent,
    FeedbackKind,
    Issue,
    IssueStatus,
)
from alerts.ops.status import collect_status
from alerts.ops.workers import SEEN_KEY
from alerts.runtime import Runtime
from alerts.tasks.app import create_celery
from alerts.tasks.handlers import SEND_BATCH, SEND_NOTICE
from alerts.tasks.queues import PUBLISHED_AT
from subscribers.database import utcnow
from tests.support.builders import articles, reader
from tests.support.json_schema import schema_errors
from tests.support.processes import ROOT
from tests.support.smtp_server import RecordingSMTPServer

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def test_status_counts_the_ledger_and_the_queue(
    session: Session, database_url: str, broker_url: str
) -> None:
    for number in range(3):
        reader(session, f"o{number}@example.com")
    reader(session, "nothing@example.com", topics=("Champions Cup",))
    articles(session, NOW, ("a", ("Drought emergency",), timedelta(hours=1)))
    session.commit()
    plan_digests(session, now=NOW, force=True)
    first = session.query(Delivery).filter_by(status=DeliveryStatus.PENDING).first()
    assert first is not None
    first.status = DeliveryStatus.FAILED
    first.smtp_reply = "550 5.1.1 no such user"
    session.commit()
    settings = load_settings(database_url=database_url, redis_url=broker_url, _env_file=None)
    app = create_celery(settings)
    for _ in range(4):  # nobody consumes these: no worker runs in this test
        app.send_task(SEND_BATCH, args=[[1]])
    app.send_task(SEND_NOTICE, args=["confirm", 1])  # routed to the urgent queue
    app.close()

    runtime = Runtime.from_settings(settings)
    status = collect_status(runtime, now=NOW + timedelta(minutes=5), worker_timeout=0.3)
    runtime.close()
    assert status.deliveries == {"pending": 2, "failed": 1, "skipped": 1}
    assert [(g["reply_code"], g["domain"], g["kind"], g["count"]) for g in status.failures] == [
        ("550", "example.com", "permanent", 1)
    ]
    assert status.oldest_pending_seconds == 300
    assert status.queues is not None
    assert [(q["name"], q["waiting"]) for q in status.queues] == [
        ("newsalerts.urgent", 1),
        ("newsalerts", 4),
        ("newsalerts.feeds", 0),
    ]
    assert (status.queue_depth, status.unacked, status.workers) == (5, 0, [])
    assert status.services == {"database": "ok", "redis": "ok", "file://./outbox": "ok"}
    assert status.healthy is False  # work is waiting and no worker answers
    assert status.problems == ["5 tasks are queued and no worker answers"]


def test_json_output_and_exit_status(database_url: str) -> None:
    healthy = CliRunner().invoke(
        main, ["ops", "status", "--json"], env={"DATABASE_URL": database_url, "REDIS_URL": ""}
    )
    assert healthy.exit_code == 0, healthy.output
    data = json.loads(healthy.output)
    assert set(data) == {
        "version",
        "now",
        "healthy",
        "problems",
        "services",
        "queues",
        "unacked",
        "tasks_in_per_second",
        "tasks_out_per_second",
        "workers",
        "deliveries",
        "notices",
        "oldest_pending_seconds",
        "sends",
        "failures",
        "dead_letters",
        "unknowns",
        "feedback",
    }
    assert data["version"] == 2
    assert data["services"] == {"database": "ok", "file://./outbox": "ok"}
    assert (data["queues"], data["workers"]) == (None, None)
    assert (data["sends"], data["failures"], data["dead_letters"]) == ([], [], [])
    assert data["unknowns"] == {"count": 0, "newest_id": None, "rows": []}
    assert len(data["feedback"]) == 14

    broken = CliRunner().invoke(
        main,
        ["ops", "status", "--json", "--no-workers"],
        env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none", "REDIS_URL": ""},
    )
    assert broken.exit_code == 1
    assert json.loads(broken.output)["services"]["database"].startswith("error: OperationalError")


# --- the JSON document against its published schema, and the tables against the JSON -----

SCHEMA = json.loads((ROOT / "docs" / "ops-status.schema.json").read_text())
GONE_WORKER = "celery@mail-2.example.net"
# Ages well inside a displayed unit ("30 min", "2 h 30 min") read the same in both runs.
AGE = timedelta(minutes=30, seconds=30)


def a_send_in_progress(session: Session, now: datetime) -> None:
    """Today's issue part sent, with temporary and permanent failures, a suppressed reader
    and a bounce; and a paused breaking alert, one reader waiting."""
    edition = Edition(slug="daily-brief", name="Daily briefing", created_at=now, updated_at=now)
    article = Article(identity_hash="c" * 64, url="https://news.example.com/flood",
                      title="Flood barrier holds", published_at=now)  # fmt: skip
    session.add_all([edition, article])
    session.flush()
    issue = Issue(edition_id=edition.id, local_date=now.date(), pinned_ids=[], dropped_ids=[],
                  created_at=now, updated_at=now)  # fmt: skip
    alert = BreakingAlert(article_id=article.id, created_by="cli", created_at=now,
                          status=IssueStatus.PAUSED)  # fmt: skip
    session.add_all([issue, alert])
    session.flush()
    readers = iter(range(100))

    def row(status: DeliveryStatus, domain: str = "example.com", **fields: Any) -> Delivery:
        subscriber = reader(session, f"reader{next(readers)}@{domain}")
        session.flush()
        fields.setdefault("issue_id", issue.id)
        delivery = Delivery(edition=edition.slug, subscriber_id=subscriber.id,
                            local_date=now.date(), status=status,
                            article_ids=[], created_at=now - AGE, **fields)  # fmt: skip
        session.add(delivery)
        session.flush()
        return delivery

    for _ in range(3):
        row(DeliveryStatus.SENT, sent_at=now - timedelta(seconds=20), smtp_reply="250 ok")
    for _ in range(5):
        row(DeliveryStatus.PENDING)
    for domain in ("gmail.example", "yahoo.example"):
        row(DeliveryStatus.FAILED, domain, smtp_reply="421 4.7.0 try again later",
            last_error="421 4.7.0 try again later", attempts=5,
            claimed_at=now - timedelta(minutes=2))  # fmt: skip
    refused = row(DeliveryStatus.FAILED, smtp_reply="550 5.1.1 <reader10@example.com> unknown",
                  last_error="550 5.1.1 <reader10@example.com> unknown", attempts=1,
                  claimed_at=now - timedelta(minutes=1))  # fmt: skip
    row(DeliveryStatus.SUPPRESSED)
    alert_row = row(DeliveryStatus.PENDING, issue_id=None, alert_id=alert.id)
    alert_row.edition = f"alert-{alert.id}"
    session.add(FeedbackEvent(report_key="dsn-1", delivery_id=refused.id,
                              subscriber_id=refused.subscriber_id, kind=FeedbackKind.HARD_BOUNCE,
                              source="dsn", occurred_at=now))  # fmt: skip
    session.commit()


def a_busy_broker(broker_url: str, settings: Settings) -> None:
    """Four batches queued half an hour ago with no worker to take them, and a worker that
    answered two and a half hours ago and no longer does."""
    app = create_celery(settings)
    for _ in range(4):
        app.send_task(SEND_BATCH, args=[[1]], headers={PUBLISHED_AT: time.time() - AGE.seconds})
    app.close()
    seen = time.time() - 9030
    remembered = {"processed": 7, "since": seen, "last_seen": seen, "pid": 4242, "concurrency": 4}
    redis.Redis.from_url(broker_url).hset(SEEN_KEY, GONE_WORKER, json.dumps(remembered))


def table_rows(output: str) -> list[list[str]]:
    """The body rows of every table rich printed, as lists of stripped cells."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in output.splitlines()
        if line.startswith("│")
    ]


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_json_fits_its_schema_and_the_tables_show_the_same_figures(
    session: Session, database_url: str, broker_url: str, smtp_server: RecordingSMTPServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    now = utcnow()
    a_send_in_progress(session, now)
    settings = load_settings(database_url=database_url, redis_url=broker_url,
                             smtp_url=smtp_server.url, _env_file=None)  # fmt: skip
    a_busy_broker(broker_url, settings)
    env = {"DATABASE_URL": database_url, "REDIS_URL": broker_url, "SMTP_URL": smtp_server.url}

    as_json = CliRunner().invoke(main, ["ops", "status", "--json"], env=env)
    assert as_json.exit_code == 1, as_json.output  # tasks wait and no worker answers
    document = json.loads(as_json.output)
    assert schema_errors(document, SCHEMA) == []
    # Every list the schema describes has an item here, so every part of it was checked.
    for key in ("problems", "queues", "workers", "sends", "failures", "dead_letters"):
        assert document[key], key
    relay = f"smtp:127.0.0.1:{smtp_server.port}"
    assert document["services"] == {"database": "ok", "redis": "ok", relay: "ok"}
    assert document["deliveries"] == {"sent": 3, "pending": 6, "failed": 3, "suppressed": 1}
    assert [(w["name"], w["host"], w["answering"]) for w in document["workers"]] == [
        (GONE_WORKER, "mail-2.example.net", False)
    ]
    issue, alert = document["sends"]
    assert (issue["kind"], issue["status"], issue["total"], issue["sent"]) == (
        "issue",
        "open",
        12,
        3,
    )
    assert (alert["kind"], alert["status"], alert["pending"]) == ("alert", "paused", 1)
    assert [(f["reply_code"], f["domain"], f["kind"]) for f in document["failures"]] == [
        ("421", "gmail.example", "temporary"),
        ("421", "yahoo.example", "temporary"),
        ("550", "example.com", "permanent"),
    ]
    assert [letter["recipient"] for letter in document["dead_letters"]] == ["r***@example.com"]

    # The checker is strict: a key lost, one added, a wrong type or value are each reported.
    broken = json.loads(as_json.output)
    del broken["workers"][0]["host"]
    broken["sends"][0]["sent"] = "3"
    broken["failures"][0]["kind"] = "transient"
    broken["feedback"][0]["day"] = "25/11/2026"
    broken["extra"] = True
    assert sorted(schema_errors(broken, SCHEMA)) == [
        "$.failures[0].kind: 'transient' is not one of ['temporary', 'permanent', 'unknown']",
        "$.feedback[0].day: '25/11/2026' is not a date",
        "$.sends[0].sent: '3' is not integer",
        "$.workers[0]: 'host' is missing",
        "$: 'extra' is not in the schema",
    ]

    monkeypatch.setattr(console, "width", 250)  # no table squeezed into 80 columns
    as_text = CliRunner().invoke(main, ["ops", "status"], env=env)
    assert as_text.exit_code == 1, as_text.output
    rows = table_rows(as_text.output)
    today = document["feedback"][0]
    expected = [
        ["database", "ok"],
        ["redis", "ok"],
        [relay, "ok"],
        ["newsalerts.urgent", "0", "—"],
        ["newsalerts", "4", "30 min"],
        ["taken by workers", "0", ""],
        [GONE_WORKER, "mail-2.example.net", "—", "4242", "4", "0", "7", "2 h 30 min ago",
         "not answering"],
        [f"Daily briefing, {now:%-d %b %Y}", "open", "3 / 12", "5", "3", "1", "3/min",
         "in 1 min 40 s", "30 min"],
        ["Breaking: Flood barrier holds", "paused", "0 / 1", "1", "0", "0", "0/min", "paused",
         "30 min"],
        *([state, str(count)] for state, count in sorted(document["deliveries"].items())),
        *([f["reply_code"], relay, f["domain"], f["kind"], str(f["count"]), f["example"][:60]]
          for f in document["failures"]),
        [today["day"], "3", "1", "33.3 %", "0", "0 %"],
    ]  # fmt: skip
    for row in expected:
        assert row in rows, (row, as_text.output)
    assert "Problem: 4 tasks are queued and no worker answers" in as_text.output
    assert "Oldest waiting delivery: 30 min" in as_text.output
