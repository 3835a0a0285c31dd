"""Issues: curation reaches every reader's copy; pause, resume and cancel act on the ledger."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy.orm import Session

from alerts.config import Settings
from alerts.delivery.sending import send_batch
from alerts.delivery.transports import transport_from_url
from alerts.digests.planning import plan_digests
from alerts.editions.issues import (
    cancel,
    drop,
    issue_for,
    lock,
    move,
    pause,
    pin,
    resume,
    set_texts,
)
from alerts.editions.schedules import get_edition, list_editions
from alerts.errors import IssueError
from alerts.ledger.claims import claim
from alerts.ledger.queue import claim_queue
from alerts.ledger.states import progress
from alerts.mail.digest import DigestComposer
from alerts.mail.rendering import default_renderer
from alerts.models import DeliveryStatus, Issue, IssueStatus
from tests.factories import ledger, make_article, make_reader, utc
from tests.support.smtp_server import RecordingSMTPServer

NOW = utc(2026, 3, 10, 8, 0)  # 09:00 in Paris
TODAY = date(2026, 3, 10)


def _today(session: Session) -> Issue:
    list_editions(session, now=NOW)
    return issue_for(session, get_edition(session, "daily"), TODAY, now=NOW)


def test_issue_for_is_created_once(session: Session) -> None:
    first = _today(session)
    assert _today(session).id == first.id
    assert first.status is IssueStatus.OPEN


def test_pinned_lead_every_copy_dropped_never_appear_and_order_is_the_editors(
    session: Session,
) -> None:
    climate = make_reader(session, "climate", topics=["Climate"])
    sport = make_reader(session, "sport", topics=["Sport"])
    old_feature = make_article(session, "feature", published_at=NOW - timedelta(days=3))
    heat = make_article(session, "heat", published_at=NOW - timedelta(hours=1), topics=["Climate"])
    flood = make_article(
        session, "flood", published_at=NOW - timedelta(hours=2), topics=["Climate"]
    )
    goal = make_article(session, "goal", published_at=NOW - timedelta(hours=3), topics=["Sport"])
    issue = _today(session)
    pin(issue, flood, now=NOW)
    pin(issue, old_feature, now=NOW)
    move(issue, old_feature, by=-1, now=NOW)
    drop(issue, heat, now=NOW)
    plan_digests(session, now=NOW)
    rows = {row.subscriber_id: row for row in ledger(session)}
    assert rows[climate.id].article_ids == [old_feature, flood]
    assert rows[sport.id].article_ids == [old_feature, flood, goal]
    assert {row.issue_id for row in rows.values()} == {issue.id}


def test_a_locked_issue_takes_nothing_newer(session: Session) -> None:
    reader = make_reader(session, "ada")
    first = make_article(session, "first", published_at=NOW - timedelta(hours=2))
    issue = _today(session)
    lock(issue, [first], now=NOW)
    make_article(session, "later", published_at=NOW - timedelta(minutes=5))
    plan_digests(session, now=NOW)
    [row] = ledger(session)
    assert (row.subscriber_id, row.article_ids) == (reader.id, [first])


def test_only_pinned_articles_can_be_moved_and_a_cancelled_issue_is_frozen(
    session: Session,
) -> None:
    story = make_article(session, "story", published_at=NOW - timedelta(hours=1))
    issue = _today(session)
    with pytest.raises(IssueError, match="pin it first"):
        move(issue, story, by=1, now=NOW)
    cancel(session, issue, now=NOW)
    with pytest.raises(IssueError, match="cancelled"):
        pin(issue, story, now=NOW)
    with pytest.raises(IssueError, match="cancelled"):
        resume(session, issue, now=NOW)


def test_issue_subject_and_intro_override_the_edition(
    session: Session, settings: Settings, smtp_server: RecordingSMTPServer
) -> None:
    make_reader(session, "ada")
    make_article(session, "story", published_at=NOW - timedelta(hours=1))
    issue = _today(session)
    set_texts(issue, subject="{{ edition }}: {{ lead }}", intro="Good morning from the desk.",
              now=NOW)  # fmt: skip
    plan_digests(session, now=NOW)
    session.commit()
    composer = DigestComposer(session, settings=settings, renderer=default_renderer())
    for batch in claim_queue(session, now=NOW, batch_size=50):
        session.commit()
        send_batch(session, batch, composer=composer, transport=transport_from_url(smtp_server.url))
    [received] = smtp_server.messages
    assert received.message["Subject"] == "Daily briefing: Story"
    assert "Good morning from the desk." in received.message.get_body(("plain",)).get_content()
    with pytest.raises(IssueError, match="cannot be used"):
        set_texts(issue, subject="{{ nope }}", intro=None, now=NOW)


def _planned(session: Session, readers: int) -> Issue:
    for number in range(readers):
        make_reader(session, f"reader{number}")
    make_article(session, "story", published_at=NOW - timedelta(hours=1))
    plan_digests(session, now=NOW)
    session.commit()
    return _today(session)


def test_pause_holds_rows_and_resume_lets_them_go(session: Session) -> None:
    issue = _planned(session, 3)
    ids = [row.id for row in ledger(session)]
    claimed = claim(session, ids[:1], now=NOW)  # a batch has taken one row
    session.commit()
    assert pause(session, issue, now=NOW) == 3
    session.commit()
    rows = ledger(session)
    assert {row.status for row in rows} == {DeliveryStatus.PENDING}
    assert {row.attempts for row in rows} == {0}  # the claim was no attempt
    assert claim(session, ids, now=NOW) == []  # nobody may take them while paused
    assert claim_queue(session, now=NOW + timedelta(hours=1), batch_size=10) == []
    resume(session, issue, now=NOW)
    session.commit()
    assert claim_queue(session, now=NOW, batch_size=10) == [ids]
    assert claimed == ids[:1]


def test_a_running_batch_stops_at_its_next_group_when_the_issue_is_paused(
    session: Session, settings: Settings, smtp_server: RecordingSMTPServer
) -> None:
    issue = _planned(session, 6)
    ids = [row.id for row in ledger(session)]
    composer = DigestComposer(session, settings=settings, renderer=default_renderer())
    paused_after: list[int] = []

    def on_message() -> None:
        # The editor pauses from another connection once the first message has gone.
        if not paused_after:
            paused_after.append(len(smtp_server.messages))
            with Session(session.get_bind()) as other:
                pause(other, other.get(Issue, issue.id) or issue, now=NOW)
                other.commit()

    result = send_batch(
        session, ids, composer=composer, transport=transport_from_url(smtp_server.url),
        group_size=2, on_message=on_message,
    )  # fmt: skip
    assert result.sent == 2  # the group in flight finished; nothing after it
    assert len(smtp_server.messages) == 2
    statuses = sorted(row.status for row in ledger(session))
    assert statuses.count(DeliveryStatus.PENDING) == 4


def test_cancel_calls_off_what_has_not_started_and_planning_adds_nothing(
    session: Session,
) -> None:
    issue = _planned(session, 2)
    assert cancel(session, issue, now=NOW) == 2
    session.commit()
    make_reader(session, "late")
    result = plan_digests(session, now=NOW)
    assert result.cancelled == 1 and result.planned == 0
    assert {row.status for row in ledger(session)} == {DeliveryStatus.CANCELLED}
    state = progress(session, now=NOW, issue_id=issue.id)
    assert (state.cancelled, state.pending, state.to_send) == (2, 0, 0)


def test_planning_into_a_paused_issue_queues_nothing_until_resumed(session: Session) -> None:
    make_reader(session, "ada")
    make_article(session, "story", published_at=NOW - timedelta(hours=1))
    issue = _today(session)
    pause(session, issue, now=NOW)
    result = plan_digests(session, now=NOW)
    assert result.planned == 1
    assert claim_queue(session, now=NOW, batch_size=10) == []
    resume(session, issue, now=NOW)
    assert len(claim_queue(session, now=NOW, batch_size=10)) == 1
