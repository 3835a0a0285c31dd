"""`newsalerts audit`: read the staff audit log, newest first."""

from __future__ import annotations

import click

from alerts.cli.common import clear_errors, main, open_runtime

MAX_LIMIT = 10_000


@main.command("audit")
@click.option(
    "--limit",
    type=click.IntRange(1, MAX_LIMIT),
    default=50,
    show_default=True,
    help="How many events, newest first.",
)
@click.option(
    "--actor",
    help="Only this actor's events: user:EMAIL or EMAIL, token:NAME or NAME, cli, anonymous.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array for scripts.")
@clear_errors
def audit(limit: int, actor: str | None, as_json: bool) -> None:
    """Who did what to which thing, and when: staff in the web app, API tokens, the CLI."""
    import json

    from alerts.audit import as_dict, read

    with open_runtime() as runtime, runtime.session() as session:
        events = [as_dict(event) for event in read(session, limit=limit, actor=actor).events]
    if as_json:
        click.echo(json.dumps(events, indent=2))
        return
    if not events:
        click.echo("No audit events." if actor is None else f"No audit events by {actor}.")
        return
    for event in events:
        when = event["occurred_at"][:19].replace("T", " ") + " UTC"
        # ASCII-escaped: details hold text staff typed, which must not reach the terminal
        # as control characters.
        details = json.dumps(event["details"]) if event["details"] else ""
        fields = [when, event["actor"], event["action"], event["target"] or "—", details]
        click.echo("\t".join(fields).rstrip("\t"))
