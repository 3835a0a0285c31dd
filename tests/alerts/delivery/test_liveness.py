"""Proof of life in Redis: heartbeats, the note of what is on the wire, a worker that
fences itself when it can no longer prove it is alive, and the sweep that recovers the
rows of a dead one — with a real Redis, a real SMTP server and both databases."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.config import Settings
from alerts.delivery.liveness import (
    ALIVE_PREFIX,
    EPOCH_KEY,
    RedisLiveness,
    dead_owners,
    redis_state,
    wire_records,
)
from alerts.delivery.sending import send_batch
from alerts.delivery.transports import transport_from_url
from alerts.digests.planning import plan_digests
from alerts.jobs import sweep
from alerts.ledger.claims import STOPPED_BEFORE_SENDING, Accepted, WireRecord, claim
from alerts.ledger.outcomes import UNKNOWN_OUTCOME
from alerts.ledger.queue import claim_queue
from alerts.mail.digest import DigestComposer
from alerts.mail.rendering import default_renderer
from alerts.models import Delivery, DeliveryStatus
from alerts.runtime import Runtime
from tests.support.builders import articles, reader
from tests.support.publishing import Published
from tests.support.redis_server import RedisServer
from tests.support.smtp_server import RecordingSMTPServer

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
ACCEPTED = Accepted(NOW, "smtp:relay.example.com:25", "250 2.0.0 queued")


def _planned(session: Session, count: int) -> list[int]:
    for number in range(count):
        reader(session, f"l{number}@example.com")
    articles(session, NOW, ("a", (), timedelta(hours=1)))
    session.commit()
    plan_digests(session, now=NOW, force=True)
    session.commit()
    [batch] = claim_queue(session, now=NOW, batch_size=50)
    session.commit()
    return batch


def _eventually(check: object, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, "not within the time given"
        time.sleep(0.02)


def test_a_process_renews_its_heartbeat_and_notes_the_wire(private_redis: RedisServer) -> None:
    client = private_redis.client()
    live = RedisLiveness(private_redis.url, interval=0.2, ttl=1)
    owner = live.begin()
    assert owner is not None and live.alive()
    live.new_batch()
    live.on_wire(11, [])
    live.on_wire(12, [(11, ACCEPTED)])
    _eventually(lambda: wire_records(client, [owner])[owner] == WireRecord(12, {11: ACCEPTED}))
    time.sleep(1.5)  # past the TTL: the thread kept it alive
    assert dead_owners(client, [owner]) == []
    assert live.begin() == owner  # the same life, the same owner
    live.close()
    _eventually(lambda: dead_owners(client, [owner]) == [owner])


def test_a_process_that_cannot_renew_stops_and_comes_back_as_a_new_owner(
    private_redis: RedisServer,
) -> None:
    live = RedisLiveness(private_redis.url, interval=0.2, ttl=1)
    owner = live.begin()
    private_redis.kill()
    _eventually(lambda: not live.alive())
    private_redis.start()
    again = live.begin()
    assert again is not None and again != owner  # the old owner's claims are the sweeper's
    live.close()


def test_redis_come_up_empty_is_noticed_and_heartbeats_are_not_believed_for_a_ttl(
    private_redis: RedisServer,
) -> None:
    client = private_redis.client()
    now = time.time()
    first = redis_state(client, now=now)
    assert first.lost_data and not first.heartbeats_settled
    assert not redis_state(client, now=now + 5).lost_data
    assert redis_state(client, now=now + 16).heartbeats_settled
    private_redis.restart()
    client = private_redis.client()
    assert redis_state(client, now=now + 30).lost_data


def test_a_worker_that_cannot_prove_it_is_alive_stops_and_gives_back_the_rest(
    session: Session,
    settings: Settings,
    smtp_server: RecordingSMTPServer,
    private_redis: RedisServer,
) -> None:
    batch = _planned(session, 20)
    live = RedisLiveness(private_redis.url, interval=0.2, ttl=1)
    smtp_server.slow_down(0.2)

    def lose_redis() -> None:  # its host loses Redis once the batch is under way
        smtp_server.wait_for(1, timeout=30)
        private_redis.kill()

    threading.Thread(target=lose_redis).start()
    result = send_batch(
        session,
        batch,
        composer=DigestComposer(session, settings=settings, renderer=default_renderer()),
        transport=transport_from_url(smtp_server.url),
        group_size=3,
        liveness=live,
    )
    live.close()
    assert result.fenced
    session.expire_all()
    rows = {
        row.subscriber.email: (row.status, row.last_error)
        for row in session.scalars(select(Delivery))
    }
    received = [message.recipients[0] for message in smtp_server.messages]
    sent = {email for email, (status, _) in rows.items() if status is DeliveryStatus.SENT}
    assert sorted(received) == sorted(sent)  # every message it sent is recorded
    assert 0 < len(sent) < 20
    # Nothing is left in its hands; nothing is in doubt; the rest wait for another worker.
    assert {status for email, (status, _) in rows.items() if email not in sent} == {
        DeliveryStatus.PENDING
    }


def test_the_sweep_recovers_a_dead_process_rows_and_queues_them_first(
    session: Session, settings: Settings, private_redis: RedisServer
) -> None:
    ids = _planned(session, 6)
    client = private_redis.client()
    client.set(EPOCH_KEY, repr(time.time() - 60))  # Redis has been up a while
    living = RedisLiveness(private_redis.url, interval=0.2, ttl=1)
    dying = RedisLiveness(private_redis.url, interval=0.2, ttl=1)
    claim(session, ids[4:], now=NOW, owner=living.begin())
    dead = dying.begin()
    assert dead is not None
    claim(session, ids[:4], now=NOW, owner=dead)
    session.execute(
        Delivery.__table__.update()
        .where(Delivery.id.in_(ids[:3]))
        .values(status=DeliveryStatus.SENDING.value)
    )
    session.commit()
    dying.new_batch()
    dying.on_wire(ids[0], [])
    dying.on_wire(ids[1], [(ids[0], ACCEPTED)])
    dying.close()  # it dies with the second message on the wire
    _eventually(lambda: client.exists(ALIVE_PREFIX + str(dead)) == 0)

    runtime = Runtime.from_settings(settings.model_copy(update={"redis_url": private_redis.url}))
    published = Published()
    done = sweep(runtime, now=NOW, publish=published)
    runtime.close()
    living.close()

    session.expire_all()
    states = {row.id: (row.status, row.last_error) for row in session.scalars(select(Delivery))}
    assert states[ids[0]] == (DeliveryStatus.SENT, None)
    assert states[ids[1]] == (DeliveryStatus.FAILED, UNKNOWN_OUTCOME)
    assert states[ids[2]] == states[ids[3]] == (DeliveryStatus.PENDING, STOPPED_BEFORE_SENDING)
    assert {states[i][0] for i in ids[4:]} == {DeliveryStatus.CLAIMED}
    assert done.dead_owners == 1 and not done.broker_lost_data
    assert published == published.urgent == [[ids[2], ids[3]]]  # ahead of the backlog, once


def test_the_sweep_queues_again_at_once_what_a_redis_come_up_empty_lost(
    session: Session, settings: Settings, private_redis: RedisServer
) -> None:
    ids = _planned(session, 3)  # queued (stamped) before Redis restarted empty
    orphan = 999_999  # an owner whose heartbeat went with the data: not believed dead yet
    claim(session, [ids[0]], now=NOW, owner=orphan)
    session.commit()
    runtime = Runtime.from_settings(settings.model_copy(update={"redis_url": private_redis.url}))
    published = Published()
    done = sweep(runtime, now=NOW, publish=published)
    runtime.close()
    assert done.broker_lost_data and done.dead_owners == 0
    assert [i for batch in published for i in batch] == ids[1:]
    session.expire_all()
    assert session.scalar(select(Delivery.status).where(Delivery.id == ids[0])) is (
        DeliveryStatus.CLAIMED
    )


def test_no_redis_no_heartbeat(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    assert dead_owners(client, []) == [] and wire_records(client, []) == {}


def test_an_owner_gone_stale_is_not_revived_when_redis_answers_again(
    private_redis: RedisServer,
) -> None:
    """A healed partition: the heartbeat thread reaches Redis again, but the batch that
    had not looked yet must still find that its owner is gone (and its key stays gone)."""
    client_url = private_redis.url
    live = RedisLiveness(client_url, interval=0.2, ttl=1)
    owner = live.begin()
    private_redis.kill()
    time.sleep(1.2)  # longer than the TTL: the sweeper may have taken the rows
    private_redis.start()
    time.sleep(0.6)  # the heartbeat thread has had its chances to renew
    assert not live.alive()
    assert dead_owners(private_redis.client(), [owner]) == [owner]
    live.close()
