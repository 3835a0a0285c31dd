"""SMTP_HELO_NAME is the name our client greets relays with; a bad one is a clear error."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from alerts.config import Settings, load_settings
from alerts.errors import ConfigError
from alerts.mail.mime import Envelope
from alerts.runtime import Runtime
from tests.support.smtp_server import free_port


class _Greetings:
    """Records the name each client gives in EHLO, and accepts every message."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.messages = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        self.names.append(hostname)
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages += 1
        return "250 OK"


@pytest.fixture
def relay() -> Iterator[tuple[str, _Greetings]]:
    handler, port = _Greetings(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield f"smtp://127.0.0.1:{port}", handler
    controller.stop()


def _send_one(settings: Settings) -> None:
    runtime = Runtime.from_settings(settings)
    try:
        message = (
            b"From: alerts@example.com\r\nTo: ada@example.com\r\nSubject: hi\r\n"
            b"Date: " + datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000").encode()
            + b"\r\n\r\nHello.\r\n"
        )  # fmt: skip
        with runtime.transport.connect() as connection:
            connection.send(
                Envelope("alerts@example.com", "ada@example.com", message, "<1@example.com>")
            )
    finally:
        runtime.close()


def test_the_client_greets_the_relay_with_smtp_helo_name(
    relay: tuple[str, _Greetings], tmp_path: Path
) -> None:
    url, handler = relay
    settings = load_settings(
        _env_file=None, database_url=f"sqlite:///{tmp_path}/a.db", smtp_url=url,
        smtp_helo_name="mail.news.example.com",
    )  # fmt: skip
    _send_one(settings)
    assert handler.names == ["mail.news.example.com"]
    assert handler.messages == 1


def test_without_it_the_client_keeps_its_own_name(
    relay: tuple[str, _Greetings], tmp_path: Path
) -> None:
    url, handler = relay
    _send_one(
        load_settings(_env_file=None, database_url=f"sqlite:///{tmp_path}/a.db", smtp_url=url)
    )
    assert len(handler.names) == 1 and handler.names[0] != "mail.news.example.com"


@pytest.mark.parametrize(
    "name", ["mail.example.com\r\nMAIL FROM:<x@example.com>", "two words", "[::1]", "-bad-.example"]
)
def test_a_name_no_relay_would_take_is_refused_with_the_variable_named(name: str) -> None:
    with pytest.raises(ConfigError, match=r"^SMTP_HELO_NAME: expected a host name"):
        load_settings(_env_file=None, smtp_helo_name=name)


@pytest.mark.parametrize(
    "name", ["mail.example.com", "relay-1", "[192.0.2.1]", "[IPv6:2001:db8::1]"]
)
def test_host_names_and_address_literals_are_accepted(name: str) -> None:
    assert load_settings(_env_file=None, smtp_helo_name=name).smtp_helo_name == name
