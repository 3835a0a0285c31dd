"""Structured logs: JSON lines in production, readable lines in development, addresses masked."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery

from alerts.config import Settings, load_settings
from alerts.logs import configure_logging, log_context, mask_addresses

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
    log = logging.getLogger("alerts.tasks")
    log.info("batch of %d sent", 3, extra={"edition": "daily", "delivery_id": 41})
    with log_context(edition="weekly", task_id="task-7"):
        log.warning("relay slow")
        with log_context(delivery_id=42):
            log.error("refused")
    log.info("no context here")
    logging.getLogger("quiet").debug("below the level: not written")

    first, second, third, fourth = json_lines(stream)
    assert first["message"] == "batch of 3 sent"
    assert (first["level"], first["logger"]) == ("INFO", "alerts.tasks")
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
    log = logging.getLogger("alerts.delivery")
    log.info("sent to %s via relay", "alice.smith+news@example.com")
    log.warning("recipient=Bob_99@mail.example.co.uk refused; Carol <carol@example.org>")
    try:
        raise ValueError("550 5.1.1 <dave@example.net>: no such user")
    except ValueError:
        log.exception("send failed")
    log.debug("debugging erin@example.com")  # below INFO: left as is, for local debugging

    info, warning, error, debug = json_lines(stream)
    assert info["message"] == "sent to a***@example.com via relay"
    assert warning["message"] == (
        "recipient=B***@mail.example.co.uk refused; Carol <c***@example.org>"
    )
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
        logging.getLogger("alerts.tasks").info("working")

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
    ],
)
def test_mask_addresses(text: str, masked: str) -> None:
    assert mask_addresses(text) == masked
