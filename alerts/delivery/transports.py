"""Mail transports: the one I/O boundary of sending. SMTP for real, a folder of .eml for demos.

A transport opens a connection for a batch and sends many messages over it; errors are
turned into DeliveryError, marked permanent (5xx: do not retry) or temporary.
"""

from __future__ import annotations

import contextlib
import os
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Protocol

from alerts.config import Relay, parse_relay
from alerts.delivery.liveness import guard_socket
from alerts.errors import ConfigError, ConnectionLost, DeliveryError
from alerts.mail.mime import Envelope

SMTP_TIMEOUT_SECONDS = 30.0


class MailConnection(Protocol):
    @property
    def relay(self) -> str:
        """The relay this connection reaches, by its one name (`alerts.config.Relay.name`)."""
        ...

    def send(self, envelope: Envelope, *, then: Envelope | None = None) -> str:
        """Hand one message over; return the server's reply. Raise DeliveryError.

        `then`, the message the caller sends next on this connection, may have its
        transaction opened in the same write (only its envelope: nothing of it can be
        delivered before the caller sends it). The next call must then be for `then`.
        """
        ...


class Transport(Protocol):
    def connect(self) -> AbstractContextManager[MailConnection]:
        """Open a connection for one batch of messages."""
        ...


class FileTransport:
    """Writes each message as `<message-id>.eml` into a folder, atomically."""

    def __init__(self, folder: Path, *, relay: str | None = None) -> None:
        self.folder = folder
        self.relay = relay or f"file://{folder}"

    @contextmanager
    def connect(self) -> Iterator[MailConnection]:
        self.folder.mkdir(parents=True, exist_ok=True)
        yield _FileConnection(self.folder, self.relay)


class _FileConnection:
    def __init__(self, folder: Path, relay: str) -> None:
        self._folder = folder
        self.relay = relay

    def send(self, envelope: Envelope, *, then: Envelope | None = None) -> str:
        name = envelope.message_id.strip("<>").split("@")[0] + ".eml"
        target = self._folder / name
        temporary = target.with_suffix(".tmp")
        try:
            temporary.write_bytes(envelope.data)
            os.replace(temporary, target)
        except OSError as error:
            raise DeliveryError(f"cannot write {target}: {error}", permanent=False) from error
        return f"written {name}"


