"""Which addresses a feed fetch may reach, judged where the connection is opened."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from alerts.errors import FeedError
from alerts.feeds import network
from alerts.feeds.network import is_public
from alerts.feeds.reading import fetch_feed


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        ("127.0.0.1", False),
        ("127.8.9.10", False),
        ("::1", False),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),  # shared address space (carrier NAT)
        ("169.254.169.254", False),  # link-local: clouds' metadata service
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:10.0.0.1", False),
        ("224.0.0.1", False),
        ("not an address", False),
    ],
)
def test_only_global_addresses_are_public(address: str, public: bool) -> None:
    assert is_public(address) is public


def test_a_name_with_any_private_address_is_refused_before_connecting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A name that answers with a public and a private address (or a rebinding DNS server's
    two answers) is refused whole: no connection is made to either."""
    asked: list[str] = []

    def resolve(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        asked.append(host)
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port)),
        ]

    def never(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("connected although the name resolves to a private address")

    monkeypatch.setattr(network.socket, "getaddrinfo", resolve)
    monkeypatch.setattr(network.httpcore.SyncBackend, "connect_tcp", never)
    with pytest.raises(FeedError, match=r"feeds\.example\.com \(10\.0\.0\.7\) is not a public"):
        fetch_feed("https://feeds.example.com/feed.xml", timeout=5)
    assert asked == ["feeds.example.com"]


def test_the_connection_goes_to_the_address_that_was_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The name is resolved once, and the connection is opened to that answer: a second
    resolution (which a rebinding DNS server would answer with 127.0.0.1) never happens."""
    answers = iter(["93.184.215.14", "127.0.0.1"])
    connected: list[str] = []

    def resolve(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    def connect(self: Any, host: str, port: int, **kwargs: Any) -> None:
        connected.append(host)
        raise network.httpcore.ConnectError("no network in tests")

    monkeypatch.setattr(network.socket, "getaddrinfo", resolve)
    monkeypatch.setattr(network.httpcore.SyncBackend, "connect_tcp", connect)
    with pytest.raises(FeedError, match="cannot connect"):
        fetch_feed("http://feeds.example.com/feed.xml", timeout=5)
    assert connected == ["93.184.215.14"]
