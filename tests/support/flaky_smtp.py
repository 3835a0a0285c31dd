"""A real SMTP server on loopback (aiosmtpd) that misbehaves on cue, for fault tests.

Per address, a fault applies to the first `times` attempts (None: every attempt); an attempt
is one RCPT TO for that address. Faults:

- `defer(address, stage=...)`: a temporary refusal (`451 4.3.0 Try again later`) at RCPT, or
  at the end of DATA (the message is read, then refused and discarded).
- `drop(address, stage=...)`: the connection is cut (TCP reset) instead of an answer:
  at "RCPT" (before the message is sent), at "DATA" (after the message was read, which the
  server discards), or at "ACCEPTED" (the server keeps the message, but the client never
  hears the 250: the lost-reply case of RFC 1047).

`limit_per_connection(n)`: after n messages on one connection, RCPT gets `421` and the
server closes the connection, as relays with a per-connection message limit do.

`defer_every(n)`: every n-th message that reaches the end of DATA (counted over all
connections, whoever it is for) gets `451` and is discarded, as a throttling relay does.

Like RecordingSMTPServer, it records every message it keeps, and it also logs every
attempt and what it did with it.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from aiosmtpd.controller import Controller

from tests.support.smtp_server import Extensions, Received, free_port

TRY_AGAIN = "451 4.3.0 Try again later"
CONNECTION_LIMIT = "421 4.7.0 Too many messages on this connection, closing"
Stage = Literal["RCPT", "DATA", "ACCEPTED"]


@dataclass(frozen=True)
class Fault:
    stage: Stage
    reply: str | None  # None: cut the connection instead of answering
    times: int | None  # the first `times` attempts of the address; None: all of them


@dataclass(frozen=True)
class Event:
    address: str
    attempt: int
    outcome: str  # "accepted", "deferred at RCPT", "dropped at DATA", ...


@dataclass
class _Handler(Extensions):
    lock: threading.Lock = field(default_factory=threading.Lock)
    messages: list[Received] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)
    events: list[Event] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    delay: float = 0.0
    # Messages accepted per connection before the server answers RCPT with 421 and hangs up.
    per_connection: int | None = None
    # Every n-th message at the end of DATA is refused for now (None: none are).
    every: int | None = None
    data_count: int = 0

    def _fault(self, address: str, stage: Stage) -> Fault | None:
        attempt = self.attempts[address]
        for fault in self.faults.get(address, ()):
            if fault.stage == stage and (fault.times is None or attempt <= fault.times):
                return fault
        return None

    def _log(self, address: str, outcome: str) -> None:
        self.events.append(Event(address, self.attempts[address], outcome))

    @staticmethod
    def _cut(server: Any) -> str:
        """Reset the connection: the client gets no answer at all."""
        server.transport.abort()
        return "421 4.4.2 connection dropped"  # never reaches the client

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        with self.lock:
            self.attempts[address] += 1
            full = self.per_connection is not None and (
                getattr(session, "accepted_here", 0) >= self.per_connection
            )
            fault = None if full else self._fault(address, "RCPT")
            if full:
                self._log(address, "refused at RCPT: connection limit")
            elif fault is not None:
                self._log(address, f"{'deferred' if fault.reply else 'dropped'} at RCPT")
        if full:
            # Answer, then close: unlike a cut, the client reads this 421.
            asyncio.get_running_loop().call_soon(server.transport.close)
            return CONNECTION_LIMIT
        if fault is None:
            envelope.rcpt_tos.append(address)
            return "250 OK"
        return fault.reply or self._cut(server)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        received = Received(
            envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content)
        )
        with self.lock:
            for address in received.recipients:
                fault = self._fault(address, "DATA")
                if fault is not None:
                    self._log(address, f"{'deferred' if fault.reply else 'dropped'} at DATA")
                    return fault.reply or self._cut(server)
            self.data_count += 1
            if self.every is not None and self.data_count % self.every == 0:
                for address in received.recipients:
                    self._log(address, "deferred at DATA")
                return TRY_AGAIN
            self.messages.append(received)
            session.accepted_here = getattr(session, "accepted_here", 0) + 1
            lost_reply = [a for a in received.recipients if self._fault(a, "ACCEPTED")]
            for address in received.recipients:
                self._log(address, "accepted, reply lost" if lost_reply else "accepted")
        if lost_reply:
            return self._cut(server)
        return "250 Message accepted for delivery"


class FlakySMTPServer:
    def __init__(self, *, pipelining: bool = False) -> None:
        self.port = free_port()
        self._handler = _Handler()
        self._handler.pipelining = pipelining
        self._controller = Controller(
            self._handler, hostname="127.0.0.1", port=self.port, decode_data=False
        )

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def pipelining(self) -> bool:
        return self._handler.pipelining

    @property
    def messages(self) -> list[Received]:
        with self._handler.lock:
            return list(self._handler.messages)

    @property
    def events(self) -> list[Event]:
        with self._handler.lock:
            return list(self._handler.events)

    def attempts(self, address: str) -> int:
        """How many times a client asked to send to `address` (RCPT TO)."""
        with self._handler.lock:
            return self._handler.attempts[address]

    def defer(
        self,
        address: str,
        *,
        stage: Literal["RCPT", "DATA"] = "DATA",
        times: int | None = 1,
        reply: str = TRY_AGAIN,
    ) -> None:
        self._add(address, Fault(stage, reply, times))

    def drop(self, address: str, *, stage: Stage = "RCPT", times: int | None = 1) -> None:
        self._add(address, Fault(stage, None, times))

    def _add(self, address: str, fault: Fault) -> None:
        with self._handler.lock:
            self._handler.faults.setdefault(address, []).append(fault)

    def limit_per_connection(self, messages: int) -> None:
        """Accept this many messages per connection, then answer RCPT with 421 and close the
        connection (as relays with a per-connection message limit do)."""
        self._handler.per_connection = messages

    def defer_every(self, messages: int) -> None:
        """Answer every `messages`-th DATA (over all connections) with 451."""
        self._handler.every = messages

    def slow_down(self, seconds: float) -> None:
        self._handler.delay = seconds

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return self.messages
            time.sleep(0.05)
        raise AssertionError(f"expected {count} messages, got {len(self.messages)}")

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
