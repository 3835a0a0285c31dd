"""The SMTP exchange of one message, with and without PIPELINING (RFC 2920), against real
servers on loopback: what reaches the relay, and how each refusal or break is reported."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from alerts.config import load_settings
from alerts.delivery.transports import SMTPTransport, tls_context, transport_from_url
from alerts.errors import ConfigError, ConnectionLost, DeliveryError
from alerts.mail.mime import Envelope
from tests.support.certificates import private_ca
from tests.support.flaky_smtp import TRY_AGAIN, FlakySMTPServer
from tests.support.smtp_server import RecordingSMTPServer, free_port


def _envelope(recipient: str, body: str = "Hello") -> Envelope:
    data = f"From: news@example.com\r\nTo: {recipient}\r\nSubject: t\r\n\r\n{body}\r\n".encode()
    return Envelope("bounces@example.com", recipient, data, f"<{recipient}>")


@pytest.fixture(params=[False, True], ids=["step-by-step", "pipelined"])
def relay(request: pytest.FixtureRequest) -> Iterator[FlakySMTPServer]:
    server = FlakySMTPServer(pipelining=request.param)
    server.start()
    yield server
    server.stop()


def test_messages_arrive_whole_with_their_envelope(relay: FlakySMTPServer) -> None:
    with transport_from_url(relay.url).connect() as connection:
        for number in range(3):
            reply = connection.send(_envelope(f"r{number}@example.com", ".leading dot"))
            assert reply.startswith("250")
    received = relay.wait_for(3)
    assert [m.recipients for m in received] == [[f"r{n}@example.com"] for n in range(3)]
    assert {m.mail_from for m in received} == {"bounces@example.com"}
    assert all(m.message.get_content().startswith(".leading dot") for m in received)


@pytest.mark.parametrize(
    ("reply", "permanent"), [("550 5.1.1 No such user", True), (TRY_AGAIN, False)]
)
def test_a_refused_recipient_is_reported_and_the_connection_goes_on(
    relay: FlakySMTPServer, reply: str, permanent: bool
) -> None:
    relay.defer("gone@example.com", stage="RCPT", times=None, reply=reply)
    with transport_from_url(relay.url).connect() as connection:
        with pytest.raises(DeliveryError) as refused:
            connection.send(_envelope("gone@example.com"))
        connection.send(_envelope("next@example.com"))
    assert not isinstance(refused.value, ConnectionLost)
    assert refused.value.permanent is permanent
    assert refused.value.reply == reply
    assert [m.recipients for m in relay.wait_for(1)] == [["next@example.com"]]


def test_a_refusal_after_the_message_is_reported(relay: FlakySMTPServer) -> None:
    relay.defer("later@example.com", stage="DATA", times=None)
    with transport_from_url(relay.url).connect() as connection:
        with pytest.raises(DeliveryError) as refused:
            connection.send(_envelope("later@example.com"))
        connection.send(_envelope("next@example.com"))
    assert refused.value.reply == TRY_AGAIN
    assert not refused.value.unknown_outcome


def test_a_cut_before_the_message_is_a_lost_connection(relay: FlakySMTPServer) -> None:
    relay.drop("cut@example.com", stage="RCPT")
    connect = transport_from_url(relay.url).connect
    with connect() as connection, pytest.raises(ConnectionLost):
        connection.send(_envelope("cut@example.com"))
    assert relay.messages == []


def test_a_cut_after_the_message_is_an_unknown_outcome(relay: FlakySMTPServer) -> None:
    relay.drop("kept@example.com", stage="ACCEPTED")
    connect = transport_from_url(relay.url).connect
    with connect() as connection, pytest.raises(DeliveryError) as broken:
        connection.send(_envelope("kept@example.com"))
    assert broken.value.unknown_outcome
    assert not isinstance(broken.value, ConnectionLost)
    assert [m.recipients for m in relay.messages] == [["kept@example.com"]]


def test_a_relay_closing_with_421_is_a_lost_connection(relay: FlakySMTPServer) -> None:
    relay.limit_per_connection(1)
    with transport_from_url(relay.url).connect() as connection:
        connection.send(_envelope("first@example.com"))
        with pytest.raises(ConnectionLost) as lost:
            connection.send(_envelope("second@example.com"))
    assert lost.value.reply.startswith("421")


class _ScriptedRelay:
    """A relay on loopback for one connection, whose `_serve` follows a script."""

    def __init__(self) -> None:
        self.port = free_port()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        connection, _ = self._listener.accept()
        with connection, connection.makefile("rb") as lines:
            connection.sendall(b"220 relay.example.com ESMTP\r\n")
            lines.readline()  # EHLO
            connection.sendall(b"250-relay.example.com\r\n250 PIPELINING\r\n")
            self._script(connection, lines)

    def _script(self, connection: socket.socket, lines: BinaryIO) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._listener.close()


class _StrictPipeliningRelay(_ScriptedRelay):
    """Advertises PIPELINING and answers MAIL, RCPT and DATA only once all three have
    arrived: a client that waits for each reply before the next command hangs here."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        super().__init__()

    def _script(self, connection: socket.socket, lines: BinaryIO) -> None:
        commands = [lines.readline() for _ in range(3)]
        if not commands[2].upper().startswith(b"DATA"):
            return
        connection.sendall(b"250 sender ok\r\n250 recipient ok\r\n354 go ahead\r\n")
        while (line := lines.readline()) not in (b".\r\n", b""):
            self.received.append(line)
        connection.sendall(b"250 queued\r\n")
        lines.readline()  # QUIT
        connection.sendall(b"221 bye\r\n")


