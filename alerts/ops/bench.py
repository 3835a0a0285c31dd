"""`newsalerts bench`: the production path measured end to end on this machine.

A fresh PostgreSQL database, N readers with skewed topic mixes and time zones, 60 new
articles, K real Celery worker processes on Redis, and a local SMTP sink (Postfix's
`smtp-sink`, or aiosmtpd's when Postfix is not installed). "Send" is the real
`newsalerts digest send --now` in a process of its own, so its peak RSS is the planner's
alone (read from the kernel when it exits). Times run from the instant that process
started planning (the ledger rows' `created_at`) to the first and last message accepted;
the planning rate is its readers over the time until it exited, every row handed over.
The sink's own ceiling is measured with Postfix's `smtp-source` sending as many messages
of the same size over as many sessions (the better of two runs). Then a tick with nobody
due, timed here and, for its peak RSS, run again as `newsalerts digest send`; and the
ledger's bytes per row on disk (table, indexes and TOAST, of every partition if the table
is partitioned, and the selections), after a VACUUM (ANALYZE) that clears the dead versions
the send's updates left; the figure before it is printed too, labelled.

`--languages en,de,fr,es,ar` hands the readers those languages round-robin, so the digests
are rendered in each one's catalog and direction (Arabic right to left); English alone
by default, as the figures before it were measured.

The database time share is PostgreSQL's own count of the time its sessions spent
running statements in the benchmark's database (`pg_stat_database.active_time`), over
the workers' time (K x end to end): how much of a worker's life went to waiting on it.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from alerts.config import PROJECT_ROOT, Settings, load_settings
from alerts.db import upgrade
from alerts.errors import BenchError
from alerts.jobs import plan_and_queue
from alerts.ledger.size import ledger_size, settle
from alerts.ledger.states import UNSETTLED
from alerts.models import Article, Delivery, DeliveryStatus, article_topics
from alerts.runtime import Runtime
from alerts.tasks.publishing import batch_publisher
from subscribers.database import utcnow
from subscribers.languages import SHIPPED_LANGUAGES
from subscribers.models import Subscriber, SubscriberStatus, Topic, subscriber_topics

Say = Callable[[str], None]
ZONES = (
    ("Europe/London", 60), ("Europe/Paris", 15), ("America/New_York", 10),
    ("Asia/Kolkata", 5), ("Australia/Sydney", 5), ("America/Los_Angeles", 5),
)  # fmt: skip
FOLLOW_COUNTS = ((0, 15), (1, 35), (2, 30), (3, 20))
CHUNK = 5000


@dataclass
class BenchResult:
    readers: int
    workers: int
    languages: tuple[str, ...] = ("en",)
    planned: int = 0  # digests to send (readers with something new)
    readers_planned: int = 0  # ledger rows written, the skipped ones too
    messages: int = 0
    failed: int = 0
    seconds_to_first: float = 0.0
    idle_tick_seconds: float | None = None
    idle_tick_planned: int = 0
    seconds_total: float = 0.0
    planning_seconds: float = 0.0
    message_bytes: int = 0
    worker_peak_rss_mb: list[float] = field(default_factory=list)
    planner_peak_rss_mb: float = 0.0
    idle_tick_peak_rss_mb: float = 0.0
    idle_tick_process_seconds: float = 0.0
    ledger_rows: int = 0
    ledger_bytes: int = 0  # after VACUUM (ANALYZE): what the rows keep
    ledger_bytes_unvacuumed: int = 0  # right after the send, its dead row versions too
    database_seconds: float | None = None
    ceiling_seconds: float | None = None
    sink: str = "smtp-sink"

    @property
    def rate(self) -> float:
        return self.messages / self.seconds_total if self.seconds_total else 0.0

    @property
    def planning_rate(self) -> float:
        return self.readers_planned / self.planning_seconds if self.planning_seconds else 0.0

    @property
    def ceiling_rate(self) -> float | None:
        if not self.ceiling_seconds:
            return None
        return self.messages / self.ceiling_seconds

    @property
    def database_share(self) -> float | None:
        if self.database_seconds is None or not self.seconds_total:
            return None
        return self.database_seconds / (self.workers * self.seconds_total)

    def lines(self) -> list[str]:
        lines = [
            f"readers {self.readers:,}, workers {self.workers}, sink {self.sink}, "
            f"languages {','.join(self.languages)}",
            f"messages sent {self.messages:,} of {self.planned:,} planned (failed {self.failed}), "
            f"~{self.message_bytes / 1024:.0f} KB each",
            f"planning {self.readers_planned:,} readers in {self.planning_seconds:.1f} s = "
            f"{self.planning_rate:,.0f} readers/s (planned and handed to the workers)",
            f"time to first message {self.seconds_to_first:.2f} s",
            f"end to end {self.seconds_total:.1f} s = {self.rate:,.0f} msg/s",
            _idle_tick_line(
                self.idle_tick_seconds,
                self.idle_tick_planned,
                self.idle_tick_process_seconds,
                self.idle_tick_peak_rss_mb,
            ),
            "peak RSS (MB): planner (digest send) "
            f"{self.planner_peak_rss_mb:.0f}; workers "
            + ", ".join(f"{mb:.0f}" for mb in self.worker_peak_rss_mb),
            _ledger_line(self.ledger_bytes, self.ledger_bytes_unvacuumed, self.ledger_rows),
        ]
        share = self.database_share
        if share is not None:
            lines.append(
                f"database time share {share:.0%} "
                f"(PostgreSQL active {self.database_seconds:.1f} s over the workers' time)"
            )
        if self.ceiling_rate is not None:
            lines.append(
                f"smtp-source ceiling {self.ceiling_rate:,.0f} msg/s; "
                f"ratio {self.rate / self.ceiling_rate:.2f}"
            )
        else:
            lines.append("smtp-source ceiling not measured: Postfix's smtp-source is not installed")
        return lines


def _idle_tick_line(
    seconds: float | None, planned: int, process_seconds: float, peak_rss_mb: float
) -> str:
    if seconds is None:
        return "a tick with nobody due not measured"
    return (
        f"a tick with nobody due {seconds:.2f} s ({planned} planned); as a process of its "
        f"own (`digest send`, interpreter start included) {process_seconds:.2f} s, "
        f"peak RSS {peak_rss_mb:.0f} MB"
    )


def _ledger_line(size: int, unvacuumed: int, rows: int) -> str:
    if not rows:
        return "ledger: no rows"
    return (
        f"ledger {size / 2**20:,.0f} MB for {rows:,} rows = {size / rows:,.0f} bytes a row "
        "after VACUUM (ANALYZE) (table, indexes and TOAST of every partition, selections); "
        f"{unvacuumed / rows:,.0f} right after the send, dead row versions included"
    )


def _weighted(rng: random.Random, choices: tuple[tuple[object, int], ...]) -> object:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def parse_languages(text: str) -> tuple[str, ...]:
    """The languages of `--languages` (comma-separated, shipped ones only, each once).

    Raises BenchError naming a language that has no catalog: its readers would get English,
    and the figure would not be what it says."""
    languages = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    unknown = [language for language in languages if language not in SHIPPED_LANGUAGES]
    if unknown or not languages:
        raise BenchError(
            f"--languages takes shipped languages among {','.join(SHIPPED_LANGUAGES)}, not {text!r}"
        )
    if len(set(languages)) != len(languages):
        raise BenchError(f"--languages names a language twice: {text!r}")
    return languages


def build_case(
    session: Session,
    *,
    readers: int,
    topics: int,
    articles: int,
    now: datetime,
    seed: int = 7,
    languages: tuple[str, ...] = ("en",),
) -> None:
    """Readers, topics and articles, written with bulk inserts (no per-row ORM); reader n
    reads `languages[n % len(languages)]`."""
    rng = random.Random(seed)
    topic_ids = list(
        session.scalars(
            insert(Topic).returning(Topic.id),
            [
                {"slug": f"topic-{n}", "name": f"Topic {n}", "created_at": now}
                for n in range(topics)
            ],
        )
    )
    zipf = [1 / (rank + 1) for rank in range(topics)]
    for start in range(0, readers, CHUNK):
        rows = [
            {
                "email": f"reader{n}@bench.example.com",
                "status": SubscriberStatus.ACTIVE,
                "frequency": "daily",
                "timezone": _weighted(rng, ZONES),
                "send_hour": 0,
                "language": languages[n % len(languages)],
                "created_at": now,
                "confirmed_at": now,
                "status_changed_at": now,
            }
            for n in range(start, min(start + CHUNK, readers))
        ]
        ids = list(session.scalars(insert(Subscriber).returning(Subscriber.id), rows))
        follows: list[dict[str, int]] = []
        for subscriber_id in ids:
            count = int(_weighted(rng, FOLLOW_COUNTS))  # type: ignore[call-overload]
            chosen = set(rng.choices(topic_ids, weights=zipf, k=count))
            follows.extend({"subscriber_id": subscriber_id, "topic_id": t} for t in chosen)
        if follows:
            session.execute(insert(subscriber_topics), follows)
    for n in range(articles):
        article_id = session.scalar(
            insert(Article).returning(Article.id),
            {
                "identity_hash": uuid.uuid4().hex,
                "url": f"https://news.example.com/bench/{n}",
                "title": f"Benchmark story number {n}: a headline of ordinary length",
                "summary_html": "<p>" + "A standfirst of two sentences. " * 6 + "</p>",
                "section": rng.choice(["Business", "Politics", "Tech", "World"]),
                "breaking": False,
                "published_at": now - timedelta(minutes=10 + 15 * n),
                "ingested_at": now,
                "updated_at": now,
            },
        )
        chosen = set(rng.choices(topic_ids, weights=zipf, k=rng.randint(1, 2)))
        session.execute(
            insert(article_topics), [{"article_id": article_id, "topic_id": t} for t in chosen]
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def throwaway_database(admin_url: str, prefix: str = "newsalerts_bench") -> Iterator[str]:
    """A new PostgreSQL database on `admin_url`'s server, for one run; dropped afterwards.
    Raises BenchError when it cannot be made."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.DBAPIError as error:
        admin.dispose()
        raise BenchError(
            f"cannot create a database on {admin.url.render_as_string()}: {error.orig or error}"
        ) from None
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@contextmanager
def _sink(port: int) -> Iterator[str]:
    """Postfix's smtp-sink on `port` (it offers PIPELINING, as production relays do), or
    aiosmtpd's sink in a process of its own when Postfix is not installed. Yields its name."""
    if shutil.which("smtp-sink") is not None:
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        command, name = ["smtp-sink", *user, f"127.0.0.1:{port}", "1000"], "smtp-sink"
    else:
        try:
            import aiosmtpd  # noqa: F401
        except ImportError:
            raise BenchError(
                "no SMTP sink: install Debian's postfix package (smtp-sink) or aiosmtpd"
            ) from None
        command = [sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink",
                   "-l", f"127.0.0.1:{port}"]  # fmt: skip
        name = "aiosmtpd (Postfix's smtp-sink is not installed; no PIPELINING)"
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_for_port(port, process)
        yield name
    finally:
        process.terminate()
        process.wait(timeout=10)


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"the SMTP sink did not start on port {port}")


