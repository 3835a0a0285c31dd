"""`newsalerts audit`: the audit log as an administrator reads it at the command line."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import select

from alerts import audit
from alerts.cli import main
from alerts.db import make_engine, make_session_factory
from alerts.models import AuditEvent
from tests.factories import utc

ROOT = Path(__file__).resolve().parents[3]
BOUNCES = ROOT / "tests" / "fixtures" / "bounces"
SAMPLE_FEED = ROOT / "alerts" / "demo" / "sample_data" / "site-feed.xml"


def _run(env: dict[str, str], *arguments: str) -> Result:
    return CliRunner().invoke(main, ["audit", *arguments], env=env)


def _record(database_url: str, *events: tuple[str, str, str | None, int]) -> None:
    """(actor, action, target, minute past 09:00 on 25 November 2026) each."""
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            for actor, action, target, minute in events:
                at = utc(2026, 11, 25, 9, minute)
                audit.record(session, actor=actor, action=action, target=target,
                             details={"minute": minute}, now=at)  # fmt: skip
            session.commit()
    finally:
        engine.dispose()


EVENTS = (
    ("user:ed@example.com", "issue.pin", "daily/2026-11-25", 1),
    ("token:cms", "article.created", "article:7", 2),
    ("anonymous", "login.failed", "user:\x1b[31mmallory@example.com", 3),
    ("user:ed@example.com", "issue.send", "daily/2026-11-25", 4),
)


def test_newest_first_one_line_each(env: dict[str, str], database_url: str) -> None:
    _record(database_url, *EVENTS)
    result = _run(env)
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        '2026-11-25 09:04:00 UTC\tuser:ed@example.com\tissue.send\tdaily/2026-11-25\t{"minute": 4}',
        # The escape character someone typed at the login form was dropped when recorded.
        "2026-11-25 09:03:00 UTC\tanonymous\tlogin.failed\tuser:[31mmallory@example.com\t"
        '{"minute": 3}',
        '2026-11-25 09:02:00 UTC\ttoken:cms\tarticle.created\tarticle:7\t{"minute": 2}',
        '2026-11-25 09:01:00 UTC\tuser:ed@example.com\tissue.pin\tdaily/2026-11-25\t{"minute": 1}',
    ]


def test_limit_actor_and_json(env: dict[str, str], database_url: str) -> None:
    _record(database_url, *EVENTS)
    result = _run(env, "--actor", "ed@example.com", "--limit", "1", "--json")
    assert result.exit_code == 0, result.output
    [event] = json.loads(result.output)
    assert {key: event[key] for key in ("actor", "action", "target", "details")} == {
        "actor": "user:ed@example.com",
        "action": "issue.send",
        "target": "daily/2026-11-25",
        "details": {"minute": 4},
    }
    assert event["occurred_at"] == "2026-11-25T09:04:00+00:00"
    tokens = json.loads(_run(env, "--actor", "cms", "--json").output)
    assert [event["action"] for event in tokens] == ["article.created"]


def test_what_the_command_line_does_is_on_record(env: dict[str, str]) -> None:
    created = CliRunner().invoke(main, ["tokens", "create", "--name", "cms"], env=env)
    assert created.exit_code == 0, created.output
    result = _run(env, "--actor", "cli")
    assert result.exit_code == 0, result.output
    [line] = result.output.splitlines()
    assert line.split("\t")[1:4] == ["cli", "token.created", "token:cms"]


def test_nothing_to_show_and_bad_limits(env: dict[str, str], database_url: str) -> None:
    assert _run(env).output == "No audit events.\n"
    assert _run(env, "--actor", "nobody").output == "No audit events by nobody.\n"
    assert _run(env, "--json").output == "[]\n"
    for limit in ("0", "-1", "10001", "many"):
        refused = _run(env, "--limit", limit)
        assert refused.exit_code == 2, limit
        assert "--limit" in refused.output


def _actions(database_url: str) -> list[tuple[str, str, str | None, dict[str, object] | None]]:
    engine = make_engine(database_url)
    try:
        with make_session_factory(engine)() as session:
            events = session.scalars(select(AuditEvent).order_by(AuditEvent.id))
            return [(e.actor, e.action, e.target, e.details) for e in events]
    finally:
        engine.dispose()


def test_every_change_made_at_the_command_line_is_audited(
    env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    env = {**env, "SECRET_KEY": "cli-test-secret-key-0123456789abcdef",
           "SMTP_URL": f"file://{tmp_path / 'sent'}"}  # fmt: skip
    runner = CliRunner()

    def run(*arguments: str) -> None:
        result = runner.invoke(main, list(arguments), env=env)
        assert result.exit_code == 0, result.output

    readers = tmp_path / "readers.csv"
    readers.write_text("email,topics\nada@example.com,Harbour\nbob@example.com,\n")
    run("subscribers", "import", str(readers), "--confirmed")
    run("feeds", "add", "https://feeds.example.com/news.xml", "--every", "5")
    run("feeds", "remove", "https://feeds.example.com/news.xml")
    bounce = tmp_path / "auto-reply.eml"
    bounce.write_bytes((BOUNCES / "auto-reply.eml").read_bytes())
    run("bounces", "process", str(bounce))
    run("ingest", str(SAMPLE_FEED))
    run("digest", "send", "--now")
    run("subscribers", "erase", "bob@example.com")

    events = _actions(database_url)
    assert [(actor, action) for actor, action, _, _ in events] == [
        ("cli", "subscribers.import"),
        ("cli", "feed.added"),
        ("cli", "feed.removed"),
        ("cli", "bounces.process"),
        ("cli", "feed.ingested"),
        ("cli", "digest.send"),
        ("cli", "subscriber.erased"),
    ]
    by_action = {action: (target, details) for _, action, target, details in events}
    assert by_action["subscribers.import"] == (
        "file:readers.csv",
        {"created": 2, "skipped": 0, "errors": 0, "confirmed": True, "starts": "at once"},
    )
    assert by_action["feed.added"] == ("https://feeds.example.com/news.xml", {"every": 5})
    assert by_action["bounces.process"][0] == "file:auto-reply.eml"
    assert by_action["digest.send"][1] is not None and by_action["digest.send"][1]["now"] is True
    target, _ = by_action["subscriber.erased"]
    assert target is not None and target.startswith("subscriber:")
    assert "bob" not in str(events)  # the log keeps no address of an erased reader