class SMTPTransport:
    """One SMTP connection per batch; STARTTLS when the server offers it, SSL for smtps://.

    With credentials, TLS is required: a relay that offers no STARTTLS (or a machine in
    the path that strips it from the relay's answer) would otherwise receive the password
    in clear. `tls_none` (the URL's `?tls=none`, which `alerts.config.parse_relay` allows
    for a relay on loopback only) is the operator's way out: no STARTTLS at all.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        use_ssl: bool = False,
        username: str | None = None,
        password: str | None = None,
        timeout: float = SMTP_TIMEOUT_SECONDS,
        relay: str | None = None,
        tls_none: bool = False,
        helo_name: str | None = None,
    ) -> None:
        self.host, self.port, self.use_ssl = host, port, use_ssl
        # SMTP_HELO_NAME; None: smtplib's (this machine's name, or its bare address).
        self.helo_name = helo_name
        self.username, self.password, self.timeout = username, password, timeout
        self.relay = relay or f"smtp:{host}:{port}"
        self.tls_none = tls_none

    @contextmanager
    def connect(self) -> Iterator[MailConnection]:
        client = self._open()
        connection = _SMTPConnection(client, self.relay)
        try:
            yield connection
        finally:
            try:
                if connection.in_transaction:
                    # Left in DATA by an error: closing discards it; QUIT would be content.
                    client.close()
                else:
                    client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()

    def _open(self) -> smtplib.SMTP:
        """Connect, secure the connection and log in. Raises DeliveryError: permanent for
        what only the operator can fix (refused credentials, no TLS to send them over)."""
        client: smtplib.SMTP | None = None
        try:
            if self.use_ssl:
                client = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    local_hostname=self.helo_name,
                    timeout=self.timeout,
                    context=tls_context(),
                )
            else:
                client = smtplib.SMTP(
                    self.host, self.port, local_hostname=self.helo_name, timeout=self.timeout
                )
                client.ehlo()
                if client.has_extn("starttls") and not self.tls_none:
                    client.starttls(context=tls_context())
                    client.ehlo()
                elif self.username and not self.tls_none:
                    raise DeliveryError(
                        f"{self.relay} offers no STARTTLS: its password is not sent in clear "
                        "(use smtps://, or ?tls=none for a relay on loopback)",
                        permanent=True,
                    )
            if self.username:
                client.login(self.username, self.password or "")
        except smtplib.SMTPAuthenticationError as error:
            _close(client)
            raise DeliveryError(
                f"{self.relay} refused the login: {error.smtp_code} {_text(error.smtp_error)}",
                permanent=True,
            ) from error
        except ssl.SSLCertVerificationError as error:
            _close(client)
            raise DeliveryError(
                f"{self.relay}'s TLS certificate does not verify: {error.verify_message} "
                "(a private CA: see SSL_CERT_FILE in docs/operations.md)",
                permanent=False,
            ) from error
        except (smtplib.SMTPException, OSError) as error:
            _close(client)
            raise DeliveryError(
                f"cannot connect to SMTP server {self.host}:{self.port}: {error}", permanent=False
            ) from error
        except DeliveryError:
            _close(client)
            raise
        if client.sock is not None:
            guard_socket(
                client.sock
            )  # a cut link drops a queued message (alerts.delivery.liveness)
        return client


def _close(client: smtplib.SMTP | None) -> None:
    """Drop a connection that will not be used, without a word more to the relay."""
    if client is not None:
        client.close()


class _SMTPConnection:
    """One message at a time, step by step, so a broken connection is read right.

    Broken before the final dot: the relay cannot have the message (ConnectionLost: send
    it again on a new connection). Broken after the final dot, before the reply: the relay
    may have it (unknown outcome: never send it again). `smtplib.sendmail` cannot tell
    these apart, so the exchange is written out here.

    When the relay offers PIPELINING (RFC 2920), MAIL, RCPT and DATA go in one write and
    their three replies are read after it; and when the caller names the message it sends
    next, those three commands of the next message follow this one's final dot before its
    reply is read (message content may open a group, DATA must close it): one round trip
    a message. The write is counted, so a failure tells whether this message's final dot
    had gone out whole; the next message's body only goes in its own call, after this
    message's reply was read, so a cut still leaves at most one message in doubt.
    """

    def __init__(self, client: smtplib.SMTP, relay: str) -> None:
        self._client = client
        self.relay = relay
        self._pipelining = client.has_extn("pipelining")
        # The envelope whose transaction is open (its DATA answered), and what went wrong
        # opening it, to be reported when it is sent.
        self._opened: tuple[Envelope, DeliveryError | None] | None = None

    @property
    def in_transaction(self) -> bool:
        return self._opened is not None and self._opened[1] is None

    def send(self, envelope: Envelope, *, then: Envelope | None = None) -> str:
        client = self._client
        ahead = then if then is not None and self._pipelines(then) else None
        try:
            self._begin(envelope)
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            raise ConnectionLost(f"the SMTP connection broke: {error}") from error
        message = _dot_stuffed(envelope.data) + b".\r\n"
        # One write (two would let Nagle's algorithm hold the envelope for the relay's ACK),
        # counted, so a failure tells whether the final dot had gone out whole.
        data = message + _commands(ahead) if ahead is not None else message
        written = 0
        try:
            sock = client.sock
            if sock is None:
                raise smtplib.SMTPServerDisconnected("the connection is closed")
            with memoryview(data) as view:
                while written < len(data):
                    written += sock.send(view[written:])
            code, reply = client.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            if written < len(message):
                raise ConnectionLost(f"the SMTP connection broke: {error}") from error
            raise DeliveryError(
                f"the SMTP connection broke before the reply: {error}",
                permanent=False,
                unknown_outcome=True,
            ) from error
        if ahead is not None:
            self._opened = (ahead, self._opening_problem())
        if code == 421:
            raise ConnectionLost(f"{code} {_text(reply)}", reply=f"{code} {_text(reply)}")
        if code != 250:
            raise _refusal(code, reply)
        return f"{code} {_text(reply)}"[:500]

    def _pipelines(self, envelope: Envelope) -> bool:
        return self._pipelining and envelope.sender.isascii() and envelope.recipient.isascii()

    def _begin(self, envelope: Envelope) -> None:
        """Open the message's transaction, unless the previous call opened it already."""
        opened, self._opened = self._opened, None
        if opened is not None:
            ahead, problem = opened
            if ahead is not envelope:
                # Never send another message's body into this transaction; dropping the
                # connection discards it.
                self._client.close()
                raise ConnectionLost("a message was sent out of the announced order")
            if problem is not None:
                raise problem
            return
        if self._pipelines(envelope):
            self._client.send(_commands(envelope))
            problem = self._opening_problem()
            if problem is not None:
                raise problem
        else:
            self._expect(self._client.mail(envelope.sender), (250,))
            self._expect(self._client.rcpt(envelope.recipient), (250, 251))
            self._expect(self._client.docmd("data"), (354,))

    def _opening_problem(self) -> DeliveryError | None:
        """Read the replies to MAIL, RCPT and DATA; what went wrong, or None. A refusal of
        MAIL or RCPT makes the relay refuse DATA too (RFC 2920); should it accept DATA
        anyway, an empty message ends the transfer, and RSET the transaction, before the
        refusal is reported."""
        client = self._client
        refusal: tuple[int, bytes] | None = None
        try:
            for accepted in ((250,), (250, 251), (354,)):
                code, reply = client.getreply()
                if code == 421 or code == -1:  # the relay is closing the connection
                    return ConnectionLost(f"{code} {_text(reply)}", reply=f"{code} {_text(reply)}")
                if code not in accepted and refusal is None:
                    refusal = (code, reply)
                elif code == 354 and refusal is not None:
                    client.send(b".\r\n")
                    client.getreply()
            if refusal is not None:
                self._expect(refusal, ())
        except DeliveryError as error:
            return error
        except (smtplib.SMTPServerDisconnected, OSError) as error:
            return ConnectionLost(f"the SMTP connection broke: {error}")
        return None

    def _expect(self, answer: tuple[int, bytes], accepted: tuple[int, ...]) -> None:
        code, reply = answer
        if code in accepted:
            return
        if code == 421 or code == -1:  # the relay is closing the connection
            raise ConnectionLost(f"{code} {_text(reply)}", reply=f"{code} {_text(reply)}")
        with contextlib.suppress(smtplib.SMTPException, OSError):
            self._client.rset()  # end this transaction; the next message starts afresh
        raise _refusal(code, reply)