def _peak_rss_mb(pid: int) -> float:
    """VmHWM of a process and its children (the prefork pool), in MB."""
    total = 0
    pids = [pid, *_children(pid)]
    for each in pids:
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total = max(total, int(line.split()[1]))
    return total / 1024


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().split()[3]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _start_workers(count: int, environment: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "worker", "worker", "--concurrency", "1",
             "-n", f"bench{n}@%h", "--loglevel", "WARNING",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=PROJECT_ROOT, env=environment, start_new_session=True,
        )
        for n in range(count)
    ]  # fmt: skip


def _progress(session: Session) -> dict[DeliveryStatus, int]:
    rows = session.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
    return {status: count for status, count in rows}


def run_bench(
    *,
    readers: int,
    workers: int,
    admin_url: str,
    redis_url: str,
    say: Say,
    languages: tuple[str, ...] = ("en",),
) -> BenchResult:
    result = BenchResult(readers=readers, workers=workers, languages=languages)
    port = _free_port()
    with throwaway_database(admin_url) as database_url, _sink(port) as result.sink:
        settings = load_settings(
            database_url=database_url,
            redis_url=redis_url,
            smtp_url=f"smtp://127.0.0.1:{port}",
            batch_size=500,
            _env_file=None,
        )
        upgrade(settings.database_url)
        runtime = Runtime.from_settings(settings)
        now = utcnow()
        with runtime.session() as session:
            say(f"building {readers:,} readers ({', '.join(languages)}) and 60 articles ...")
            build_case(
                session, readers=readers, topics=20, articles=60, now=now, languages=languages
            )
            session.commit()
            # As a live server's autovacuum would have left the readers: statistics known.
            # Without them PostgreSQL guesses 0.5 % of the table per id and reads a batch's
            # topics by scanning every reader's (a cost that grows with the list).
            session.execute(sa.text("ANALYZE"))
            session.commit()
        pool = _start_workers(workers, _environment(settings))
        try:
            _wait_for_workers(settings, workers)
            say("sending ...")
            active_before = _active_seconds(runtime)
            finished, result.planner_peak_rss_mb = _send(settings, force=True)
            started, result.readers_planned, result.planned = _planned(runtime)
            result.planning_seconds = (finished - started).total_seconds()
            _wait_until_done(runtime, result.planned)
            _read_ledger(runtime, result)
            result.idle_tick_seconds, result.idle_tick_planned = _idle_tick(runtime, settings)
            launched = utcnow()
            finished, result.idle_tick_peak_rss_mb = _send(settings, force=False)
            result.idle_tick_process_seconds = (finished - launched).total_seconds()
            result.worker_peak_rss_mb = [_peak_rss_mb(process.pid) for process in pool]
        finally:
            for process in pool:
                os.killpg(process.pid, signal.SIGTERM)
            for process in pool:
                process.wait(timeout=60)
        # Sessions report their active time when they close: read it once the workers left.
        result.database_seconds = _active_seconds(runtime) - active_before
        result.message_bytes = _sample_size(runtime)
        with runtime.session() as session:
            unvacuumed = ledger_size(session)
        settle(runtime.engine)
        with runtime.session() as session:
            size = ledger_size(session)
        if size is not None and unvacuumed is not None:
            result.ledger_bytes = size.ledger_bytes + size.selection_bytes
            result.ledger_bytes_unvacuumed = unvacuumed.ledger_bytes + unvacuumed.selection_bytes
            result.ledger_rows = size.rows
        runtime.close()
        result.ceiling_seconds = _ceiling(port, result.messages, result.message_bytes, workers)
    return result


