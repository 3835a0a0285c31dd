"""Several SMTP relays with failover, and a send rate per relay shared by every worker.

`SMTP_URL` may list relays separated by commas: a batch connects to the first that answers.
`SMTP_RATE` caps the messages a second that all workers together hand to one relay
(providers throttle or refuse above their limit); the count lives in Redis, so ten
workers on five machines share one budget. Without Redis the cap holds per process.
`max_connections` caps the connections all workers together hold open to one relay,
through leased slots in Redis; a worker that dies loses its slot when the lease runs out.
`alerts.config.parse_relays` reads the list; a relay's counters in Redis, like its log
lines, carry the relay's one name (`smtp:host:port`).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol

import redis

from alerts.config import Relay, parse_relays
from alerts.delivery.transports import MailConnection, Transport, transport_for
from alerts.errors import ConfigError, DeliveryError
from alerts.mail.mime import Envelope

log = logging.getLogger(__name__)
Sleep = Callable[[float], None]
# A connection slot's lease: renewed while its connection sends, lost by a dead worker.
SLOT_LEASE_SECONDS = 60.0
# How long a batch waits for a free connection before its rows are retried later.
SLOT_WAIT_SECONDS = 120.0


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
        self,
        client: redis.Redis,
        relay: str,
        *,
        per_second: int,
        sleep: Sleep = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._key = f"newsalerts:relay-rate:{relay}:"
        self._per_second = per_second
        self._sleep = sleep
        self._clock = clock

    def wait_for_turn(self) -> None:
        while True:
            now = self._clock()
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
        self.relay = connection.relay

    def send(self, envelope: Envelope, *, then: Envelope | None = None) -> str:
        self._budget.wait_for_turn()
        return self._connection.send(envelope, then=then)


class ConnectionSlots(Protocol):
    def acquire(self) -> str | None:
        """Take a slot if one is free; its token, or None."""
        ...

    def renew(self, token: str) -> None:
        """Keep holding the slot (a connection that is still sending)."""
        ...

    def release(self, token: str) -> None: ...


# Drop expired holders, then take a slot if fewer than the limit are held. One script, so
# two workers can never both take the last slot.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
    redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
    redis.call('EXPIRE', KEYS[1], ARGV[5])
    return 1
end
return 0
"""


