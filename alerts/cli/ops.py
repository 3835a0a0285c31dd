"""Commands for operators."""

from __future__ import annotations

import sys

import click

from alerts.cli.common import clear_errors, console, main, settings_from_env


@main.group()
def ops() -> None:
    """For operators."""


@ops.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option("--no-workers", is_flag=True, help="Do not ping the workers (faster).")
@clear_errors
def ops_status(as_json: bool, no_workers: bool) -> None:
    """Deliveries of the last 24 hours, failures, queue depth, workers, health.

    Exits with status 1 when something is unhealthy.
    """
    import json

    from rich.table import Table

    from alerts.ops import collect_status
    from alerts.runtime import Runtime
    from subscribers.database import utcnow

    runtime = Runtime.from_settings(settings_from_env())
    try:
        status = collect_status(runtime, now=utcnow(), probe_workers=not no_workers)
    finally:
        runtime.close()
    if as_json:
        click.echo(json.dumps(status.as_dict(), indent=2))
    else:
        health = Table("service", "state", title="Health")
        for name, state in status.services.items():
            health.add_row(name, state)
        console.print(health)
        ledger = Table("status", "deliveries", title="Deliveries, last 24 hours")
        for name, count in sorted(status.deliveries.items()):
            ledger.add_row(name, str(count))
        console.print(ledger)
        if status.oldest_pending_seconds is not None:
            console.print(f"Oldest waiting delivery: {status.oldest_pending_seconds:.0f} s")
        if status.failures:
            failures = Table("reason", "count", title="Failures, last 24 hours")
            for reason, count in status.failures:
                failures.add_row(reason, str(count))
            console.print(failures)
        if status.queue_depth is not None:
            console.print(f"Queue depth: {status.queue_depth} waiting, {status.unacked} in flight")
        if status.workers is not None:
            console.print(f"Workers: {', '.join(status.workers) or 'none answering'}")
        console.print("Healthy" if status.healthy else "[red]Unhealthy[/red]", markup=True)
    if not status.healthy:
        sys.exit(1)
