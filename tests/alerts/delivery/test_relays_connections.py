"""A cap on the connections all workers together hold open to one relay, counted in a real
Redis, with a real SMTP server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis

from alerts.delivery.relays import ConnectionCappedTransport, RedisConnectionSlots, relay_transport
from alerts.delivery.transports import transport_from_url
from alerts.errors import DeliveryError
from tests.alerts.delivery.envelopes import numbered_envelope
from tests.support.smtp_server import RecordingSMTPServer

RELAY = "smtp:relay-under-test:25"


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


def test_no_more_holders_than_the_limit_and_a_released_slot_is_free_again(
    client: redis.Redis,
) -> None:
    # Two processes' views of the same relay: separate objects, one Redis.
    first = RedisConnectionSlots(client, RELAY, limit=2)
    second = RedisConnectionSlots(client, RELAY, limit=2)
    a, b = first.acquire(), second.acquire()
    assert a is not None and b is not None
    assert first.acquire() is None and second.acquire() is None
    first.release(a)
    assert second.acquire() is not None
    assert first.acquire() is None


def test_a_dead_holders_slot_expires_unless_renewed(client: redis.Redis) -> None:
    now = [1_000_000.0]  # a clock the test moves, so no sleep decides the outcome
    slots = RedisConnectionSlots(client, RELAY, limit=2, lease=30, clock=lambda: now[0])
    abandoned = slots.acquire()  # its worker dies: never renewed, never released
    kept = slots.acquire()
    assert abandoned is not None and kept is not None
    assert slots.acquire() is None
    now[0] += 20
    slots.renew(kept)
    now[0] += 20  # the abandoned lease has run out, the renewed one has not
    replacement = slots.acquire()
    assert replacement is not None
    assert slots.acquire() is None


def test_workers_never_hold_more_connections_than_the_cap(
    smtp_server: RecordingSMTPServer, redis_url: str, client: redis.Redis
) -> None:
    limit, workers, hold = 2, 5, 0.3
    lock = threading.Lock()
    open_now, most_open = 0, 0
    errors: list[BaseException] = []

    def worker(number: int) -> None:
        nonlocal open_now, most_open
        own_client = redis.Redis.from_url(redis_url)  # as a separate worker process would
        transport = ConnectionCappedTransport(
            transport_from_url(smtp_server.url),
            RedisConnectionSlots(own_client, RELAY, limit=limit),
        )
        try:
            with transport.connect() as connection:
                with lock:
                    open_now += 1
                    most_open = max(most_open, open_now)
                time.sleep(hold)
                connection.send(numbered_envelope(number))
                with lock:
                    open_now -= 1
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            own_client.close()

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert errors == []
    assert most_open == limit
    assert len(smtp_server.messages) == workers
    assert time.monotonic() - started >= hold * 3  # five holders, two at a time: 3 rounds
    assert client.zcard(f"newsalerts:relay-connections:{RELAY}") == 0  # all released


def test_a_relay_whose_slots_stay_taken_is_retried_later(
    smtp_server: RecordingSMTPServer, client: redis.Redis
) -> None:
    slots = RedisConnectionSlots(client, RELAY, limit=1)
    assert slots.acquire() is not None  # another worker's long batch
    transport = ConnectionCappedTransport(transport_from_url(smtp_server.url), slots, wait=0.3)
    with pytest.raises(DeliveryError) as raised, transport.connect():
        pass
    assert not raised.value.permanent
    assert smtp_server.messages == []


def test_the_setting_caps_every_relay_of_the_list(
    smtp_server: RecordingSMTPServer, redis_url: str, client: redis.Redis
) -> None:
    transport = relay_transport(smtp_server.url, redis_url=redis_url, max_connections=1)
    assert isinstance(transport, ConnectionCappedTransport)
    with transport.connect() as connection:
        connection.send(numbered_envelope(1))
        # Counted under the relay's one name, the one the ledger and the checks use.
        key = f"newsalerts:relay-connections:smtp:127.0.0.1:{smtp_server.port}"
        assert client.zcard(key) == 1
    assert client.zcard(key) == 0
    assert len(smtp_server.messages) == 1