def _idle_tick(runtime: Runtime, settings: Settings) -> tuple[float, int]:
    """The scheduler's next tick once everyone has their digest: every reader's hour has
    come (0), and every one of them is planned for their local date already."""
    with batch_publisher(settings) as publish:
        started = time.perf_counter()
        run = plan_and_queue(runtime, now=utcnow(), publish=publish)
    return time.perf_counter() - started, run.plan.planned


def _environment(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "REDIS_URL": settings.redis_url or "",
        "SMTP_URL": settings.smtp_url,
        "PYTHONPATH": str(PROJECT_ROOT),
    }


def _wait_for_workers(settings: Settings, count: int) -> None:
    from alerts.tasks.app import create_celery

    app = create_celery(settings)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if len(app.control.ping(timeout=0.5) or []) >= count:
            app.close()
            return
    app.close()
    raise RuntimeError("the benchmark's workers did not start")


def _wait_until_done(runtime: Runtime, total: int) -> None:
    """Until no row is left to send. The poll reads one index entry, not the table, so it
    costs the database next to nothing while it is measured."""
    deadline = time.monotonic() + 3600
    left = select(Delivery.id).where(Delivery.status.in_(UNSETTLED)).limit(1)
    with runtime.session() as session:
        while total and time.monotonic() < deadline:
            unfinished = session.scalar(left)
            session.rollback()
            if unfinished is None:
                return
            time.sleep(0.2)
    if total:
        raise BenchError("the send did not finish within an hour")