def test_mail_rcpt_and_data_go_in_one_round_trip_when_the_relay_pipelines() -> None:
    relay = _StrictPipeliningRelay()
    try:
        transport = transport_from_url(f"smtp://127.0.0.1:{relay.port}")
        transport.timeout = 5  # type: ignore[union-attr]
        with transport.connect() as connection:
            assert connection.send(_envelope("fast@example.com")) == "250 queued"
    finally:
        relay.close()
    assert b"To: fast@example.com\r\n" in relay.received


# --- the next message's envelope with this one's end (one round trip a message) -------------


def test_announced_messages_arrive_whole_in_order(relay: FlakySMTPServer) -> None:
    envelopes = [_envelope(f"a{number}@example.com", ".dot") for number in range(4)]
    with transport_from_url(relay.url).connect() as connection:
        for number, envelope in enumerate(envelopes):
            then = envelopes[number + 1] if number + 1 < len(envelopes) else None
            assert connection.send(envelope, then=then).startswith("250")
    received = relay.wait_for(4)
    assert [m.recipients for m in received] == [[f"a{n}@example.com"] for n in range(4)]
    assert all(m.message.get_content().startswith(".dot") for m in received)


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
def test_a_refusal_of_the_announced_message_is_its_own(relay: FlakySMTPServer, stage: str) -> None:
    relay.defer("second@example.com", stage=stage, times=None)  # type: ignore[arg-type]
    first, second, third = (_envelope(f"{n}@example.com") for n in ("first", "second", "third"))
    with transport_from_url(relay.url).connect() as connection:
        assert connection.send(first, then=second).startswith("250")
        with pytest.raises(DeliveryError) as refused:
            connection.send(second, then=third)
        assert connection.send(third).startswith("250")
    assert refused.value.reply == TRY_AGAIN and not refused.value.unknown_outcome
    assert [m.recipients for m in relay.wait_for(2)] == [
        ["first@example.com"],
        ["third@example.com"],
    ]


def test_an_announced_message_never_sent_is_never_delivered(relay: FlakySMTPServer) -> None:
    first, second = _envelope("first@example.com"), _envelope("second@example.com")
    with pytest.raises(RuntimeError), transport_from_url(relay.url).connect() as connection:
        connection.send(first, then=second)
        raise RuntimeError("the worker stops before the second message")
    relay.wait_for(1)
    assert [m.recipients for m in relay.messages] == [["first@example.com"]]


