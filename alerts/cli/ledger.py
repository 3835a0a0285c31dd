"""`newsalerts ledger`: the delivery ledger's upkeep — retention now, and its size."""

from __future__ import annotations

import click

from alerts.cli.common import clear_errors, main, open_runtime


@main.group()
def ledger() -> None:
    """The delivery ledger: retention and size."""


@ledger.command("prune")
@click.option(
    "--keep-days",
    type=click.IntRange(1, 36_500),
    default=None,
    help="Local dates of rows to keep, today included (default: LEDGER_KEEP_DAYS, 90).",
)
@clear_errors
def ledger_prune(keep_days: int | None) -> None:
    """Delete the rows of older local dates now, a chunk per transaction (the scheduler
    does it once a day). Safe to interrupt and to run again."""
    from alerts.jobs import prune
    from subscribers.database import utcnow

    with open_runtime() as runtime:
        pruned = prune(runtime, now=utcnow(), keep_days=keep_days)
    click.echo(
        f"Kept local dates from {pruned.cutoff.isoformat()}: deleted {pruned.deliveries:,} "
        f"ledger rows and {pruned.selections:,} selections of older dates."
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
