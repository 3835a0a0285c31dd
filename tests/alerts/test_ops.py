"""`newsalerts ops status` against a real database and a real Redis broker."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner
from sqlalchemy.orm import Session

from alerts.celery_app import create_celery
from alerts.cli import main
from alerts.config import load_settings
from alerts.models import Delivery, DeliveryStatus
from alerts.ops import collect_status
from alerts.planning import plan_digests
from alerts.runtime import Runtime
from alerts.tasks import SEND_BATCH
from tests.support.builders import articles, reader

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
    assert [(q["name"], q["waiting"]) for q in status.queues] == [("newsalerts", 4)]
    assert (status.queue_depth, status.unacked, status.workers) == (4, 0, [])
    assert status.services == {"database": "ok", "redis": "ok", "file://./outbox": "ok"}
    assert status.healthy is False  # work is waiting and no worker answers
    assert status.problems == ["4 tasks are queued and no worker answers"]


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
        "oldest_pending_seconds",
        "sends",
        "failures",
        "dead_letters",
        "feedback",
    }
    assert data["version"] == 2
    assert data["services"] == {"database": "ok", "file://./outbox": "ok"}
    assert (data["queues"], data["workers"]) == (None, None)
    assert (data["sends"], data["failures"], data["dead_letters"]) == ([], [], [])
    assert len(data["feedback"]) == 14

    broken = CliRunner().invoke(
        main,
        ["ops", "status", "--json", "--no-workers"],
        env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none", "REDIS_URL": ""},
    )
    assert broken.exit_code == 1
    assert json.loads(broken.output)["services"]["database"].startswith("error: OperationalError")
