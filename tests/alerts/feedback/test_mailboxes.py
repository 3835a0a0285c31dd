"""Reading bounces from standard input, .eml and mbox files and a Maildir, idempotently."""

from __future__ import annotations

import io
import mailbox
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from alerts.feedback import (
    FeedbackError,
    Outcome,
    process_messages,
    read_messages,
    split_mbox,
    summarise,
)
from alerts.feedback.mailboxes import ProcessedMessage
from alerts.feedback.policy import FeedbackResult
from subscribers.models import SubscriberStatus
from tests.alerts.feedback.test_bounces import (
    SECRET,
    SENT,
    events,
    sample,
    sent_delivery,
    suppressions,
)
from tests.factories import make_reader

NOW = SENT + timedelta(hours=2)


def mbox_bytes(*messages: bytes) -> bytes:
    """An mboxrd file as MTAs write it, with a body line that needs quoting."""
    parts = []
    for raw in messages:
        quoted = raw.replace(b"\nFrom ", b"\n>From ")
        parts.append(b"From MAILER-DAEMON Mon Jan  5 12:00:03 2026\n" + quoted + b"\n")
    return b"".join(parts)


def test_split_mbox_undoes_from_quoting() -> None:
    body = b"Subject: one\n\nFrom the desk: hello\n"
    messages = split_mbox(mbox_bytes(body, b"Subject: two\n\nbye\n"))
    assert len(messages) == 2
    assert b"\nFrom the desk: hello\n" in messages[0]
    assert messages[1].startswith(b"Subject: two")


def test_a_single_message_without_a_from_line_is_one_message() -> None:
    assert split_mbox(b"Subject: x\n\nFrom here\n") == [b"Subject: x\n\nFrom here\n"]


def test_standard_input_as_an_mta_pipe_gives_it(session: Session) -> None:
    delivery = sent_delivery(session, make_reader(session, "ada"))
    stdin = io.BytesIO(sample("dsn-hard-bounce.eml", delivery))

    items = list(read_messages("-", stdin=stdin))

    assert [item.label for item in items] == ["stdin"]
    results = process_messages(session, items, secret=SECRET, now=NOW)
    assert results[0].result.outcome is Outcome.SUPPRESSED


def test_an_mbox_file(session: Session, tmp_path: Path) -> None:
    ada = sent_delivery(session, make_reader(session, "ada"))
    bob = sent_delivery(session, make_reader(session, "bob"))
    path = tmp_path / "bounces.mbox"
    path.write_bytes(
        mbox_bytes(
            sample("dsn-hard-bounce.eml", ada),
            sample("auto-reply.eml", bob),
            sample("arf-complaint.eml", bob),
        )
    )

    processed = process_messages(session, read_messages(path), secret=SECRET, now=NOW)

    assert [item.label for item in processed] == [f"{path}#{n}" for n in (1, 2, 3)]
    assert [item.result.outcome for item in processed] == [
        Outcome.SUPPRESSED,
        Outcome.IGNORED,
        Outcome.SUPPRESSED,
    ]
    session.expire_all()
    assert ada.subscriber.status is SubscriberStatus.BOUNCED
    assert bob.subscriber.status is SubscriberStatus.COMPLAINED


def test_a_maildir_read_twice_changes_nothing_the_second_time(
    session: Session, tmp_path: Path
) -> None:
    box = mailbox.Maildir(tmp_path / "Maildir", create=True)
    reader = make_reader(session, "ada")
    for day in (0, 3, 6):
        delivery = sent_delivery(session, reader, sent_at=SENT + timedelta(days=day))
        when = SENT + timedelta(days=day, hours=1)
        key = box.add(sample("dsn-soft-bounce.eml", delivery, when=when))
        if day:
            message = box.get_message(key)
            message.set_subdir("cur")  # read by a mail client already: still processed
            box[key] = message
    # A message still being delivered sits in tmp/ and must not be read.
    (tmp_path / "Maildir" / "tmp" / "partial").write_bytes(b"Subject: half")
    later = SENT + timedelta(days=7)

    first = process_messages(session, read_messages(tmp_path / "Maildir"), secret=SECRET, now=later)
    second = process_messages(
        session, read_messages(tmp_path / "Maildir"), secret=SECRET, now=later
    )

    assert sorted(item.result.outcome for item in first) == [
        Outcome.RECORDED,
        Outcome.RECORDED,
        Outcome.SUPPRESSED,
    ]
    assert [item.result.outcome for item in second] == [Outcome.DUPLICATE] * 3
    assert (events(session), suppressions(session)) == (3, 1)
    assert summarise(second)[Outcome.DUPLICATE] == 3


def test_a_missing_path_or_a_plain_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FeedbackError, match="no such file"):
        list(read_messages(tmp_path / "absent"))
    with pytest.raises(FeedbackError, match="not a Maildir"):
        list(read_messages(tmp_path))


def test_summarise_lists_every_outcome() -> None:
    processed = [ProcessedMessage("a", FeedbackResult(Outcome.IGNORED, "why"))]
    assert summarise(processed) == {
        Outcome.SUPPRESSED: 0,
        Outcome.RECORDED: 0,
        Outcome.DUPLICATE: 0,
        Outcome.IGNORED: 1,
    }
