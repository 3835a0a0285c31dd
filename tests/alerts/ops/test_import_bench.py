"""`newsalerts bench-import` on a small list: the real command in its own process, on each
database; every reader stored once, the refused rows refused, the second run adds nobody."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from alerts.cli import main
from alerts.ops.import_bench import run_import_bench
from tests.conftest import POSTGRES_ADMIN_URL

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("admin_url", [None, POSTGRES_ADMIN_URL], ids=["sqlite", "postgresql"])
def test_the_list_is_stored_once_and_the_second_run_skips_everyone(
    admin_url: str | None,
) -> None:
    said: list[str] = []
    result = run_import_bench(rows=2500, admin_url=admin_url, say=said.append)
    assert (result.stored, result.consent_events) == (2498, 2498)
    assert result.first.summary == "2498 imported (active), 0 skipped, 2 with errors."
    assert result.again.summary == "0 imported (active), 2498 skipped, 2 with errors."
    assert result.first.seconds > 0 and result.first.peak_rss_mb > 20
    assert result.first.cpu_seconds > 0 and result.first.load >= 0
    first_line = result.lines()[1]
    assert "importer CPU " in first_line and " at start — 2498 imported" in first_line
    if admin_url is None:
        assert result.first.server_cpu_seconds is None
    else:
        assert result.first.server_cpu_seconds is not None
        assert result.first.server_cpu_seconds > 0 and "server CPU " in first_line
        assert (
            result.lines()[0] == "rows 2,500 on PostgreSQL (2 refused by design), 2 writing at once"
        )
    assert said[-1] == "importing the same file again ..."
    assert result.lines()[1].startswith("import: ")


@pytest.mark.parametrize("command", [["bench", "import"], ["bench-import"]])
def test_the_command_prints_its_figures(command: list[str]) -> None:
    """`bench import`, and `bench-import`, the name it had first."""
    outcome = CliRunner().invoke(main, [*command, "--rows", "300", "--sqlite"])
    assert outcome.exit_code == 0, outcome.output
    assert "rows 300 on SQLite (0 refused by design)" in outcome.output
    assert "stored 300 readers and 300 consent events (expected 300 of each)" in outcome.output