def test_another_message_than_the_announced_one_is_refused_unsent(relay: FlakySMTPServer) -> None:
    first, second = _envelope("first@example.com"), _envelope("second@example.com")
    with transport_from_url(relay.url).connect() as connection:
        connection.send(first, then=second)
        if relay.pipelining:
            with pytest.raises(ConnectionLost):
                connection.send(_envelope("other@example.com"))
    relay.wait_for(1)
    assert [m.recipients for m in relay.messages] == [["first@example.com"]]


class _EagerRelay(_ScriptedRelay):
    """Answers a message's final dot only once the next message's MAIL, RCPT and DATA
    have arrived too: a client that waits for each reply before writing more hangs here."""

    def __init__(self) -> None:
        self.bodies: list[list[bytes]] = []
        super().__init__()

    def _script(self, connection: socket.socket, lines: BinaryIO) -> None:
        [lines.readline() for _ in range(3)]  # MAIL, RCPT, DATA of the first
        connection.sendall(b"250 ok\r\n250 ok\r\n354 go ahead\r\n")
        for last in (False, True):
            body = []
            while (line := lines.readline()) not in (b".\r\n", b""):
                body.append(line)
            self.bodies.append(body)
            if last:
                connection.sendall(b"250 queued last\r\n")
                break
            next_commands = [lines.readline() for _ in range(3)]
            if not next_commands[2].upper().startswith(b"DATA"):
                return
            connection.sendall(b"250 queued\r\n250 ok\r\n250 ok\r\n354 go ahead\r\n")
        lines.readline()  # QUIT
        connection.sendall(b"221 bye\r\n")


def test_the_next_envelope_goes_with_the_final_dot() -> None:
    relay = _EagerRelay()
    first, second = _envelope("one@example.com"), _envelope("two@example.com")
    try:
        transport = transport_from_url(f"smtp://127.0.0.1:{relay.port}")
        transport.timeout = 5  # type: ignore[union-attr]
        with transport.connect() as connection:
            assert connection.send(first, then=second) == "250 queued"
            assert connection.send(second) == "250 queued last"
    finally:
        relay.close()
    assert [b"To: one@example.com\r\n" in body for body in relay.bodies] == [True, False]


class _SocketFailingAfter:
    """A socket that takes `limit` bytes, then fails as a reset connection would."""

    def __init__(self, inner: socket.socket, limit: int) -> None:
        self._inner, self._left = inner, limit

    def send(self, data: memoryview) -> int:
        if self._left <= 0:
            self._inner.shutdown(socket.SHUT_RDWR)
            raise ConnectionResetError("reset by peer")
        sent = self._inner.send(data[: self._left])
        self._left -= sent
        return sent

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


@pytest.mark.parametrize(("past_the_dot", "unknown"), [(False, False), (True, True)])
def test_a_write_cut_short_is_unknown_only_once_the_final_dot_went_out(
    relay: FlakySMTPServer, past_the_dot: bool, unknown: bool
) -> None:
    if past_the_dot and not relay.pipelining:
        pytest.skip("without PIPELINING the write ends with the final dot")
    first, second = _envelope("first@example.com"), _envelope("second@example.com")
    message_bytes = len(first.data) + len(b".\r\n")  # nothing to dot-stuff in it
    with transport_from_url(relay.url).connect() as connection:
        client = connection._client  # type: ignore[attr-defined]
        limit = message_bytes if past_the_dot else message_bytes - 1
        client.sock = _SocketFailingAfter(client.sock, limit)
        with pytest.raises(DeliveryError) as broken:
            connection.send(first, then=second)
    assert isinstance(broken.value, ConnectionLost) is not unknown
    assert broken.value.unknown_outcome is unknown


# --- credentials: never in clear ------------------------------------------------------------


@pytest.fixture
def relay_without_tls() -> Iterator[RecordingSMTPServer]:
    """A relay that offers AUTH but no STARTTLS, as a machine in the path that strips
    STARTTLS from a relay's answer makes it look."""
    server = RecordingSMTPServer(login=("news", "s3cret"))
    server.start()
    yield server
    server.stop()


