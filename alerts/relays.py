"""Several SMTP relays with failover, and a send rate per relay shared by every worker.

`SMTP_URL` may list relays separated by commas: a batch connects to the first that answers.
`SMTP_RATE` caps the messages a second that all workers together hand to one relay
(providers throttle or refuse above their limit); the count lives in Redis, so ten
workers on five machines share one budget. Without Redis the cap holds per process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol
from urllib.parse import urlsplit

import redis

from alerts.errors import DeliveryError
from alerts.messages import Envelope
from alerts.transports import MailConnection, Transport, transport_from_url

log = logging.getLogger(__name__)
Sleep = Callable[[float], None]


class FailoverTransport:
    """Connects to the first relay that answers; the order is the order of preference."""

    def __init__(self, relays: Sequence[tuple[str, Transport]]) -> None:
        self._relays = list(relays)

    @contextmanager
    def connect(self) -> Iterator[MailConnection]:
        failures = []
        for name, relay in self._relays:
            try:
                context = relay.connect()
                connection = context.__enter__()
            except DeliveryError as error:
                if error.permanent:
                    raise
                log.warning("relay %s unavailable, trying the next: %s", name, error)
                failures.append(f"{name}: {error.reason}")
                continue
            try:
                yield connection
            except BaseException as error:
                if not context.__exit__(type(error), error, error.__traceback__):
                    raise
            else:
                context.__exit__(None, None, None)
            return
        raise DeliveryError("no relay answered: " + "; ".join(failures), permanent=False)


class SendBudget(Protocol):
    def wait_for_turn(self) -> None:
        """Block until one more message may go to this relay in the current second."""
        ...


class RedisSendBudget:
    def __init__(
        self, client: redis.Redis, relay: str, *, per_second: int, sleep: Sleep = time.sleep
    ) -> None:
        self._client = client
        self._key = f"newsalerts:relay-rate:{relay}:"
        self._per_second = per_second
        self._sleep = sleep

    def wait_for_turn(self) -> None:
        while True:
            now = time.time()
            second = int(now)
            key = self._key + str(second)
            pipeline = self._client.pipeline()
            pipeline.incr(key)
            pipeline.expire(key, 2)
            count, _ = pipeline.execute()
            if int(count) <= self._per_second:
                return
            self._sleep(max(second + 1 - now, 0.001))


class LocalSendBudget:
    def __init__(self, *, per_second: int, sleep: Sleep = time.sleep) -> None:
        self._per_second = per_second
        self._sleep = sleep
        self._second = 0
        self._count = 0
        self._lock = threading.Lock()

    def wait_for_turn(self) -> None:
        while True:
            now = time.time()
            with self._lock:
                if int(now) != self._second:
                    self._second, self._count = int(now), 0
                if self._count < self._per_second:
                    self._count += 1
                    return
            self._sleep(max(int(now) + 1 - now, 0.001))


class RateLimitedTransport:
    """Waits for the relay's budget before each message."""

    def __init__(self, inner: Transport, budget: SendBudget) -> None:
        self._inner = inner
        self._budget = budget

    @contextmanager
    def connect(self) -> Iterator[MailConnection]:
        with self._inner.connect() as connection:
            yield _BudgetedConnection(connection, self._budget)


class _BudgetedConnection:
    def __init__(self, connection: MailConnection, budget: SendBudget) -> None:
        self._connection = connection
        self._budget = budget

    def send(self, envelope: Envelope) -> str:
        self._budget.wait_for_turn()
        return self._connection.send(envelope)


def relay_transport(
    smtp_url: str, *, per_second: int = 0, redis_url: str | None = None
) -> Transport:
    """The transport for `SMTP_URL`: one relay or several in order, each within its rate."""
    client = redis.Redis.from_url(redis_url) if (per_second and redis_url) else None
    relays: list[tuple[str, Transport]] = []
    for url in (part.strip() for part in smtp_url.split(",") if part.strip()):
        transport: Transport = transport_from_url(url)
        name = relay_name(url)
        if per_second and not url.startswith("file:"):
            budget: SendBudget = (
                RedisSendBudget(client, name, per_second=per_second)
                if client is not None
                else LocalSendBudget(per_second=per_second)
            )
            transport = RateLimitedTransport(transport, budget)
        relays.append((name, transport))
    if len(relays) == 1:
        return relays[0][1]
    return FailoverTransport(relays)


def relay_name(url: str) -> str:
    """host:port, never the credentials."""
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or ''}" if parts.hostname else url
