"""Structured logs: JSON lines in production, readable lines in development, addresses masked."""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import select

from alerts.config import Settings, load_settings
from alerts.editions.schedules import ensure_default_editions
from alerts.jobs import plan_and_queue, send_now, send_queued_batch, start_alert
from alerts.logs import configure_logging, log_context, mask_addresses
from alerts.models import Article
from alerts.runtime import Runtime
from tests.factories import make_article, make_reader, utc
from tests.support.publishing import Published
from tests.support.smtp_server import RecordingSMTPServer, free_port

SECRET = "logs-test-secret-key-0123456789abcdef"


def settings_for(environment: str) -> Settings:
    return load_settings(environment=environment, secret_key=SECRET, redis_url=None, _env_file=None)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


def configured(environment: str, level: int = logging.INFO) -> io.StringIO:
    stream = io.StringIO()
    configure_logging(settings_for(environment), level=level, stream=stream)
    return stream


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_production_writes_one_json_object_a_line_with_the_context() -> None:
    stream = configured("production")
    log = logging.getLogger("alerts.tasks.handlers")
    log.info("batch of %d sent", 3, extra={"edition": "daily", "delivery_id": 41})
    with log_context(edition="weekly", task_id="task-7"):
        log.warning("relay slow")
        with log_context(delivery_id=42):
            log.error("refused")
    log.info("no context here")
    logging.getLogger("quiet").debug("below the level: not written")

    first, second, third, fourth = json_lines(stream)
    assert first["message"] == "batch of 3 sent"
    assert (first["level"], first["logger"]) == ("INFO", "alerts.tasks.handlers")
    assert first["time"].endswith("Z") and first["time"][10] == "T"
    assert (first["edition"], first["delivery_id"]) == ("daily", 41)
    assert "task_id" not in first
    assert {key: second[key] for key in ("edition", "task_id")} == {
        "edition": "weekly",
        "task_id": "task-7",
    }
    assert "delivery_id" not in second
    assert (third["edition"], third["delivery_id"], third["task_id"]) == ("weekly", 42, "task-7")
    assert set(fourth) == {"time", "level", "logger", "message"}


def test_addresses_are_masked_at_info_and_above_in_messages_and_tracebacks() -> None:
    stream = configured("production", level=logging.DEBUG)
    log = logging.getLogger("alerts.delivery.sending")
    log.info("sent to %s via relay", "alice.smith+news@example.com")
    log.warning("recipient=Bob_99@mail.example.co.uk refused; Carol <carol@example.org>")
    try:
        raise ValueError("550 5.1.1 <dave@example.net>: no such user")
    except ValueError:
        log.exception("send failed")
    log.debug("debugging erin@example.com")  # below INFO: left as is, for local debugging

    info, warning, error, debug = json_lines(stream)
    assert info["message"] == "sent to a***@example.com via relay"
    # "recipient=Bob_99" is itself a valid local part, so it is masked whole.
    assert warning["message"] == "r***@mail.example.co.uk refused; Carol <c***@example.org>"
    assert "dave@" not in error["exception"] and "d***@example.net" in error["exception"]
    assert error["exception"].startswith("Traceback")
    assert debug["message"] == "debugging erin@example.com"
    assert "@example.com" in stream.getvalue()  # the domains stay


def test_development_lines_are_readable_and_masked_too() -> None:
    stream = configured("development")
    with log_context(edition="daily", delivery_id=7):
        logging.getLogger("alerts.jobs").info("queued for frank@example.com")
    line = stream.getvalue().strip()
    assert line.endswith(
        "INFO    alerts.jobs: queued for f***@example.com [edition=daily delivery_id=7]"
    )
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_the_running_celery_task_names_itself() -> None:
    stream = configured("production")
    app = Celery("logs-test", set_as_current=False)

    @app.task(name="logs-test.work")  # type: ignore[untyped-decorator]
    def work() -> None:
        logging.getLogger("alerts.tasks.handlers").info("working")

    work.apply(task_id="celery-task-1")
    (entry,) = [line for line in json_lines(stream) if line["message"] == "working"]
    assert entry["task_id"] == "celery-task-1"


def test_configuring_twice_keeps_one_handler() -> None:
    configured("production")
    stream = configured("development")
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_newsalerts_handler", False)]
    assert len(ours) == 1
    logging.getLogger("x").warning("once")
    assert stream.getvalue().count("once") == 1


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("a@example.com", "a***@example.com"),
        ("x <first.last@sub.example.com>, y", "x <f***@sub.example.com>, y"),
        ("bounces+12-abcdef01@bounce.example.com", "b***@bounce.example.com"),
        ("no address @ here, user@localhost", "no address @ here, user@localhost"),
        ("already a***@example.com", "already a***@example.com"),
        # Every character RFC 5322 allows in a local part, where the old pattern stopped.
        ("jose{secret}@example.com", "j***@example.com"),
        ("to jose.x!#$%&'*+/=?^_`{|}~-secret@example.com.", "to j***@example.com."),
        ("{secret}@example.com", "{***@example.com"),
        ("'alice@example.com'", "'***@example.com'"),
        ("José.Müller@exämple.de", "J***@exämple.de"),
        # Quoted local parts, spaces, escaped quotes and an @ inside the quotes included.
        ('"jose secret"@example.com', '"***"@example.com'),
        ('<"jo\\"se@secret"@example.com>', '<"***"@example.com>'),
        ('File "/app.py", line 3: "bob"@example.com', 'File "/app.py", line 3: "***"@example.com'),
        ("jose@[192.0.2.1]", "j***@[192.0.2.1]"),
    ],
)
def test_mask_addresses(text: str, masked: str) -> None:
    assert mask_addresses(text) == masked