def test_a_password_is_never_sent_to_a_relay_that_offers_no_tls(
    relay_without_tls: RecordingSMTPServer,
) -> None:
    url = f"smtp://news:s3cret@127.0.0.1:{relay_without_tls.port}"
    with pytest.raises(DeliveryError) as refused, transport_from_url(url).connect():
        pass
    assert refused.value.permanent
    assert f"smtp:127.0.0.1:{relay_without_tls.port} offers no STARTTLS" in refused.value.reason
    assert "s3cret" not in str(refused.value)
    assert relay_without_tls.logins == []


def test_tls_none_lets_a_relay_on_loopback_take_the_password(
    relay_without_tls: RecordingSMTPServer,
) -> None:
    url = f"smtp://news:s3cret@127.0.0.1:{relay_without_tls.port}?tls=none"
    with transport_from_url(url).connect() as connection:
        assert connection.send(_envelope("reader@example.com")).startswith("250")
    assert relay_without_tls.logins == [("news", "s3cret")]
    assert [m.recipients for m in relay_without_tls.wait_for(1)] == [["reader@example.com"]]


def test_refused_credentials_are_a_permanent_error_that_says_so(
    relay_without_tls: RecordingSMTPServer,
) -> None:
    url = f"smtp://news:wrong@127.0.0.1:{relay_without_tls.port}?tls=none"
    with pytest.raises(DeliveryError) as refused, transport_from_url(url).connect():
        pass
    assert refused.value.permanent
    assert refused.value.reason.startswith(f"smtp:127.0.0.1:{relay_without_tls.port} refused")
    assert "wrong" not in refused.value.reason


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("smtp://news:s3cret@relay.example:587?tls=none", "only for a relay on loopback"),
        ("smtp://news:s3cret@10.0.0.5:25?tls=none", "only for a relay on loopback"),
        ("smtp://news:s3cret@localhost:25?tls=none", "only for a relay on loopback"),
        ("smtps://news:s3cret@127.0.0.1?tls=none", "contradicts smtps://"),
        ("smtp://news:s3cret@127.0.0.1:25?tls=off", "may only be tls=none"),
    ],
)
def test_tls_none_is_refused_off_loopback(url: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as refused:
        transport_from_url(url)
    assert str(refused.value).startswith("SMTP_URL: ")
    assert "s3cret" not in str(refused.value)
    with pytest.raises(ConfigError, match=problem):
        load_settings(smtp_url=url)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "[::1]"])
def test_tls_none_is_accepted_on_loopback(host: str) -> None:
    transport = transport_from_url(f"smtp://news:s3cret@{host}:2525?tls=none")
    assert isinstance(transport, SMTPTransport) and transport.tls_none


@pytest.fixture
def private_relay(tmp_path: Path) -> Iterator[tuple[RecordingSMTPServer, Path]]:
    """A relay offering STARTTLS (and AUTH only after it) with a certificate from a CA
    nobody trusts by default; and that CA's certificate."""
    authority = private_ca(tmp_path)
    server = RecordingSMTPServer(login=("news", "s3cret"), tls=authority.server_context)
    server.start()
    tls_context.cache_clear()  # the trusted CAs are read once a process: read them afresh
    yield server, authority.ca_file
    server.stop()
    tls_context.cache_clear()


def test_a_certificate_that_does_not_verify_is_named_and_gets_no_password(
    private_relay: tuple[RecordingSMTPServer, Path],
) -> None:
    relay, _ = private_relay
    url = f"smtp://news:s3cret@127.0.0.1:{relay.port}"
    with pytest.raises(DeliveryError) as refused, transport_from_url(url).connect():
        pass
    assert refused.value.reason.startswith(
        f"smtp:127.0.0.1:{relay.port}'s TLS certificate does not verify"
    )
    assert "SSL_CERT_FILE" in refused.value.reason
    assert relay.logins == []


def test_ssl_cert_file_trusts_a_private_ca_and_the_password_goes_over_tls(
    private_relay: tuple[RecordingSMTPServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    relay, ca_file = private_relay
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # as docs/operations.md says
    url = f"smtp://news:s3cret@127.0.0.1:{relay.port}"
    with transport_from_url(url).connect() as connection:
        assert connection.send(_envelope("reader@example.com")).startswith("250")
    assert relay.logins == [("news", "s3cret")]
    assert relay.logins_in_clear == []
