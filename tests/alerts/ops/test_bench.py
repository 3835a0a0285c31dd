"""`newsalerts bench` end to end on a small case: real PostgreSQL, a private Redis, a real
worker process and a real SMTP sink; it must send every digest and report its figures."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.cli import main
from alerts.errors import BenchError
from alerts.ops.bench import BenchResult, build_case, parse_languages, run_bench
from subscribers.languages import SHIPPED_LANGUAGES
from subscribers.models import Subscriber
from tests.conftest import POSTGRES_ADMIN_URL
from tests.support.redis_server import RedisServer


def _run(
    redis: RedisServer, readers: int, languages: tuple[str, ...] = ("en",)
) -> tuple[BenchResult, list[str]]:
    said: list[str] = []
    result = run_bench(
        readers=readers,
        workers=1,
        admin_url=POSTGRES_ADMIN_URL,
        redis_url=redis.url,
        say=said.append,
        languages=languages,
    )
    return result, said


@pytest.mark.slow
def test_every_reader_gets_a_digest_and_the_figures_are_reported(
    private_redis: RedisServer,
) -> None:
    # In the five shipped languages: every catalog and both directions render under load.
    result, said = _run(private_redis, 150, SHIPPED_LANGUAGES)
    # Readers whose topics had no new story get no digest.
    assert 0.9 * 150 < result.planned <= 150
    assert (result.messages, result.failed) == (result.planned, 0)
    assert 0 < result.seconds_to_first <= result.seconds_total
    assert result.message_bytes > 1000
    assert result.worker_peak_rss_mb and min(result.worker_peak_rss_mb) > 20
    assert result.database_seconds is not None and result.database_seconds > 0
    assert result.database_share is not None and 0 < result.database_share < 1
    text = "\n".join(result.lines())
    assert f"messages sent {result.planned} of {result.planned} planned (failed 0)" in text
    assert "database time share" in text
    # The scheduler's next tick finds everyone planned: it plans nobody.
    assert result.idle_tick_seconds is not None and result.idle_tick_planned == 0
    assert "a tick with nobody due" in text
    # The planner ran as `digest send`, a process of its own, and so did the idle tick.
    assert result.readers_planned == 150 and result.planning_rate > 0
    assert result.planner_peak_rss_mb > 20 and result.idle_tick_peak_rss_mb > 20
    assert result.idle_tick_process_seconds > 0
    assert result.ledger_rows == 150 and result.ledger_bytes > 150 * 50
    assert "bytes a row" in text and "readers/s" in text
    assert said[0].startswith("building 150 readers (en, de, fr, es, ar)")
    assert "languages en,de,fr,es,ar" in text


@pytest.mark.slow
def test_without_postfix_it_uses_aiosmtpd_and_says_so(
    private_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("alerts.ops.bench.shutil.which", lambda name: None)
    result, _ = _run(private_redis, 40)
    assert result.messages == result.planned > 0
    assert result.sink.startswith("aiosmtpd")
    assert result.ceiling_rate is None
    assert "ceiling not measured" in "\n".join(result.lines())
    assert "languages en" in result.lines()[0]  # English alone unless asked


@pytest.mark.slow
def test_an_unreachable_database_server_is_one_clear_line() -> None:
    outcome = CliRunner().invoke(
        main, ["bench", "--readers", "10", "--postgres", "postgresql://nobody@127.0.0.1:1/x"]
    )
    assert outcome.exit_code == 1
    assert "error: cannot create a database" in outcome.output
    assert "Traceback" not in outcome.output


def test_the_readers_languages_go_round_robin(session: Session) -> None:
    now = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    build_case(session, readers=12, topics=3, articles=2, now=now, languages=SHIPPED_LANGUAGES)
    session.flush()
    rows = session.execute(select(Subscriber.email, Subscriber.language)).all()
    languages = {email: language for email, language in rows}
    assert [languages[f"reader{n}@bench.example.com"] for n in range(6)] == [
        "en", "de", "fr", "es", "ar", "en",
    ]  # fmt: skip
    assert Counter(languages.values()) == {"en": 3, "de": 3, "fr": 2, "es": 2, "ar": 2}


def test_english_alone_by_default(session: Session) -> None:
    now = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    build_case(session, readers=4, topics=2, articles=1, now=now)
    session.flush()
    assert set(session.scalars(select(Subscriber.language))) == {"en"}


@pytest.mark.parametrize(
    ("written", "languages"),
    [("en", ("en",)), ("en,de,fr,es,ar", SHIPPED_LANGUAGES), (" DE , ar ", ("de", "ar"))],
)
def test_languages_as_written(written: str, languages: tuple[str, ...]) -> None:
    assert parse_languages(written) == languages


@pytest.mark.parametrize(("written", "message"), [
    ("en,xx", "--languages takes shipped languages among en,de,fr,es,ar, not 'en,xx'"),
    ("", "--languages takes shipped languages"),
    ("de,de", "--languages names a language twice"),
])  # fmt: skip
def test_a_language_without_a_catalog_is_refused(written: str, message: str) -> None:
    with pytest.raises(BenchError, match=re.escape(message)):
        parse_languages(written)


def test_the_command_refuses_an_unknown_language_in_one_line() -> None:
    outcome = CliRunner().invoke(main, ["bench", "--readers", "10", "--languages", "en,klingon"])
    assert outcome.exit_code == 1
    assert "error: --languages takes shipped languages" in outcome.output
    assert "Traceback" not in outcome.output
