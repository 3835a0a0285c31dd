"""A private PostgreSQL server for fault tests: its own data folder, port and socket folder,
so a test may stop and start it without touching the shared server on 5432.

`initdb` and `pg_ctl` refuse to run as root: as root they run as the `postgres` user, who
is given the folder.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Literal

import sqlalchemy as sa

from tests.support.smtp_server import free_port

StopMode = Literal["smart", "fast", "immediate"]


def server_binaries() -> Path | None:
    """The folder holding `initdb` and `pg_ctl` (Debian: /usr/lib/postgresql/<n>/bin)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)
    if found:
        return Path(found[0]).parent
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


class PostgresServer:
    def __init__(
        self, *, port: int | None = None, host: str = "127.0.0.1", trust: str | None = None
    ) -> None:
        """Listening on `host`; `trust`, a network (10.77.0.0/24), lets its clients in too."""
        binaries = server_binaries()
        if binaries is None:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
        self._binaries = binaries
        self.port = port or free_port()
        self.host, self._trust = host, trust
        # Not under pytest's tmp_path: its parents are private to root, and the server
        # runs as `postgres`.
        self.directory = Path(tempfile.mkdtemp(prefix="newsalerts-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "postgres.log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{database}"

    def _run(self, *arguments: str, timeout: float = 60.0) -> None:
        command = [str(self._binaries / arguments[0]), *arguments[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{arguments[0]} failed: {done.stdout}{done.stderr}{self._tail()}")

    def _tail(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def initialise(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                  "-E", "UTF8", "--no-sync")  # fmt: skip
        if self._trust is not None:
            with (self.data / "pg_hba.conf").open("a") as rules:
                rules.write(f"host all all {self._trust} trust\n")

    def start(self) -> None:
        """Start (or start again) and wait until it accepts connections."""
        options = (
            f"-p {self.port} -c listen_addresses={self.host} -k {self.directory} "
            "-c max_connections=40 -c shared_buffers=32MB"
        )
        self._run("pg_ctl", "start", "-D", str(self.data), "-l", str(self.log), "-w",
                  "-t", "60", "-o", options)  # fmt: skip

    def stop(self, mode: StopMode = "fast") -> None:
        """`immediate` is a crash as far as clients see: connections cut, no checkpoint."""
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "60")

    def create_database(self, name: str) -> str:
        admin = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as connection:
                connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        return self.url(name)

    def remove(self) -> None:
        """Stop if running and delete its folder."""
        if (self.data / "postmaster.pid").exists():
            try:
                self.stop("immediate")
            except RuntimeError:
                time.sleep(0.5)
        shutil.rmtree(self.directory, ignore_errors=True)
