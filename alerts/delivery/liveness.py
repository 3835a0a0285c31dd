"""Proof that a sending process is alive, and the record of which message is on the wire.

Every process that sends holds an *owner* number: a random 63-bit id for one life of the
process, written on each ledger row it claims (`deliveries.claimed_by`). A thread renews
the key `newsalerts:alive:<owner>` in Redis every `HEARTBEAT_SECONDS`, with a time to live
of `HEARTBEAT_TTL_SECONDS`. The sweeper (alerts.jobs.sweep, every few seconds) recovers the
rows of owners whose key has gone: the process died, or its host lost the network.

The process fences itself before the sweeper can act. It may send only while its last
renewal *began* less than `SAFE_SECONDS` (TTL minus one interval) ago; Redis counts the
TTL from when it executed the renewal, later still. An owner that went stale is given up
for good, never renewed again even when Redis answers again (a healed partition), so a
process that was cut off, paused, or starved finds out before its next message, and
takes a new owner number for later batches. Its SMTP sockets give up unacknowledged data after
`UNACKED_DATA_SECONDS` (TCP_USER_TIMEOUT, below `SAFE_SECONDS`), so a message whose final
dot was queued on a cut link is discarded by the kernel before the sweeper sends it again.

Which message is on the wire: before each message the process writes, without waiting
for an answer, `HSET newsalerts:wire:<owner> on <row id>` together with the outcome of
the previous message if the relay accepted it. The writes go over one connection on which
Redis sends no replies (`CLIENT REPLY OFF`): a `send()` into the socket, no round trip.
They are written before the message, on the same host, so when the final dot of row k
may have reached the relay, Redis has "on k". From the record the sweeper knows, of the
rows the dead process had marked `sending`: which were accepted (sent), which one may
have been on the wire (an unknown outcome), and which were never attempted (sent again).

A Redis that restarted empty has lost every heartbeat: `newsalerts:epoch`, written when
missing, tells the sweeper that, and it waits a whole TTL for the living to renew before
it believes a missing heartbeat (`heartbeats_settled`).

Without Redis (the embedded default) there is no heartbeat: `NO_LIVENESS` claims without
an owner, and the claim's lease is the only recovery, as it is when Redis is gone.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import redis
from redis.connection import Connection

from alerts.errors import LivenessLost
from alerts.ledger.claims import Accepted, WireRecord

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
HEARTBEAT_TTL_SECONDS = 15
# How long after a renewal began the process may still send: one interval of slack
# before the key can expire.
SAFE_SECONDS = HEARTBEAT_TTL_SECONDS - HEARTBEAT_SECONDS
# Unacknowledged data on a sending socket is dropped after this (TCP_USER_TIMEOUT).
UNACKED_DATA_SECONDS = SAFE_SECONDS - 2.0
# The hash of what is on the wire is kept a day after its last write, then forgotten.
WIRE_KEPT_SECONDS = 24 * 3600

ALIVE_PREFIX = "newsalerts:alive:"
WIRE_PREFIX = "newsalerts:wire:"
EPOCH_KEY = "newsalerts:epoch"
ON_WIRE = "on"


class Liveness(Protocol):
    """What a batch asks of its process's proof of life (see the module's docstring)."""

    def begin(self) -> int | None:
        """The owner to claim rows with, proven alive now. Raises LivenessLost."""

    def alive(self) -> bool:
        """Whether the process may still send (checked before every message)."""

    def new_batch(self) -> None:
        """Forget the previous batch's record of the wire."""

    def on_wire(self, row_id: int | None, accepted: Sequence[tuple[int, Accepted]]) -> None:
        """Note, before its message is written, that row `row_id` goes on the wire, and
        the messages the relay accepted since the last note."""


class _NoLiveness:
    """A sender without Redis: no owner, always allowed, nothing recorded."""

    def begin(self) -> int | None:
        return None

    def alive(self) -> bool:
        return True

    def new_batch(self) -> None:
        return None

    def on_wire(self, row_id: int | None, accepted: Sequence[tuple[int, Accepted]]) -> None:
        return None


NO_LIVENESS: Liveness = _NoLiveness()