def test_masking_reads_a_long_line_once() -> None:
    """A local part may hold / + = and letters, as a base64 blob does: a megabyte of it
    without an @ must not be read again from each of its characters."""
    blob = "QUJD+/=" * 150_000
    started = time.perf_counter()
    assert mask_addresses(blob + " a@example.com") == blob + " a***@example.com"
    assert time.perf_counter() - started < 2


# --- the logs of a real send ------------------------------------------------------------

NOW = utc(2026, 3, 10, 8, 0)
SEND_FIELDS = ("edition", "issue_id", "alert_id", "first_delivery_id", "last_delivery_id",
               "batch_size")  # fmt: skip
# An address as it would appear unmasked: a word character right before the @.
ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")


@pytest.fixture
def newsroom(settings: Settings, smtp_server: RecordingSMTPServer) -> Iterator[Runtime]:
    """Three readers of "Election" due today's daily digest who also asked for alerts, one
    with nothing new, a story; batches of two; a first relay that refuses connections, so
    every batch logs a failover from deep inside the send."""
    dead_relay = f"smtp://127.0.0.1:{free_port()}"
    runtime = Runtime.from_settings(settings.model_copy(
        update={"smtp_url": f"{dead_relay},{smtp_server.url}", "batch_size": 2}
    ))  # fmt: skip
    with runtime.session() as session:
        ensure_default_editions(session, now=NOW)
        for name in ("ada", "bo", "cy"):
            make_reader(session, name, topics=["Election"]).breaking_alerts = True
        make_reader(session, "dee", topics=["Sport"])
        make_article(session, "result", published_at=NOW - timedelta(hours=1),
                     topics=["Election"])  # fmt: skip
        session.commit()
    yield runtime
    runtime.close()


def test_every_line_logged_while_a_batch_is_sent_names_the_batch_and_its_send(
    newsroom: Runtime, smtp_server: RecordingSMTPServer
) -> None:
    stream = configured("production")
    batches = Published()
    digest = send_now(newsroom, edition="daily", local_date=None, now=NOW, actor="test",
                      publish=batches)  # fmt: skip
    with newsroom.session() as session:
        story = session.scalar(select(Article.id))
    assert story is not None
    alert = start_alert(newsroom, article_id=story, now=NOW, actor="test", publish=batches)
    queued = json_lines(stream)
    stream.seek(0)
    stream.truncate()
    for batch in batches:
        send_queued_batch(newsroom, batch)
    sent = json_lines(stream)
    assert len(smtp_server.messages) == 6

    issue, alert_id = digest.issue_id, alert.alert_id
    assert issue is not None and alert_id is not None
    send = {"daily": {"edition": "daily", "issue_id": issue},
            "alert": {"edition": f"alert-{alert_id}", "alert_id": alert_id}}  # fmt: skip
    assert [
        ({key: line.get(key) for key in ("edition", "issue_id", "alert_id")}, line["message"])
        for line in queued
        if line["logger"] == "alerts.jobs"
    ] == [
        ({**send["daily"], "alert_id": None}, "3 planned, 3 queued in 2 batches"),
        ({**send["alert"], "issue_id": None}, "3 planned, 3 queued in 2 batches"),
    ]

    expected = {
        batch[0]: {
            **send["alert" if batch in batches.urgent else "daily"],
            "first_delivery_id": batch[0],
            "last_delivery_id": batch[-1],
            "batch_size": len(batch),
        }
        for batch in batches
    }
    ours = [line for line in sent if line["logger"].startswith("alerts.")]
    for line in ours:
        named = {key: line[key] for key in SEND_FIELDS if key in line}
        assert named == expected.get(line.get("first_delivery_id")), line
    assert [line["first_delivery_id"] for line in ours if line["message"].startswith(
        "batch done: ")] == [batch[0] for batch in batches]  # fmt: skip
    assert {line["logger"] for line in ours} == {"alerts.jobs", "alerts.delivery.relays"}

    # Nothing at INFO or above names a reader, though the relay's own lines (another
    # logger, another thread) speak of every recipient.
    loud = [line for line in queued + sent if line["level"] != "DEBUG"]
    assert [line for line in loud if ADDRESS.search(json.dumps(line))] == []
    assert any("a***@example.com" in line["message"] for line in loud)


def test_a_planning_run_logs_a_line_for_each_edition_it_planned(newsroom: Runtime) -> None:
    stream = configured("production")
    plan_and_queue(newsroom, now=NOW, force=True)
    plan_and_queue(newsroom, now=NOW + timedelta(minutes=1), force=True)  # nothing new
    lost = NOW + timedelta(seconds=newsroom.settings.requeue_seconds + 1)
    plan_and_queue(newsroom, now=lost)  # the first run's messages never reached a worker
    lines = [line for line in json_lines(stream) if line["logger"] == "alerts.jobs"]
    assert [(line.get("edition"), line["message"]) for line in lines] == [
        ("daily", "4 readers due: 3 digests planned, 1 with nothing new, 0 planned before, "
                  "0 of a cancelled issue; 3 queued"),
        (None, "3 rows queued again; of the rows of stopped workers, 0 back to pending and "
               "0 failed (the outcome of their SMTP exchange is unknown)"),
    ]  # fmt: skip
