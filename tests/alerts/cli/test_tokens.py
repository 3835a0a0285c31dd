"""`newsalerts tokens create|list|revoke`: the publisher API's tokens at the command line."""

from __future__ import annotations

from click.testing import CliRunner, Result

from alerts.cli import main


def _run(env: dict[str, str], *arguments: str) -> Result:
    return CliRunner().invoke(main, ["tokens", *arguments], env={**env, "COLUMNS": "120"})


def test_tokens_list_shows_scopes_and_dates_never_the_token(env: dict[str, str]) -> None:
    empty = _run(env, "list")
    assert empty.exit_code == 0 and "No API tokens yet" in empty.output
    created = _run(env, "create", "--name", "cms", "--scope", "articles", "--scope", "alerts")
    assert created.exit_code == 0, created.output
    secret = created.output.strip().splitlines()[-1]
    assert _run(env, "create", "--name", "crm", "--import-confirmed").exit_code == 0
    assert _run(env, "revoke", "crm").exit_code == 0
    listed = _run(env, "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    cms = next(line for line in lines if "│ cms " in line)
    assert "articles, alerts" in cms and "never" in cms and " UTC" in cms
    crm = next(line for line in lines if "│ crm " in line)
    assert "everything" in crm and "yes" in crm and "—" not in crm  # revoked, with its time
    assert lines.index(cms) < lines.index(crm)  # live tokens first
    assert secret not in listed.output