def guard_socket(sock: socket.socket) -> None:
    """Have the kernel drop data a peer has not acknowledged after UNACKED_DATA_SECONDS."""
    option = getattr(socket, "TCP_USER_TIMEOUT", None)
    if option is None:  # not Linux
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, option, int(UNACKED_DATA_SECONDS * 1000))
    except OSError as error:  # not TCP (a Unix socket)
        log.debug("TCP_USER_TIMEOUT not set: %s", error)


class RedisLiveness:
    """A process's heartbeat and wire record in Redis. Made once per process; after a fork
    the child starts afresh with an owner of its own."""

    def __init__(
        self,
        url: str,
        *,
        interval: float = HEARTBEAT_SECONDS,
        ttl: int = HEARTBEAT_TTL_SECONDS,
    ) -> None:
        self._url = url
        self._interval, self._ttl = interval, ttl
        self._safe = ttl - interval
        self._lock = threading.Lock()
        self._pid = -1
        self._owner: int | None = None
        self._renewed = float("-inf")  # time.monotonic() when the last good renewal began
        self._renewed_wall = float("-inf")  # the same, time.time(): a paused machine
        self._client: redis.Redis | None = None
        self._wire: Connection | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- the sending side ---------------------------------------------------------------

    def begin(self) -> int | None:
        with self._lock:
            self._after_fork()
            if self._owner is not None and self._fresh():
                return self._owner
            # A first batch, or the last owner went stale: it is given up for good.
            self._owner = secrets.randbits(63) or 1
            self._renewed = float("-inf")
            owner = self._owner
        self._renew(owner)
        if not self.alive():
            raise LivenessLost("cannot reach Redis to prove this worker is alive")
        self._start_thread()
        return owner

    def alive(self) -> bool:
        if self._fresh():
            return True
        if self._owner is not None:
            log.warning("this worker's heartbeat is stale: it sends nothing more as owner %d",
                        self._owner)  # fmt: skip
            with self._lock:
                self._owner = None
        return False

    def new_batch(self) -> None:
        owner = self._owner
        if owner is not None:
            self._write(("DEL", WIRE_PREFIX + str(owner)))

    def on_wire(self, row_id: int | None, accepted: Sequence[tuple[int, Accepted]]) -> None:
        owner = self._owner
        if owner is None:
            return
        fields: list[str] = []
        if row_id is not None:
            fields += [ON_WIRE, str(row_id)]
        for accepted_id, outcome in accepted:
            fields += [str(accepted_id), outcome.encode()]
        if not fields:
            return
        key = WIRE_PREFIX + str(owner)
        if row_id is None:  # once a group: keep the note a day, no longer
            self._write(("HSET", key, *fields), ("EXPIRE", key, str(WIRE_KEPT_SECONDS)))
        else:
            self._write(("HSET", key, *fields))

    def close(self) -> None:
        """Stop renewing (a worker shutting down, its batches done): the key expires."""
        self._stop.set()
        with self._lock:
            self._owner = None

    # -- inside ------------------------------------------------------------------------

    def _fresh(self) -> bool:
        return (
            time.monotonic() - self._renewed < self._safe
            and time.time() - self._renewed_wall < self._safe
        )

    def _after_fork(self) -> None:
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        self._owner, self._client, self._wire, self._thread = None, None, None, None
        self._stop = threading.Event()
        self._renewed = self._renewed_wall = float("-inf")

    def _renew(self, owner: int) -> None:
        began, began_wall = time.monotonic(), time.time()
        try:
            if self._client is None:
                wait = min(2.0, self._interval)
                self._client = redis.Redis.from_url(
                    self._url, socket_timeout=wait, socket_connect_timeout=wait
                )
            self._client.set(
                ALIVE_PREFIX + str(owner),
                f"{socket.gethostname()} {os.getpid()}",
                ex=self._ttl,
            )
        except redis.RedisError as error:
            log.warning("could not renew this worker's heartbeat: %s", error)
            return
        with self._lock:
            if self._owner == owner:
                self._renewed, self._renewed_wall = began, began_wall

    def _start_thread(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._thread = threading.Thread(target=self._beat, name="newsalerts-heartbeat", daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self._interval):
            owner = self._owner
            # A stale owner is never revived, even once Redis answers again: the sweeper
            # may have taken its rows, and a batch that has not looked yet must find out.
            if owner is not None and self._pid == os.getpid() and self.alive():
                self._renew(owner)

    def _write(self, *commands: tuple[str, ...]) -> None:
        """Send commands on the connection Redis does not answer on; never waits."""
        try:
            if self._wire is None:
                self._wire = _silent_connection(self._url)
            packed = b"".join(_resp(command) for command in commands)
            self._wire.send_packed_command([packed], check_health=False)  # type: ignore[no-untyped-call]
        except (redis.RedisError, OSError) as error:
            log.debug("could not note the wire position: %s", error)
            if self._wire is not None:
                self._wire.disconnect()  # type: ignore[no-untyped-call]
            self._wire = None


def _resp(command: tuple[str, ...]) -> bytes:
    """A command in Redis' protocol (RESP): a tenth of redis-py's packing on this path."""
    parts = [b"*%d\r\n" % len(command)]
    for argument in command:
        encoded = argument.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(encoded), encoded))
    return b"".join(parts)


