"""`newsalerts web` as an operator starts it: where it may listen, and what slow clients
cannot do to it."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from alerts.cli import main
from tests.support.processes import ROOT, SECRET_KEY, process_environment, stop_worker
from tests.support.smtp_server import free_port

# More than waitress's default connection limit (100), which these used to exhaust.
SLOW_CLIENTS = 120


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "news.example.com"])
def test_development_mode_refuses_to_listen_beyond_this_machine(
    tmp_path: Path, host: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    served: list[str] = []
    monkeypatch.setattr("waitress.serve", lambda app, **options: served.append(options["host"]))
    # Development signs with the public development secret: on the network, anyone could
    # forge a staff session cookie with it (the attack opened /ops/audit as admin).
    env = {
        "NEWSALERTS_ENV": "development",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'web.db'}",
        "SECRET_KEY": "",
    }
    result = CliRunner().invoke(main, ["web", "--host", host, "--port", "8000"], env=env)
    assert result.exit_code == 1
    assert result.output.count("\n") == 1, result.output
    assert result.output.startswith(f"error: --host {host} serves the network")
    assert "NEWSALERTS_ENV=production" in result.output
    assert "--host 127.0.0.1" in result.output
    assert served == []


@contextlib.contextmanager
def _web_server(tmp_path: Path) -> Iterator[int]:
    """`newsalerts web` in development mode on a free loopback port; yields the port."""
    port = free_port()
    environment = process_environment(
        database_url=f"sqlite:///{tmp_path / 'web.db'}",
        redis_url="",
        smtp_url=f"file://{tmp_path / 'sent'}",
        NEWSALERTS_ENV="development",
        SECRET_KEY=SECRET_KEY,
    )
    log = tmp_path / "web.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "alerts.cli", "web", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=environment,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while _healthz_status(port, timeout=1) != 200:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield port
    finally:
        stop_worker(process)


def _healthz_status(port: int, *, timeout: float) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=timeout) as answer:
            return int(answer.status)
    except OSError:
        return None


@pytest.mark.slow
def test_slow_clients_do_not_lock_out_the_others(tmp_path: Path) -> None:
    with _web_server(tmp_path) as port, contextlib.ExitStack() as stack:
        # Each client sends the start of a request, then one more header line now and then,
        # never the blank line that ends the headers: every one holds a connection open.
        slow = []
        for _ in range(SLOW_CLIENTS):
            client = stack.enter_context(socket.create_connection(("127.0.0.1", port), 5))
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            slow.append(client)
        for round_number in range(3):
            time.sleep(0.5)
            for client in slow:
                client.sendall(f"X-Slow-{round_number}: 1\r\n".encode())
            started = time.monotonic()
            assert _healthz_status(port, timeout=5) == 200
            assert time.monotonic() - started < 3
        # None of the slow requests was answered: they really were holding connections.
        for client in slow:
            client.setblocking(False)
            with pytest.raises(BlockingIOError):
                client.recv(1)
