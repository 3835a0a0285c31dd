"""A real SMTP server on loopback (aiosmtpd) that records what it receives."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Received:
    mail_from: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class Extensions:
    """EHLO as aiosmtpd answers it, plus PIPELINING (RFC 2920) when `pipelining` is set.
    aiosmtpd reads commands one line at a time, so it serves pipelined clients either way;
    advertising it is what makes a client pipeline."""

    pipelining: bool = False

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            return [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses


@dataclass
class _Recorder(Extensions):
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Addresses for which the server answers a permanent (5xx) or temporary (4xx) refusal.
    refuse: dict[str, str] = field(default_factory=dict)
    # Seconds to wait before accepting each message: a slow relay, for fault tests.
    delay: float = 0.0
    # Cleared while the relay holds every DATA it receives (see RecordingSMTPServer.hold).
    accepting: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.accepting.set()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        reply = self.refuse.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        while not self.accepting.is_set():
            await asyncio.sleep(0.01)
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            self.messages.append(
                Received(
                    envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content)
                )
            )
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RecordingSMTPServer:
    """Records what it receives. With `login`, it offers AUTH and records every login tried
    (`logins`, and `logins_in_clear` for those made without TLS): without `tls`, it offers
    AUTH without STARTTLS, as a relay (or whoever strips STARTTLS from a relay's answer)
    may; with `tls`, it offers STARTTLS and AUTH only after it."""

    def __init__(
        self,
        *,
        pipelining: bool = False,
        login: tuple[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.port = free_port()
        self._recorder = _Recorder()
        self._recorder.pipelining = pipelining
        self._running = False
        self._login = login
        self.logins: list[tuple[str, str]] = []
        self.logins_in_clear: list[tuple[str, str]] = []
        auth: dict[str, Any] = {}
        if login is not None:
            auth = {"auth_require_tls": tls is not None, "authenticator": self._authenticate}
        if tls is not None:
            auth["tls_context"] = tls
        self._controller = Controller(
            self._recorder, hostname="127.0.0.1", port=self.port, decode_data=False, **auth
        )

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        tried = (data.login.decode(errors="replace"), data.password.decode(errors="replace"))
        self.logins.append(tried)
        if session.ssl is None:
            self.logins_in_clear.append(tried)
        return AuthResult(success=tried == self._login, handled=False)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[Received]:
        with self._recorder.lock:
            return list(self._recorder.messages)

    def slow_down(self, seconds: float) -> None:
        self._recorder.delay = seconds

    def hold(self) -> None:
        """Stop answering DATA until `release`: a message already past it is still
        recorded; every sender waits, mid-message, where it is."""
        self._recorder.accepting.clear()

    def release(self) -> None:
        self._recorder.accepting.set()

    def refuse(self, address: str, reply: str) -> None:
        self._recorder.refuse[address] = reply

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return self.messages
            time.sleep(0.05)
        raise AssertionError(f"expected {count} messages, got {len(self.messages)}")

    @property
    def running(self) -> bool:
        return self._running

    def start(self) -> None:
        self._controller.start()
        self._running = True

    def stop(self) -> None:
        self._controller.stop()
        self._running = False