def _silent_connection(url: str) -> Connection:
    """A connection to `url` on which Redis sends no replies (CLIENT REPLY OFF)."""
    pool = redis.ConnectionPool.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    connection = pool.make_connection()
    connection.connect()  # type: ignore[no-untyped-call]
    assert isinstance(connection, Connection)
    if connection._sock is not None:
        guard_socket(connection._sock)
    connection.send_command("CLIENT", "REPLY", "OFF", check_health=False)  # type: ignore[no-untyped-call]
    return connection


# -- the sweeper's side ------------------------------------------------------------------


@dataclass(frozen=True)
class RedisState:
    """What the epoch key says of Redis, for one sweep."""

    # The key was missing: Redis came up empty (or this is the first sweep ever), and
    # every queued batch and heartbeat went with it.
    lost_data: bool
    # A missing heartbeat means a dead owner: not until a whole TTL after Redis came up
    # empty, time for the living to renew theirs.
    heartbeats_settled: bool


def redis_state(client: redis.Redis, *, now: float) -> RedisState:
    """Read the epoch key, writing it when missing (two commands, one round trip)."""
    pipeline = client.pipeline(transaction=False)
    pipeline.set(EPOCH_KEY, repr(now), nx=True)
    pipeline.get(EPOCH_KEY)
    created, raw = pipeline.execute()
    try:
        since = float(raw) if raw is not None else now
    except ValueError:
        since = now
    return RedisState(
        lost_data=bool(created), heartbeats_settled=now - since >= HEARTBEAT_TTL_SECONDS
    )


def dead_owners(client: redis.Redis, owners: Sequence[int]) -> list[int]:
    """The owners among `owners` whose heartbeat has gone (one round trip)."""
    if not owners:
        return []
    pipeline = client.pipeline(transaction=False)
    for owner in owners:
        pipeline.exists(ALIVE_PREFIX + str(owner))
    return [owner for owner, found in zip(owners, pipeline.execute(), strict=True) if not found]


def wire_records(client: redis.Redis, owners: Sequence[int]) -> dict[int, WireRecord | None]:
    """What each owner noted of the wire, or None where nothing is known (Redis lost it)."""
    if not owners:
        return {}
    pipeline = client.pipeline(transaction=False)
    for owner in owners:
        pipeline.hgetall(WIRE_PREFIX + str(owner))
    records: dict[int, WireRecord | None] = {}
    for owner, raw in zip(owners, pipeline.execute(), strict=True):
        records[owner] = _record(raw) if raw else None
    return records


def forget(client: redis.Redis, owners: Sequence[int]) -> None:
    """Drop the wire records of owners whose rows were recovered."""
    if owners:
        client.delete(*(WIRE_PREFIX + str(owner) for owner in owners))


def _record(raw: dict[bytes, bytes]) -> WireRecord:
    on_wire: int | None = None
    accepted: dict[int, Accepted] = {}
    for name, value in raw.items():
        try:
            if name == ON_WIRE.encode():
                on_wire = int(value)
            else:
                accepted[int(name)] = Accepted.decode(value.decode("utf-8", "replace"))
        except ValueError:
            log.warning("unreadable wire record field %r", name)
    return WireRecord(on_wire=on_wire, accepted=accepted)
