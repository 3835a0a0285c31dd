"""`newsalerts bench-import`: how fast `subscribers import` loads a list, measured as run.

A throw-away database (PostgreSQL, or a SQLite file), a CSV file of N readers written the
way a publisher's export looks (a few hundred domains, names, zero to three of 20 topics,
time zones and hours; one row in a thousand with an hour out of range), then the real
command in a process of its own: `newsalerts subscribers import FILE --confirmed`. It times
the command, reads its peak RSS and CPU time from the kernel, checks what the database
holds, and runs the same file a second time, as after a crash: every reader is skipped,
nobody is added. The load average at the start of each run is printed with it: on a shared
machine the wall time says as much about the neighbours as about the import, and the
importer's CPU time much less so. On PostgreSQL on this machine it also reads the server's
CPU time (every `postgres` process, and the backends that ended, from `/proc`): the
import's other half, which is the floor of its wall time. `writers` is passed to the
command as `--writers`, so one writer and two can be compared with the same code.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from alerts.config import PROJECT_ROOT
from alerts.db import make_engine, make_session_factory, upgrade
from alerts.errors import BenchError
from alerts.ops.bench import throwaway_database
from subscribers.models import ConsentEvent, Subscriber

Say = Callable[[str], None]
ZONES = ("Europe/London", "Europe/Paris", "America/New_York", "Asia/Kolkata", "UTC")
TOPICS = tuple(f"Topic {number}" for number in range(20))
DOMAINS = 300
BAD_EVERY = 1000


@dataclass
class ImportRun:
    seconds: float
    peak_rss_mb: float
    summary: str
    cpu_seconds: float = 0.0  # the importing process's, user and system
    load: float = 0.0  # the one-minute load average when it started
    server_cpu_seconds: float | None = None  # every postgres process here; None: not read


@dataclass
class ImportBenchResult:
    rows: int
    database: str
    first: ImportRun
    again: ImportRun
    stored: int
    consent_events: int
    writers: int = 2

    @property
    def expected(self) -> int:
        return self.rows - self.rows // BAD_EVERY

    def lines(self) -> list[str]:
        return [
            f"rows {self.rows:,} on {self.database} ({self.rows // BAD_EVERY:,} refused by design)"
            + (f", {self.writers} writing at once" if self.database == "PostgreSQL" else ""),
            f"import: {self.first.seconds:.1f} s = {self.rows / self.first.seconds:,.0f} rows/s, "
            f"{_usage(self.first)} — {self.first.summary}",
            f"same file again: {self.again.seconds:.1f} s = "
            f"{self.rows / self.again.seconds:,.0f} rows/s, {_usage(self.again)} — "
            f"{self.again.summary}",
            f"stored {self.stored:,} readers and {self.consent_events:,} consent events "
            f"(expected {self.expected:,} of each)",
        ]


def _usage(run: ImportRun) -> str:
    server = ""
    if run.server_cpu_seconds is not None:
        server = f"server CPU {run.server_cpu_seconds:.1f} s (other databases' work included), "
    return (
        f"importer CPU {run.cpu_seconds:.1f} s, {server}peak RSS {run.peak_rss_mb:.0f} MB, "
        f"load {run.load:.1f} at start"
    )


def write_readers_csv(path: Path, rows: int, *, seed: int = 12) -> None:
    """A publisher's list of `rows` readers; every BAD_EVERY-th row has an hour of 24."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("email,name,topics,frequency,timezone,hour\r\n")
        for number in range(1, rows + 1):
            topics = ";".join(rng.sample(TOPICS, rng.randint(0, 3)))
            hour = 24 if number % BAD_EVERY == 0 else rng.randint(0, 23)
            frequency = "weekly" if number % 7 == 0 else "daily"
            out.write(
                f"Reader.{number}@mail{number % DOMAINS}.example.com,Reader {number},"
                f"{topics},{frequency},{rng.choice(ZONES)},{hour}\r\n"
            )


def run_import_bench(
    *, rows: int, admin_url: str | None, say: Say, writers: int = 2
) -> ImportBenchResult:
    """Import `rows` readers twice with the real command, `writers` connections writing at
    once; PostgreSQL at `admin_url`'s server, or SQLite when it is None."""
    with tempfile.TemporaryDirectory(prefix="newsalerts-import-") as folder:
        path = Path(folder) / "readers.csv"
        say(f"writing {rows:,} rows to a CSV file ...")
        write_readers_csv(path, rows)
        with _database(admin_url, Path(folder)) as database_url:
            upgrade(database_url)
            say("importing ...")
            first = _import(database_url, path, writers)
            say("importing the same file again ...")
            again = _import(database_url, path, writers)
            stored, events = _count(database_url)
    result = ImportBenchResult(
        rows=rows,
        database="PostgreSQL" if admin_url else "SQLite",
        first=first,
        again=again,
        stored=stored,
        consent_events=events,
        writers=writers,
    )
    if (stored, events) != (result.expected, result.expected):
        raise BenchError(
            f"the import stored {stored:,} readers and {events:,} consent events; "
            f"expected {result.expected:,} of each"
        )
    return result


def _import(database_url: str, path: Path, writers: int) -> ImportRun:
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": "",
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    command = [sys.executable, "-m", "alerts.cli", "subscribers", "import", str(path)]
    load = os.getloadavg()[0]
    server_before = server_cpu_seconds() if database_url.startswith("postgresql") else None
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, "--confirmed", "--writers", str(writers)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # the refused rows, one line each
        text=True,
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    server_after = server_cpu_seconds() if server_before is not None else None
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0, 2):  # 2: some rows refused, as the file intends
        raise BenchError(f"the import failed (exit {process.returncode}): {output.strip()}")
    return ImportRun(
        seconds,
        usage.ru_maxrss / 1024,
        output.strip().splitlines()[-1],
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        load=load,
        server_cpu_seconds=(
            server_after - server_before
            if server_before is not None and server_after is not None
            else None
        ),
    )


def server_cpu_seconds() -> float | None:
    """The CPU time of every `postgres` process on this machine, and of those that ended
    (the postmaster's children's time): the server's work between two readings. None when
    there is none to read (a server elsewhere, or no /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total, found = 0, False
    try:
        entries = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return None
    for entry in entries:
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue  # ended meanwhile
        name_end = stat.rfind(")")
        if stat[stat.find("(") + 1 : name_end] != "postgres":
            continue
        fields = stat[name_end + 2 :].split()
        # utime, stime, cutime, cstime: fields 14 to 17 of proc(5), the 3rd is fields[0].
        total += sum(int(value) for value in fields[11:15])
        found = True
    return total / ticks if found else None


def _count(database_url: str) -> tuple[int, int]:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            readers = session.scalar(select(func.count()).select_from(Subscriber)) or 0
            events = session.scalar(select(func.count()).select_from(ConsentEvent)) or 0
            return readers, events
    finally:
        engine.dispose()


@contextmanager
def _database(admin_url: str | None, folder: Path) -> Iterator[str]:
    if admin_url is None:
        yield f"sqlite:///{folder / 'bench.db'}"
        return
    with throwaway_database(admin_url, prefix="newsalerts_import") as database_url:
        yield database_url
