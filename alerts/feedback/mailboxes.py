"""Where bounce emails come from: standard input (an MTA pipe), an .eml or mbox file, a Maildir.

Messages are only read, never moved or deleted: the mailbox stays the operator's, and
processing is idempotent, so reading the same Maildir again every few minutes is the
intended way to run it (from cron, or a systemd timer).
"""

from __future__ import annotations

import mailbox
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.orm import Session

from alerts.errors import FeedbackError
from alerts.feedback.policy import FeedbackResult, Outcome, process_message

STDIN = "-"
_QUOTED_FROM = re.compile(rb"^>(>*From )")


@dataclass(frozen=True)
class MailItem:
    """One email and where it was found, so a summary can point at it."""

    label: str
    raw: bytes


@dataclass(frozen=True)
class ProcessedMessage:
    label: str
    result: FeedbackResult


def read_messages(source: str | Path, *, stdin: BinaryIO | None = None) -> Iterator[MailItem]:
    """Every message in `source`: "-" for standard input, a file, or a Maildir folder.

    Raises FeedbackError for a path that does not exist or a folder that is not a Maildir.
    """
    if str(source) == STDIN:
        if stdin is None:
            raise FeedbackError("no standard input to read")
        yield from _from_bytes(stdin.read(), "stdin")
        return
    path = Path(source)
    if path.is_dir():
        yield from _from_maildir(path)
    elif path.is_file():
        yield from _from_bytes(path.read_bytes(), str(path))
    else:
        raise FeedbackError(f"{path}: no such file or folder")


def _from_bytes(data: bytes, label: str) -> Iterator[MailItem]:
    messages = split_mbox(data)
    if len(messages) == 1:
        yield MailItem(label, messages[0])
        return
    for number, raw in enumerate(messages, start=1):
        yield MailItem(f"{label}#{number}", raw)


def _from_maildir(path: Path) -> Iterator[MailItem]:
    if not ((path / "new").is_dir() or (path / "cur").is_dir()):
        raise FeedbackError(f"{path}: a folder, but not a Maildir (it has no new/ or cur/)")
    box = mailbox.Maildir(path, factory=None, create=False)
    for key in sorted(box.keys()):  # new/ and cur/; tmp/ holds mail still being written
        yield MailItem(f"{path}/{key}", box.get_bytes(key))


def split_mbox(data: bytes) -> list[bytes]:
    """The messages of an mbox; data that does not start with a From_ line is one message.

    A From_ line starts a message only after a blank line (or at the start), and the
    `>From ` quoting of mboxrd is undone.
    """
    if not data.startswith(b"From "):
        return [data]
    messages: list[bytes] = []
    current: list[bytes] = []
    after_blank = True
    for line in data.splitlines(keepends=True):
        if after_blank and line.startswith(b"From "):
            if current:
                messages.append(b"".join(current))
            current = []
        else:
            current.append(_QUOTED_FROM.sub(rb"\1", line))
        after_blank = not line.strip()
    if current:
        messages.append(b"".join(current))
    return messages


def process_messages(
    session: Session,
    items: Iterable[MailItem],
    *,
    secret: str,
    now: datetime,
    envelope_recipient: str | None = None,
) -> list[ProcessedMessage]:
    """Apply every message, committing after each one so a crash loses at most one.

    Re-running after a crash is safe: what was committed is recognised as processed.
    """
    processed = []
    for item in items:
        result = process_message(
            session, item.raw, secret=secret, now=now, envelope_recipient=envelope_recipient
        )
        session.commit()
        processed.append(ProcessedMessage(item.label, result))
    return processed


def summarise(processed: Iterable[ProcessedMessage]) -> dict[Outcome, int]:
    """How many messages ended each way, every outcome listed (zero included)."""
    counts = Counter(item.result.outcome for item in processed)
    return {outcome: counts.get(outcome, 0) for outcome in Outcome}
