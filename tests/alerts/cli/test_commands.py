"""The `newsalerts` command as a user runs it: the demo, ingest, import, digest send."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.utils import format_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from alerts.cli import main
from tests.support.feed_server import FeedServer, Route
from tests.support.smtp_server import RecordingSMTPServer

CSV = """email,name,topics,frequency,timezone,hour
ada@example.com,Ada,Business;Chip shortage,daily,Europe/Paris,7
not-an-address,Bad,,daily,UTC,7
bram@example.com,Bram,,weekly,Asia/Tokyo,25
"""


def _run(arguments: list[str], env: dict[str, str], _cwd: Path | None = None) -> Result:
    # Commands run from the repository root as a user would; all paths given are absolute.
    return CliRunner().invoke(main, arguments, env=env, catch_exceptions=False)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "SMTP_URL": f"file://{tmp_path / 'sent'}",
        "REDIS_URL": "",
        "SECRET_KEY": "cli-test-secret-key-0123456789abcdef",
        "BASE_URL": "https://news.example.com",
    }


def _sent_count(output: str) -> int:
    match = re.search(r"Digests sent:\s+(\d+)", output)
    assert match, output
    return int(match.group(1))


def test_demo_fills_an_outbox_with_an_index(tmp_path: Path, env: dict[str, str]) -> None:
    out = tmp_path / "outbox"
    result = _run(["demo", "--readers", "40", "--out", str(out)], env, tmp_path)
    assert result.exit_code == 0, result.output
    assert "Articles ingested:      40" in result.output
    assert "Readers:                40" in result.output
    sent = _sent_count(result.output)
    emls = sorted((out / "messages").glob("*.eml"))
    assert sent == len(emls) > 30
    index = (out / "index.html").read_text()
    assert index.count("<tr><td>") == sent
    first = message_from_bytes(emls[0].read_bytes(), policy=policy.default)
    assert first["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert first.get_body(("html",)) is not None and first.get_body(("plain",)) is not None
    # A second run replaces the first run's messages instead of piling them up.
    again = _run(["demo", "--readers", "5", "--out", str(out)], env, tmp_path)
    assert again.exit_code == 0, again.output
    assert len(list((out / "messages").glob("*.eml"))) == _sent_count(again.output) <= 5


def test_demo_refuses_a_foreign_folder(tmp_path: Path, env: dict[str, str]) -> None:
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.txt").write_text("precious")
    result = _run(["demo", "--out", str(foreign)], env, tmp_path)
    assert result.exit_code == 1
    assert "is not empty and was not made by newsalerts" in result.output
    assert (foreign / "thesis.txt").read_text() == "precious"


def test_demo_delivers_to_a_real_smtp_server(
    tmp_path: Path, env: dict[str, str], smtp_server: RecordingSMTPServer
) -> None:
    result = _run(["demo", "--readers", "12", "--smtp", smtp_server.url], env, tmp_path)
    assert result.exit_code == 0, result.output
    assert len(smtp_server.messages) == _sent_count(result.output) > 0


@pytest.fixture
def relay_without_tls() -> Iterator[RecordingSMTPServer]:
    server = RecordingSMTPServer(login=("news", "s3cret"))
    server.start()
    yield server
    server.stop()


def test_demo_never_shows_the_relay_password(
    tmp_path: Path, env: dict[str, str], relay_without_tls: RecordingSMTPServer
) -> None:
    url = f"smtp://news:s3cret@127.0.0.1:{relay_without_tls.port}?tls=none"
    result = _run(["demo", "--readers", "3", "--smtp", url], env, tmp_path)
    assert result.exit_code == 0, result.output
    assert f"Delivered to:           smtp:127.0.0.1:{relay_without_tls.port}" in result.output
    assert "s3cret" not in result.output
    assert len(relay_without_tls.messages) == _sent_count(result.output) > 0


def test_demo_says_why_a_relay_could_not_be_used(
    tmp_path: Path, env: dict[str, str], relay_without_tls: RecordingSMTPServer
) -> None:
    url = f"smtp://news:s3cret@127.0.0.1:{relay_without_tls.port}"
    result = _run(["demo", "--readers", "3", "--smtp", url], env, tmp_path)
    assert f"because:              smtp:127.0.0.1:{relay_without_tls.port} offers no STARTTLS" in (
        result.output
    )
    assert "s3cret" not in result.output
    assert relay_without_tls.logins == [] and relay_without_tls.messages == []


def test_digest_send_says_why_the_relay_could_not_be_used(
    tmp_path: Path, env: dict[str, str], relay_without_tls: RecordingSMTPServer
) -> None:
    env = {**env, "SMTP_URL": f"smtp://news:s3cret@127.0.0.1:{relay_without_tls.port}"}
    published = format_datetime(datetime.now(UTC) - timedelta(hours=1))
    feed = tmp_path / "feed.xml"
    feed.write_text(
        '<rss version="2.0"><channel><title>News</title><item><title>Rates rise</title>'
        "<link>https://news.example.com/rates</link><category>Business</category>"
        f"<pubDate>{published}</pubDate></item></channel></rss>"
    )
    readers = tmp_path / "readers.csv"
    readers.write_text(
        "email,name,topics,frequency,timezone,hour\nada@example.com,Ada,Business,,,\n"
    )
    assert _run(["db", "upgrade"], env, tmp_path).exit_code == 0
    assert _run(["ingest", str(feed)], env, tmp_path).exit_code == 0
    assert (
        _run(["subscribers", "import", str(readers), "--confirmed"], env, tmp_path).exit_code == 0
    )
    sent = _run(["digest", "send", "--now"], env, tmp_path)
    assert "0 sent, 1 failed" in sent.output
    assert (
        f"The relay could not be used: smtp:127.0.0.1:{relay_without_tls.port} offers no STARTTLS"
        in sent.output
    )
    assert "s3cret" not in sent.output
    assert relay_without_tls.logins == []


def test_ingest_fetches_from_private_networks_only_when_allowed(
    tmp_path: Path, env: dict[str, str], feed_server: FeedServer
) -> None:
    sample = Path(__file__).resolve().parents[3] / "alerts" / "demo" / "sample_data"
    url = feed_server.serve("/feed.xml", Route((sample / "site-feed.xml").read_bytes()))
    assert _run(["db", "upgrade"], env, tmp_path).exit_code == 0
    refused = _run(["ingest", url], env, tmp_path)
    assert refused.exit_code == 1
    assert "127.0.0.1 is not a public address; set FEEDS_ALLOW_PRIVATE=true" in refused.output
    assert feed_server.requests == []
    allowed = _run(["ingest", url], {**env, "FEEDS_ALLOW_PRIVATE": "true"}, tmp_path)
    assert allowed.exit_code == 0, allowed.output
    assert "40 new" in allowed.output


def test_ingest_send_and_send_again(tmp_path: Path, env: dict[str, str]) -> None:
    assert _run(["db", "upgrade"], env, tmp_path).exit_code == 0
    feed = Path(__file__).resolve().parents[3] / "alerts" / "demo" / "sample_data" / "site-feed.xml"
    ingested = _run(["ingest", str(feed)], env, tmp_path)
    assert ingested.exit_code == 0, ingested.output
    assert "40 new" in ingested.output
    csv_file = tmp_path / "readers.csv"
    csv_file.write_text(CSV)
    imported = _run(["subscribers", "import", str(csv_file), "--confirmed"], env, tmp_path)
    assert imported.exit_code == 2
    assert "line 3: invalid email address" in imported.output
    assert "line 4: hour: 25 is not between 0 and 23" in imported.output
    assert "1 imported (active), 0 skipped, 2 with errors." in imported.output

    exported = _run(["subscribers", "export"], env, tmp_path)
    assert exported.output.splitlines()[1].startswith("ada@example.com,Ada,business;chip-shortage")

    # The sample feed's dates are in the past: a first digest covers only the last 24 hours.
    first = _run(["digest", "send", "--now"], env, tmp_path)
    assert first.exit_code == 0, first.output
    assert "REDIS_URL is not set: running tasks in-process." in first.output
    second = _run(["digest", "send", "--now"], env, tmp_path)
    assert "0 digests planned, 0 skipped" in second.output


def test_keyword_alerts_in_process(tmp_path: Path, env: dict[str, str]) -> None:
    assert _run(["db", "upgrade"], env, tmp_path).exit_code == 0
    csv_file = tmp_path / "readers.csv"
    csv_file.write_text(
        "email,keywords,keyword_alerts\nada@example.com,Harbour,yes\nbo@example.com,Harbour,\n"
    )
    imported = _run(["subscribers", "import", str(csv_file), "--confirmed"], env, tmp_path)
    assert imported.exit_code == 0, imported.output
    feed = Path(__file__).resolve().parents[3] / "alerts" / "demo" / "sample_data" / "site-feed.xml"
    assert _run(["ingest", str(feed)], env, tmp_path).exit_code == 0
    first = _run(["digest", "keyword-alerts"], env, tmp_path)
    assert first.exit_code == 0, first.output
    assert "1 keyword alerts planned, 1 sent" in first.output
    [sent] = list((tmp_path / "sent").glob("*.eml"))
    assert "To: ada@example.com" in sent.read_text()
    again = _run(["digest", "keyword-alerts"], env, tmp_path)
    assert "0 keyword alerts planned, 0 sent" in again.output


def test_bad_feed_is_a_clear_error(tmp_path: Path, env: dict[str, str]) -> None:
    assert _run(["db", "upgrade"], env, tmp_path).exit_code == 0
    broken = tmp_path / "broken.xml"
    broken.write_text("<rss><channel><item><title>Half")
    result = _run(["ingest", str(broken), str(tmp_path / "missing.xml")], env, tmp_path)
    assert result.exit_code == 1
    assert f"error: {broken}" in result.output
    assert "missing.xml" in result.output
    assert "Traceback" not in result.output


def test_malformed_setting_is_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    result = _run(["digest", "send"], {**env, "DATABASE_URL": "mysql://x"}, tmp_path)
    assert result.exit_code == 1
    assert result.output.strip() == (
        "error: DATABASE_URL: expected sqlite:///path or postgresql://user@host/db"
    )


def _json_feed(item_id: str, published: datetime) -> str:
    return json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "Example News",
            "items": [
                {
                    "id": item_id,
                    "url": f"https://news.example.com/drought/{item_id}",
                    "title": f"Dam levels fall again ({item_id})",
                    "date_published": published.isoformat(),
                    "tags": ["Drought emergency"],
                }
            ],
        }
    )


def test_preview_shows_a_readers_digest_without_sending(
    tmp_path: Path, env: dict[str, str]
) -> None:
    assert _run(["db", "upgrade"], env).exit_code == 0
    feed = tmp_path / "feed.json"
    now = datetime.now(UTC)
    feed.write_text(_json_feed("future", now + timedelta(days=1)))  # outside every window
    assert _run(["ingest", str(feed)], env).exit_code == 0
    csv_file = tmp_path / "readers.csv"
    csv_file.write_text("email,topics\nada@example.com,Drought emergency\n")
    assert _run(["subscribers", "import", str(csv_file), "--confirmed"], env).exit_code == 0
    empty = _run(["digest", "preview", "--email", "ada@example.com"], env)
    assert "Nothing new for this reader" in empty.output

    feed.write_text(_json_feed("fresh", now - timedelta(hours=1)))
    assert _run(["ingest", str(feed)], env).exit_code == 0
    html_file = tmp_path / "preview.html"
    shown = _run(["digest", "preview", "--email", "ADA@example.com", "--html", str(html_file)], env)
    assert shown.exit_code == 0, shown.output
    assert "To: ada@example.com" in shown.output
    assert "Subject: Dam levels fall again (fresh)" in shown.output
    assert "(future)" not in shown.output
    assert "Dam levels fall again (fresh)" in html_file.read_text()
    assert not (tmp_path / "sent").exists()  # nothing was sent


def test_preview_of_an_unknown_reader(env: dict[str, str]) -> None:
    assert _run(["db", "upgrade"], env).exit_code == 0
    result = _run(["digest", "preview", "--email", "nobody@example.com"], env)
    assert result.exit_code == 1
    assert result.output.strip() == "error: no reader nobody@example.com"


def test_worker_needs_a_broker(env: dict[str, str]) -> None:
    result = _run(["worker"], env)
    assert result.exit_code == 1
    assert "REDIS_URL is not set" in result.output


def test_erase_removes_the_reader_and_keeps_only_a_hash(
    tmp_path: Path, env: dict[str, str]
) -> None:
    assert _run(["db", "upgrade"], env).exit_code == 0
    csv_file = tmp_path / "readers.csv"
    csv_file.write_text("email,name\nzora.quist@example.com,Zora Quist\n")
    assert _run(["subscribers", "import", str(csv_file), "--confirmed"], env).exit_code == 0

    erased = _run(["subscribers", "erase", "Zora.Quist@example.com"], env)
    assert erased.exit_code == 0, erased.output
    assert "Erased" in erased.output
    exported = _run(["subscribers", "export"], env)
    assert "zora" not in exported.output.lower()
    # Importing the address again stores nothing: it is suppressed.
    again = _run(["subscribers", "import", str(csv_file), "--confirmed"], env)
    assert "0 imported" in again.output
    assert "suppress" in again.output
    unknown = _run(["subscribers", "erase", "never.seen@example.com"], env)
    assert "now on the suppression list" in unknown.output
