"""`newsalerts feeds add|list|remove`: the polling interval of feed sources."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from alerts.cli import main


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "SMTP_URL": f"file://{tmp_path / 'sent'}",
        "REDIS_URL": "",
        "SECRET_KEY": "cli-test-secret-key-0123456789abcdef",
    }


def test_add_list_and_remove_a_polled_feed(tmp_path: Path) -> None:
    env = _env(tmp_path)
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"], env=env).exit_code == 0
    url = "https://feeds.example.com/news.xml"
    added = runner.invoke(main, ["feeds", "add", url, "--every", "5"], env=env)
    assert added.exit_code == 0, added.output
    listed = runner.invoke(main, ["feeds", "list"], env=env).output
    assert "feeds.example.com" in listed and "│ 5 " in listed and "never" in listed
    assert runner.invoke(main, ["feeds", "remove", url], env=env).exit_code == 0
    assert "│ 5 " not in runner.invoke(main, ["feeds", "list"], env=env).output


def test_a_bad_url_or_interval_is_one_clear_line(tmp_path: Path) -> None:
    env = _env(tmp_path)
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade"], env=env)
    bad = runner.invoke(main, ["feeds", "add", "ftp://example.com/x", "--every", "5"], env=env)
    assert bad.exit_code != 0 and "http(s)" in bad.output and "Traceback" not in bad.output
    never = runner.invoke(main, ["feeds", "add", "https://example.com/x", "--every", "0"], env=env)
    assert never.exit_code != 0 and "minutes" in never.output