def _active_seconds(runtime: Runtime) -> float:
    """Seconds PostgreSQL's sessions have spent running statements in this database."""
    with runtime.session() as session:
        session.execute(sa.text("SELECT pg_stat_clear_snapshot()"))
        milliseconds = session.scalar(
            sa.text("SELECT active_time FROM pg_stat_database WHERE datname = current_database()")
        )
        session.rollback()
    return float(milliseconds or 0) / 1000


def _read_ledger(runtime: Runtime, result: BenchResult) -> None:
    """Counts, and the times from "send" (the instant the planner started: its rows'
    `created_at`) to the first and the last message accepted, from the ledger's own clock."""
    with runtime.session() as session:
        counts = _progress(session)
        started, first, last = session.execute(
            select(func.min(Delivery.created_at), func.min(Delivery.sent_at),
                   func.max(Delivery.sent_at))
        ).one()  # fmt: skip
    result.messages = counts.get(DeliveryStatus.SENT, 0)
    result.failed = counts.get(DeliveryStatus.FAILED, 0)
    if started is not None and first is not None and last is not None:
        result.seconds_to_first = (first - started).total_seconds()
        result.seconds_total = (last - started).total_seconds()


def _planned(runtime: Runtime) -> tuple[datetime, int, int]:
    """When the planner started (its rows' `created_at`), how many rows it wrote, and how
    many of them are digests to send (the others had nothing new)."""
    with runtime.session() as session:
        started, rows, skipped = session.execute(
            select(
                func.min(Delivery.created_at),
                func.count(),
                func.count().filter(Delivery.status == DeliveryStatus.SKIPPED),
            )
        ).one()
    if started is None:
        raise BenchError("digest send planned nobody")
    return started, rows, rows - skipped


