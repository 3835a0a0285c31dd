"""Every command that opens the store refuses one this version cannot use, in one line."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from alerts.cli import main
from alerts.db import upgrade

FEED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Example</title>
<item><title>Reservoir reopens</title><link>https://news.example.com/a/1</link></item>
</channel></rss>"""


def _ingest(tmp_path: Path, database_url: str) -> tuple[int, str, bool]:
    feed = tmp_path / "feed.xml"
    feed.write_bytes(FEED)
    env = {"DATABASE_URL": database_url, "REDIS_URL": ""}
    result = CliRunner().invoke(main, ["ingest", str(feed)], env=env)
    return result.exit_code, result.output, isinstance(result.exception, SystemExit)


def test_a_store_never_set_up_is_refused_with_what_to_run(tmp_path: Path) -> None:
    code, output, clean = _ingest(tmp_path, f"sqlite:///{tmp_path / 'new.db'}")
    assert (code, clean) == (1, True)
    assert "is not set up: run `newsalerts db upgrade`" in output
    assert "Traceback" not in output


def test_a_store_behind_this_version_names_both_migrations(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(database_url, "0017")
    code, output, _ = _ingest(tmp_path, database_url)
    assert code == 1
    assert "is at migration 0017, this version needs" in output
    upgrade(database_url)
    code, output, _ = _ingest(tmp_path, database_url)
    assert code == 0, output
    assert "1 new" in output


def test_an_unreachable_database_is_one_line_with_its_password_hidden(tmp_path: Path) -> None:
    url = "postgresql+psycopg://reader:s3cret@127.0.0.1:1/nowhere"
    code, output, clean = _ingest(tmp_path, url)
    assert (code, clean) == (1, True)
    assert "cannot reach the database at" in output
    assert "s3cret" not in output


def test_ops_status_reports_a_store_never_set_up_in_its_own_report(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}", "REDIS_URL": ""}
    result = CliRunner().invoke(main, ["ops", "status", "--json", "--no-relays"], env=env)
    assert result.exit_code == 1
    database = json.loads(result.output)["services"]["database"]
    assert database.startswith("error: the database at sqlite:///") and "not set up" in database
