"""`newsalerts subscribers import` as a publisher moving a list runs it: chunk by chunk,
bad rows reported by line, and the same file run again after a stop adds nobody twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

import subscribers.bulk
from alerts.cli import main
from alerts.db import make_engine, make_session_factory
from alerts.desk.imports import next_midnight
from subscribers.models import ConsentEvent, Subscriber


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
