"""Logging for every newsalerts process: JSON lines in production, readable lines otherwise.

Each line has the time, level, logger and message, and what it concerns when known: the
`edition` (a slug, or `alert-<id>`), `issue_id` or `alert_id`, the batch being sent
(`first_delivery_id`, `last_delivery_id`, `batch_size`), a single `delivery_id`, the
`task_id`. They come from `extra={...}`, from `log_context(...)` around a piece of work
(alerts.ledger.outgoing names every batch this way), or (task id) from the Celery task running
in this process. Email addresses
in messages and tracebacks at INFO and above are masked to `a***@example.com`: the
domain stays, which is what an operator needs to see a relay or a mailbox provider
misbehave; the reader's identity does not go to the log files.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any

from alerts.config import Settings

CONTEXT_FIELDS = (
    "edition",
    "issue_id",
    "alert_id",
    "first_delivery_id",
    "last_delivery_id",
    "batch_size",
    "delivery_id",
    "task_id",
)
# Any local part RFC 5322 allows, then a dotted domain or a domain literal: a dot-atom of
# atext (letters and digits of any script, and ! # $ % & ' * + - / = ? ^ _ ` { | } ~),
# or a quoted string. A dot-atom starts where a run of atext and dots starts (never inside
# one), so a long run without an @ is read once, not once from each of its characters.
_ATEXT = r"\w!#$%&'*+/=?^`{|}~-"
_ADDRESS = re.compile(
    rf"(?:(?<![.{_ATEXT}])(?P<atom>[.{_ATEXT}])[.{_ATEXT}]*"
    r'|(?P<quoted>")(?:[^"\\]|\\[\s\S])*")'
    r"@(?P<domain>(?:[\w-]+\.)+[\w-]+|\[[^\[\]\s\\]*\])"
)
_context: ContextVar[tuple[tuple[str, Any], ...]] = ContextVar("newsalerts_log", default=())
_INSTALLED = "_newsalerts_handler"


def mask_addresses(text: str) -> str:
    """`alice@example.com` -> `a***@example.com`, everywhere in `text`.

    Every local part an address may have is masked, `jose{secret}@…` and
    `"jose secret"@…` (-> `"***"@…`) included. Text glued to an address by a character a
    local part may hold is masked with it (`to=alice@…` -> `t***@…`): it cannot be told
    apart from a local part, and masking too much is the safe side.
    """
    return _ADDRESS.sub(_masked, text)


def _masked(match: re.Match[str]) -> str:
    local = '"***"' if match["quoted"] else f"{match['atom']}***"
    return f"{local}@{match['domain']}"


def first_line(error: BaseException) -> str:
    """The error's name and first line, for a log line (SQLAlchemy appends the statement
    and its parameters, which may hold addresses, after the first)."""
    lines = str(error).strip().splitlines() or [""]
    return f"{type(error).__name__}: {lines[0]}"


@contextmanager
def log_context(
    *,
    edition: str | None = None,
    issue_id: int | None = None,
    alert_id: int | None = None,
    first_delivery_id: int | None = None,
    last_delivery_id: int | None = None,
    batch_size: int | None = None,
    delivery_id: int | None = None,
    task_id: str | None = None,
) -> Iterator[None]:
    """Attach these fields to every record logged inside the block (this thread/task only)."""
    given = {
        "edition": edition,
        "issue_id": issue_id,
        "alert_id": alert_id,
        "first_delivery_id": first_delivery_id,
        "last_delivery_id": last_delivery_id,
        "batch_size": batch_size,
        "delivery_id": delivery_id,
        "task_id": task_id,
    }
    fields = dict(_context.get()) | {
        key: value for key, value in given.items() if value is not None
    }
    token = _context.set(tuple(fields.items()))
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Copy the log context and the running Celery task's id onto each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get():
            if getattr(record, key, None) is None:
                setattr(record, key, value)
        if getattr(record, "task_id", None) is None:
            task_id = _celery_task_id()
            if task_id is not None:
                record.task_id = task_id
        return True


class MaskAddressesFilter(logging.Filter):
    """Mask email addresses in the message and traceback of records at `level` and above."""

    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level:
            return True
        message = record.getMessage()
        masked = mask_addresses(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_addresses(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_addresses(record.stack_info)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, context."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry |= _context_fields(record)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str, ensure_ascii=False)


class ReadableFormatter(logging.Formatter):
    """`2026-11-25 08:00:01,123 INFO    alerts.jobs: message [edition=daily task_id=...]`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        fields = _context_fields(record)
        if fields:
            line += " [" + " ".join(f"{key}={value}" for key, value in fields.items()) + "]"
        return line


def configure_logging(
    settings: Settings, *, level: int | str = logging.INFO, stream: IO[str] | None = None
) -> logging.Handler:
    """Send every logger's records through one handler on the root logger (stderr).

    Call once at process start. Calling again replaces the handler installed before (and
    only that one), so it is safe in tests and in processes that configure twice.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _INSTALLED, False):
            root.removeHandler(handler)
            handler.close()
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _INSTALLED, True)
    handler.addFilter(ContextFilter())
    handler.addFilter(MaskAddressesFilter(logging.INFO))
    production = settings.environment == "production"
    handler.setFormatter(JsonFormatter() if production else ReadableFormatter())
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    logging.captureWarnings(True)
    return handler


def _context_fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = ((key, getattr(record, key, None)) for key in CONTEXT_FIELDS)
    return {key: value for key, value in fields if value is not None}


def _celery_task_id() -> str | None:
    """The id of the Celery task this thread runs, if Celery is loaded and a task runs."""
    state = sys.modules.get("celery._state")
    if state is None:
        return None
    task = state.get_current_task()
    task_id = getattr(getattr(task, "request", None), "id", None)
    return str(task_id) if task_id else None