class RedisConnectionSlots:
    """At most `limit` holders at once, across processes and machines: a sorted set of
    holders scored by when their lease ends."""

    def __init__(
        self,
        client: redis.Redis,
        relay: str,
        *,
        limit: int,
        lease: float = SLOT_LEASE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._key = f"newsalerts:relay-connections:{relay}"
        self._limit = limit
        self._lease = lease
        self._clock = clock
        self._acquire = client.register_script(_ACQUIRE)

    def acquire(self) -> str | None:
        token = uuid.uuid4().hex
        now = self._clock()
        taken = self._acquire(
            keys=[self._key],
            args=[now, self._limit, now + self._lease, token, int(self._lease) + 1],
        )
        return token if int(taken) else None

    def renew(self, token: str) -> None:
        # XX: only a slot still held; one lost to expiry is not taken back behind the cap.
        self._client.zadd(self._key, {token: self._clock() + self._lease}, xx=True)

    def release(self, token: str) -> None:
        self._client.zrem(self._key, token)


class LocalConnectionSlots:
    """The same cap within one process (no Redis)."""

    def __init__(self, *, limit: int) -> None:
        self._held: set[str] = set()
        self._limit = limit
        self._lock = threading.Lock()

    def acquire(self) -> str | None:
        with self._lock:
            if len(self._held) >= self._limit:
                return None
            token = uuid.uuid4().hex
            self._held.add(token)
            return token

    def renew(self, token: str) -> None:
        return None

    def release(self, token: str) -> None:
        with self._lock:
            self._held.discard(token)


class ConnectionCappedTransport:
    """Opens a connection only when the relay has a free slot, waiting up to `wait`
    seconds (then a temporary DeliveryError: the batch's rows are retried later)."""

    def __init__(
        self,
        inner: Transport,
        slots: ConnectionSlots,
        *,
        wait: float = SLOT_WAIT_SECONDS,
        lease: float = SLOT_LEASE_SECONDS,
        sleep: Sleep = time.sleep,
    ) -> None:
        self._inner = inner
        self._slots = slots
        self._wait = wait
        self._lease = lease
        self._sleep = sleep

    @contextmanager
    def connect(self) -> Iterator[MailConnection]:
        token = self._take_slot()
        try:
            with self._inner.connect() as connection:
                yield _SlotConnection(connection, self._slots, token, renew_every=self._lease / 3)
        finally:
            try:
                self._slots.release(token)
            except redis.exceptions.RedisError as error:
                log.warning("could not release a relay connection slot (it expires): %s", error)

    def _take_slot(self) -> str:
        deadline = time.monotonic() + self._wait
        pause = 0.02
        while True:
            try:
                token = self._slots.acquire()
            except redis.exceptions.RedisError as error:
                raise DeliveryError(
                    f"cannot count the relay's connections: {error}", permanent=False
                ) from error
            if token is not None:
                return token
            if time.monotonic() + pause > deadline:
                raise DeliveryError(
                    "the relay's connection limit stayed reached; retrying later",
                    permanent=False,
                )
            self._sleep(pause)
            pause = min(pause * 2, 0.5)


class _SlotConnection:
    def __init__(
        self, connection: MailConnection, slots: ConnectionSlots, token: str, *, renew_every: float
    ) -> None:
        self._connection = connection
        self.relay = connection.relay
        self._slots = slots
        self._token = token
        self._renew_every = renew_every
        self._renewed = time.monotonic()

    def send(self, envelope: Envelope, *, then: Envelope | None = None) -> str:
        if time.monotonic() - self._renewed > self._renew_every:
            try:
                self._slots.renew(self._token)
                self._renewed = time.monotonic()
            except redis.exceptions.RedisError as error:
                log.warning("could not renew a relay connection slot: %s", error)
        return self._connection.send(envelope, then=then)


def relay_transport(
    smtp_url: str,
    *,
    per_second: int = 0,
    redis_url: str | None = None,
    max_connections: int = 0,
    helo_name: str | None = None,
) -> Transport:
    """The transport for `SMTP_URL`: one relay or several in order, each within its rate
    and its cap on simultaneous connections, counted in Redis under the relay's name,
    greeting each as `helo_name` (SMTP_HELO_NAME).

    Raises ConfigError (`SMTP_URL: ...`) for a URL that names no relay.
    """
    try:
        relays = parse_relays(smtp_url)
    except ValueError as error:
        raise ConfigError(f"SMTP_URL: {error}") from None
    client = (
        redis.Redis.from_url(redis_url) if ((per_second or max_connections) and redis_url) else None
    )
    transports = [
        (relay.name, _limited(relay, client, per_second, max_connections, helo_name))
        for relay in relays
    ]
    if len(transports) == 1:
        return transports[0][1]
    return FailoverTransport(transports)


def _limited(
    relay: Relay,
    client: redis.Redis | None,
    per_second: int,
    max_connections: int,
    helo_name: str | None = None,
) -> Transport:
    """One relay's transport within its rate and its connection cap (a folder has neither)."""
    transport: Transport = transport_for(relay, helo_name=helo_name)
    if relay.folder is not None:
        return transport
    if per_second:
        budget: SendBudget = (
            RedisSendBudget(client, relay.name, per_second=per_second)
            if client is not None
            else LocalSendBudget(per_second=per_second)
        )
        transport = RateLimitedTransport(transport, budget)
    if max_connections:
        slots: ConnectionSlots = (
            RedisConnectionSlots(client, relay.name, limit=max_connections)
            if client is not None
            else LocalConnectionSlots(limit=max_connections)
        )
        transport = ConnectionCappedTransport(transport, slots)
    return transport
