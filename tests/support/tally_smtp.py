"""A real SMTP server (aiosmtpd) for sends of tens of thousands of messages: it keeps, per
message, who it was for, which address sent it and when, and drops the bytes.

What a multi-host test asks of the relay: did each reader get exactly one message, and which
host sent it (the client's address, as the server saw it on the network).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiosmtpd.controller import Controller

from subscribers.database import utcnow
from tests.support.smtp_server import free_port


@dataclass(frozen=True)
class Arrival:
    recipients: tuple[str, ...]
    peer: str  # the client's IP address
    at: datetime  # UTC, when the server accepted it


@dataclass
class _Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    arrivals: list[Arrival] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        arrival = Arrival(tuple(envelope.rcpt_tos), str(session.peer[0]), utcnow())
        with self.lock:
            self.arrivals.append(arrival)
        return "250 Message accepted for delivery"


class TallyingSMTPServer:
    def __init__(self, *, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = free_port()
        self._tally = _Tally()
        self._controller = Controller(self._tally, hostname=host, port=self.port, decode_data=False)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    @property
    def arrivals(self) -> list[Arrival]:
        with self._tally.lock:
            return list(self._tally.arrivals)

    def count(self) -> int:
        with self._tally.lock:
            return len(self._tally.arrivals)

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.count() < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} messages, got {self.count()}")
            time.sleep(0.1)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
