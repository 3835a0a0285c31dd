"""`newsalerts feeds add|list|remove`: the polling interval of feed sources."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from alerts.cli import main
from tests.support.feed_server import FeedServer, Route


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


FEED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Example News</title>
<item><title>Harbour bridge reopens</title><link>/local/bridge</link></item>
<item><title>Untitled without a link</title></item>
<item><title>Harbour bridge, again</title><link>/local/bridge</link></item>
</channel></rss>
"""


def test_ingest_counts_skips_by_reason_and_takes_a_base_for_files(tmp_path: Path) -> None:
    env = _env(tmp_path)
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade"], env=env)
    path = tmp_path / "saved.xml"
    path.write_bytes(b"\n\n" + FEED)  # a blank line before <?xml, as some sites send
    without = runner.invoke(main, ["ingest", str(path)], env=env)
    assert without.exit_code == 0, without.output
    assert f"{path}: 0 new, 0 updated, 0 unchanged, 3 skipped: relative link ×2, no link ×1" in (
        " ".join(without.output.split())
    )
    based = runner.invoke(
        main, ["ingest", str(path), "--base", "https://news.example.com/"], env=env
    )
    assert "1 new, 0 updated, 0 unchanged, 2 skipped: no link ×1, duplicate link ×1" in (
        " ".join(based.output.split())
    )
    bad_base = runner.invoke(main, ["ingest", str(path), "--base", "news.example.com"], env=env)
    assert bad_base.exit_code == 1 and "the base must be an http(s) URL" in bad_base.output


def test_feeds_list_shows_the_last_skips_and_the_last_error(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    env = {**_env(tmp_path), "FEEDS_ALLOW_PRIVATE": "true", "COLUMNS": "250"}
    runner = CliRunner()
    runner.invoke(main, ["db", "upgrade"], env=env)
    url = feed_server.serve("/feed.xml", Route(FEED))
    ingested = runner.invoke(main, ["ingest", url], env=env)
    assert "1 new, 0 updated, 0 unchanged, 2 skipped" in ingested.output, ingested.output
    listed = runner.invoke(main, ["feeds", "list"], env=env).output
    assert f"{url}: skipped no link ×1, duplicate link ×1" in listed, listed
    feed_server.serve("/feed.xml", Route(b"", status=500))
    assert runner.invoke(main, ["ingest", url], env=env).exit_code == 1
    listed = runner.invoke(main, ["feeds", "list"], env=env).output
    assert f"{url}: error: HTTP 500" in listed and "│ error " in listed, listed
