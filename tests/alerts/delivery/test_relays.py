"""Relay failover and the shared per-relay send rate, with real SMTP servers and Redis."""

from __future__ import annotations

import time
from collections import Counter

import redis

from alerts.config import load_settings
from alerts.delivery.relays import (
    FailoverTransport,
    RateLimitedTransport,
    RedisSendBudget,
    relay_transport,
)
from alerts.delivery.transports import transport_from_url
from tests.alerts.delivery.envelopes import numbered_envelope
from tests.support.smtp_server import RecordingSMTPServer


def test_a_batch_goes_to_the_first_relay_that_answers(smtp_server: RecordingSMTPServer) -> None:
    transport = relay_transport(f"smtp://127.0.0.1:9,{smtp_server.url}")
    assert isinstance(transport, FailoverTransport)
    with transport.connect() as connection:
        for number in range(3):
            connection.send(numbered_envelope(number))
    assert [m.recipients[0] for m in smtp_server.messages] == [
        "r0@example.com",
        "r1@example.com",
        "r2@example.com",
    ]


def test_settings_accept_a_list_of_relays(smtp_server: RecordingSMTPServer) -> None:
    settings = load_settings(
        smtp_url=f" smtp://relay-a.test:25 , {smtp_server.url}", _env_file=None
    )
    assert settings.smtp_url == f"smtp://relay-a.test:25,{smtp_server.url}"


def test_workers_share_one_budget_per_relay(
    smtp_server: RecordingSMTPServer, redis_url: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    stamps: list[float] = []
    readings: list[float] = []

    def clock() -> float:  # the budget's own clock: its last reading names the granted second
        readings.append(time.time())
        return readings[-1]

    # Two "workers", each with its own connection, drawing on the same budget in Redis.
    transports = [
        RateLimitedTransport(
            transport_from_url(smtp_server.url),
            RedisSendBudget(client, "relay-under-test", per_second=10, clock=clock),
        )
        for _ in range(2)
    ]
    granted: list[int] = []
    with transports[0].connect() as first, transports[1].connect() as second:
        for number in range(30):
            (first if number % 2 else second).send(numbered_envelope(number))
            granted.append(int(readings[-1]))
            stamps.append(time.time())
    assert max(Counter(granted).values()) <= 10
    assert len(smtp_server.messages) == 30
    assert stamps[-1] - stamps[0] >= 1.0  # 30 messages at 10 a second span 2+ seconds