def _send(settings: Settings, *, force: bool) -> tuple[datetime, float]:
    """Run `newsalerts digest send` (with `--now` when `force`) in a process of its own,
    as the operator or the scheduler would: when it exited, every row handed over, and
    its peak RSS in MB, read from the kernel. Raises BenchError when it fails."""
    command = [sys.executable, "-m", "alerts.cli", "digest", "send", *(["--now"] if force else [])]
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env={**_environment(settings), "BATCH_SIZE": str(settings.batch_size)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    finished = utcnow()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise BenchError(f"digest send failed (exit {process.returncode}): {output.strip()}")
    return finished, usage.ru_maxrss / 1024


def _sample_size(runtime: Runtime, samples: int = 50) -> int:
    """The mean size of messages spread over the whole send (digests range from one story
    to twenty, 5 to 30 KB; the ceiling is measured at this size)."""
    with runtime.session() as session:
        sent = select(Delivery.id).where(Delivery.status == DeliveryStatus.SENT)
        total = session.scalar(select(func.count()).select_from(sent.subquery())) or 0
        if not total:
            return 0
        step = max(total // samples, 1)
        numbered = sent.add_columns(
            func.row_number().over(order_by=Delivery.id).label("n")
        ).subquery()
        picked = select(numbered.c.id).where(numbered.c.n % step == 0)
        ids = list(session.scalars(picked.limit(samples)))
        composer = runtime.composer(session)
        sizes = [len(composer.compose(delivery).data) for delivery in session.scalars(
            select(Delivery).where(Delivery.id.in_(ids)))]  # fmt: skip
    return sum(sizes) // len(sizes) if sizes else 0


CEILING_RUNS = 2


def _ceiling(port: int, messages: int, size: int, sessions: int) -> float | None:
    """Seconds Postfix's smtp-source needs for the same messages over as many sessions:
    the best of two runs, so a moment of load elsewhere on the machine does not lower the
    ceiling (and flatter the ratio)."""
    if not messages or shutil.which("smtp-source") is None:
        return None
    runs = []
    for _ in range(CEILING_RUNS):
        started = time.perf_counter()
        subprocess.run(
            ["smtp-source", "-s", str(sessions), "-m", str(messages), "-l", str(size),
             "-f", "alerts@example.com", "-t", "reader@bench.example.com", f"127.0.0.1:{port}"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=3600,
        )  # fmt: skip
        runs.append(time.perf_counter() - started)
    return min(runs)
