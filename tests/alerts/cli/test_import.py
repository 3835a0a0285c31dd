"""`newsalerts subscribers import` as a publisher moving a list runs it: chunk by chunk,
bad rows reported by line, and the same file run again after a stop adds nobody twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

import subscribers.bulk
from alerts.cli import main
from alerts.db import make_engine, make_session_factory
from alerts.desk.imports import next_midnight
from subscribers.models import ConsentEvent, Subscriber
from tests.support.processes import ROOT, SECRET_KEY, process_environment

# `newsalerts` as a process of its own, with chunks small enough to kill it between two.
_SMALL_CHUNKS = (
    "import subscribers.bulk as bulk; bulk.POSTGRES_CHUNK = bulk.SQLITE_CHUNK = 200; "
    "from alerts.cli import main; main()"
)


def _run(env: dict[str, str], *arguments: str) -> Result:
    return CliRunner().invoke(main, list(arguments), env=env)


def _stored(database_url: str) -> tuple[list[str], int]:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            emails = list(session.scalars(select(Subscriber.email).order_by(Subscriber.id)))
            events = session.scalar(select(func.count()).select_from(ConsentEvent)) or 0
            return emails, events
    finally:
        engine.dispose()


def _rows(numbers: range) -> list[str]:
    return [f"reader{n}@example.com,Reader {n},Topic {n % 4},daily,UTC,{n % 24}" for n in numbers]


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subscribers.bulk, "POSTGRES_CHUNK", 50)
    monkeypatch.setattr(subscribers.bulk, "SQLITE_CHUNK", 50)


def test_a_file_broken_midway_keeps_the_chunks_before_and_a_rerun_adds_each_reader_once(
    env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    header = "email,name,topics,frequency,timezone,hour"
    broken = tmp_path / "broken.csv"
    # Line 182 opens a quote that never closes: the file cannot be read past it.
    broken.write_text("\n".join([header, *_rows(range(180)), 'reader180@example.com,"Open']))
    first = _run(env, "subscribers", "import", str(broken), "--confirmed")
    assert first.exit_code == 1, first.output
    assert "150 readers before the error were imported and kept" in first.output
    assert "error: line 182: the file is not valid CSV: unexpected end of data" in first.output
    emails, events = _stored(database_url)
    assert (len(emails), events) == (150, 150)

    fixed = tmp_path / "fixed.csv"
    lines = [header, *_rows(range(300))]
    lines[101] = "not-an-address,,,,,"  # line 102, in a chunk that was committed before
    lines[250] = "reader1@example.com,,,,,"  # line 251, a repeat
    fixed.write_text("\n".join(lines) + "\n")
    second = _run(env, "subscribers", "import", str(fixed), "--confirmed")
    assert second.exit_code == 2, second.output
    assert "line 102: invalid email address" in second.output
    assert "149 imported (active), 150 skipped, 1 with errors." in second.output
    emails, events = _stored(database_url)
    expected = {f"reader{n}@example.com" for n in range(300)} - {"reader249@example.com"}
    assert len(emails) == len(set(emails)) == events == 299
    assert set(emails) == expected

    again = _run(env, "subscribers", "import", str(fixed), "--confirmed")
    assert "0 imported (active), 299 skipped, 1 with errors." in again.output
    assert _stored(database_url) == (emails, 299)


def test_start_tomorrow_pauses_only_the_readers_the_import_creates(
    env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    header = "email,name,topics,frequency,timezone,hour"
    first = tmp_path / "first.csv"
    first.write_text("\n".join([header, *_rows(range(3))]) + "\n")
    assert _run(env, "subscribers", "import", str(first), "--confirmed").exit_code == 0
    later = tmp_path / "later.csv"
    later.write_text("\n".join([header, *_rows(range(120))]) + "\n")
    zone = {**env, "DEFAULT_TIMEZONE": "Europe/Paris"}
    result = _run(zone, "subscribers", "import", str(later), "--confirmed", "--start-tomorrow")
    assert result.exit_code == 0, result.output
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            pauses = {
                email: paused
                for email, paused in session.execute(
                    select(Subscriber.email, Subscriber.paused_until)
                )
            }
            created = session.scalar(
                select(Subscriber.created_at).where(Subscriber.email == "reader119@example.com")
            )
    finally:
        engine.dispose()
    assert created is not None
    midnight = next_midnight(created, "Europe/Paris")
    assert f"117 imported (active, from {midnight:%Y-%m-%d %H:%M} Europe/Paris)" in result.output
    assert {pauses[f"reader{n}@example.com"] for n in range(3)} == {None}
    assert {pauses[f"reader{n}@example.com"] for n in range(3, 120)} == {midnight}


def test_an_import_killed_midway_leaves_whole_chunks_and_a_rerun_adds_each_reader_once(
    env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    rows = 20_000
    readers = tmp_path / "readers.csv"
    header = "email,name,topics,frequency,timezone,hour"
    readers.write_text("\n".join([header, *_rows(range(rows))]) + "\n")
    environment = process_environment(
        database_url=database_url, redis_url="", smtp_url=f"file://{tmp_path / 'out'}"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", _SMALL_CHUNKS, "subscribers", "import", str(readers), "--confirmed"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    engine = make_engine(database_url)
    try:
        deadline = time.monotonic() + 120
        while True:
            with engine.connect() as connection:
                stored = connection.scalar(select(func.count()).select_from(Subscriber)) or 0
            if stored >= 1_000:
                break
            assert process.poll() is None, "the import ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        engine.dispose()
    emails, events = _stored(database_url)
    assert len(emails) < rows, "the import finished before it was killed"
    assert len(emails) == len(set(emails)) == events
    assert len(emails) % 200 == 0  # whole chunks, committed or not at all

    again = _run(
        {**env, "SECRET_KEY": SECRET_KEY}, "subscribers", "import", str(readers), "--confirmed"
    )
    assert again.exit_code == 0, again.output
    killed_at = len(emails)
    assert (
        f"{rows - killed_at} imported (active), {killed_at} skipped, 0 with errors." in again.output
    )
    emails, events = _stored(database_url)
    assert len(emails) == len(set(emails)) == events == rows
    assert set(emails) == {f"reader{n}@example.com" for n in range(rows)}