def _commands(envelope: Envelope) -> bytes:
    """MAIL, RCPT and DATA of one message, for a pipelined write."""
    return (
        f"MAIL FROM:{smtplib.quoteaddr(envelope.sender)}\r\n"
        f"RCPT TO:{smtplib.quoteaddr(envelope.recipient)}\r\n"
        "DATA\r\n"
    ).encode("ascii")


def _dot_stuffed(data: bytes) -> bytes:
    """RFC 5321 transparency: a line starting with '.' gets another; end with CRLF.

    `bytes.replace` rather than a regular expression: this runs over every message.
    """
    stuffed = data.replace(b"\n.", b"\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    return stuffed if stuffed.endswith(b"\r\n") else stuffed + b"\r\n"


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """Loading the system's CA certificates is slow: once per process, not per batch."""
    return ssl.create_default_context()


def _refusal(code: int, reply: bytes | str) -> DeliveryError:
    text = _text(reply)
    return DeliveryError(f"{code} {text}", permanent=500 <= code < 600, reply=f"{code} {text}")


def transport_from_url(url: str, *, helo_name: str | None = None) -> FileTransport | SMTPTransport:
    """`smtp://user:pass@host:port`, `smtps://...` or `file:///folder` (relative: file://./x).

    Raises ConfigError (`SMTP_URL: ...`) for a URL that names no relay.
    """
    try:
        relay = parse_relay(url)
    except ValueError as error:
        raise ConfigError(f"SMTP_URL: {error}") from None
    return transport_for(relay, helo_name=helo_name)


def transport_for(relay: Relay, *, helo_name: str | None = None) -> FileTransport | SMTPTransport:
    """The transport that reaches one relay, its connections named by the relay's name,
    greeting it as `helo_name` (SMTP_HELO_NAME)."""
    if relay.folder is not None:
        return FileTransport(relay.folder, relay=relay.name)
    return SMTPTransport(
        relay.host,
        relay.port,
        use_ssl=relay.use_ssl,
        username=relay.username,
        password=relay.password,
        relay=relay.name,
        tls_none=relay.tls_none,
        helo_name=helo_name,
    )
