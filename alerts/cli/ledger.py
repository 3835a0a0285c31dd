"""`newsalerts ledger`: the delivery ledger's upkeep — retention now, its weekly
partitions, and its size."""

from __future__ import annotations

from datetime import timedelta

import click

from alerts.cli.common import clear_errors, main, open_runtime


@main.group()
def ledger() -> None:
    """The delivery ledger: retention, partitions and size."""


@ledger.command("prune")
@click.option(
    "--keep-days",
    type=click.IntRange(1, 36_500),
    default=None,
    help="Local dates of rows to keep, today included (default: LEDGER_KEEP_DAYS, 90).",
)
@clear_errors
def ledger_prune(keep_days: int | None) -> None:
    """Delete the rows of older local dates now, a chunk per transaction; on PostgreSQL,
    drop the weeks whose every date is older and make the weeks ahead (the scheduler does
    it once a day). Safe to interrupt and to run again."""
    from alerts.jobs import prune
    from subscribers.database import utcnow

    with open_runtime() as runtime:
        pruned = prune(runtime, now=utcnow(), keep_days=keep_days)
    click.echo(
        f"Kept local dates from {pruned.cutoff.isoformat()}: deleted {pruned.deliveries:,} "
        f"ledger rows and {pruned.selections:,} selections of older dates."
    )
    if pruned.dropped or pruned.made:
        click.echo(
            f"Weekly partitions dropped: {', '.join(pruned.dropped) or 'none'}; "
            f"made ahead: {', '.join(pruned.made) or 'none'}."
        )


@ledger.command("partitions")
@click.option(
    "--weeks-ahead",
    type=click.IntRange(0, 520),
    default=None,
    help="Weeks after this one to make (default: 4).",
)
@clear_errors
def ledger_partitions(weeks_ahead: int | None) -> None:
    """List the ledger's weekly partitions on PostgreSQL, making this week's and the
    weeks ahead that are missing (the scheduler does it once a day)."""
    from alerts.ledger.partitions import WEEKS_AHEAD, make_ahead, partitioned, weeks
    from subscribers.database import utcnow

    with open_runtime() as runtime, runtime.session() as session:
        if not partitioned(session):
            click.echo("The ledger is a plain table here: partitions are for PostgreSQL.")
            return
        ahead = WEEKS_AHEAD if weeks_ahead is None else weeks_ahead
        made = make_ahead(session, today=utcnow().date(), weeks_ahead=ahead)
        listed = weeks(session)
    click.echo(f"Made: {', '.join(made) or 'none'}.")
    click.echo(
        f"{len(listed)} weekly partitions, {listed[0].first.isoformat()} to "
        f"{(listed[-1].end - timedelta(days=1)).isoformat()}, and a default one."
        if listed
        else "No weekly partitions: every row is in the default one."
    )


@ledger.command("size")
@clear_errors
def ledger_size_command() -> None:
    """Bytes a ledger row costs on PostgreSQL (table, indexes and shared selections)."""
    from alerts.ledger.size import ledger_size

    with open_runtime() as runtime, runtime.session() as session:
        size = ledger_size(session)
    if size is None:
        click.echo("The ledger's size per row is measured on PostgreSQL only.")
        return
    click.echo(
        f"{size.rows:,} rows, {size.ledger_bytes + size.selection_bytes:,} bytes: "
        f"{size.bytes_per_row:.0f} bytes a row"
    )
