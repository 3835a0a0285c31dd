"""`newsalerts bench` end to end on a small case: real PostgreSQL, a private Redis, a real
worker process and a real SMTP sink; it must send every digest and report its figures."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from alerts.cli import main
from alerts.ops.bench import BenchResult, run_bench
from tests.conftest import POSTGRES_ADMIN_URL
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.slow


def _run(redis: RedisServer, readers: int) -> tuple[BenchResult, list[str]]:
    said: list[str] = []
    result = run_bench(
        readers=readers,
        workers=1,
        admin_url=POSTGRES_ADMIN_URL,
        redis_url=redis.url,
        say=said.append,
    )
    return result, said


def test_every_reader_gets_a_digest_and_the_figures_are_reported(
    private_redis: RedisServer,
) -> None:
    result, said = _run(private_redis, 150)
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
    assert said[0].startswith("building 150 readers")


def test_without_postfix_it_uses_aiosmtpd_and_says_so(
    private_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("alerts.ops.bench.shutil.which", lambda name: None)
    result, _ = _run(private_redis, 40)
    assert result.messages == result.planned > 0
    assert result.sink.startswith("aiosmtpd")
    assert result.ceiling_rate is None
    assert "ceiling not measured" in "\n".join(result.lines())


def test_an_unreachable_database_server_is_one_clear_line() -> None:
    outcome = CliRunner().invoke(
        main, ["bench", "--readers", "10", "--postgres", "postgresql://nobody@127.0.0.1:1/x"]
    )
    assert outcome.exit_code == 1
    assert "error: cannot create a database" in outcome.output
    assert "Traceback" not in outcome.output
