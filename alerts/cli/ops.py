"""Commands for operators."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import click

from alerts.cli.common import clear_errors, console, main, open_runtime


@main.group()
def ops() -> None:
    """For operators."""


@ops.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option("--no-workers", is_flag=True, help="Do not ask the workers (faster).")
@click.option("--no-relays", is_flag=True, help="Do not connect to the SMTP relays.")
@clear_errors
def ops_status(as_json: bool, no_workers: bool, no_relays: bool) -> None:
    """Health, queues, workers, sends in progress, failures, bounces: what /ops shows.

    Exits with status 1 when something is unhealthy (a service not answering, tasks queued
    and no worker answering, a worker that stopped consuming).
    """
    import json

    from alerts.ops.status import collect_status
    from subscribers.database import utcnow

    with open_runtime() as runtime:
        status = collect_status(
            runtime, now=utcnow(), probe_workers=not no_workers, probe_relays=not no_relays
        )
    if as_json:
        click.echo(json.dumps(status.as_dict(), indent=2))
    else:
        _print(status.as_dict())
    if not status.healthy:
        sys.exit(1)


def _print(status: dict[str, Any]) -> None:
    from rich.table import Table

    from alerts.ops.figures import duration, last_answer, number, percent

    health = Table("service", "state", title="Health")
    for name, state in status["services"].items():
        health.add_row(name, state if state == "ok" else f"[red]{state}[/red]")
    console.print(health)
    for problem in status["problems"]:
        console.print(f"[red]Problem:[/red] {problem}", markup=True)

    if status["queues"] is not None:
        queues = Table("queue", "waiting", "oldest waiting", title="Queues")
        for queue in status["queues"]:
            queues.add_row(
                queue["name"], number(queue["waiting"]), duration(queue["oldest_waiting_seconds"])
            )
        queues.add_row("taken by workers", number(status["unacked"]), "")
        console.print(queues)
        console.print(
            f"Tasks in {status['tasks_in_per_second']:.1f}/s, "
            f"out {status['tasks_out_per_second']:.1f}/s (last full minute)"
        )
    if status["workers"] is not None:
        now = datetime.fromisoformat(status["now"]).timestamp()
        workers = Table("worker", "host", "queues", "pid", "processes", "running", "tasks done",
                        "last answer", "state", title="Workers")  # fmt: skip
        for worker in status["workers"]:
            state = (
                "[red]not answering[/red]"
                if not worker["answering"]
                else "[red]stalled[/red]"
                if worker["stalled"]
                else "answering"
            )
            workers.add_row(worker["name"], worker["host"], ", ".join(worker["queues"]) or "—",
                            str(worker["pid"] or "—"),
                            str(worker["concurrency"] or "—"), number(worker["running"]),
                            number(worker["processed"]), last_answer(worker, now),
                            state)  # fmt: skip
        console.print(workers if status["workers"] else "Workers: none answering")

    if status["sends"]:
        sends = Table("send", "state", "sent", "waiting", "failed", "suppressed", "rate",
                      "finishes", "oldest waiting", title="Sends in progress")  # fmt: skip
        for send in status["sends"]:
            left = send["minutes_left"]
            finishes = (
                "paused" if send["status"] == "paused"
                else "not moving" if left is None
                else f"in {duration(left * 60)}"
            )  # fmt: skip
            sends.add_row(send["label"], send["status"],
                          f"{number(send['sent'])} / {number(send['total'])}",
                          number(send["pending"] + send["sending"]), number(send["failed"]),
                          number(send["suppressed"]), f"{number(send['per_minute'])}/min",
                          finishes, duration(send["oldest_pending_seconds"]))  # fmt: skip
        console.print(sends)
    else:
        console.print("No send in progress.")

    ledger = Table("status", "deliveries", title="Deliveries, last 24 hours")
    for name, count in sorted(status["deliveries"].items()):
        ledger.add_row(name, number(count))
    console.print(ledger)
    if status["oldest_pending_seconds"] is not None:
        console.print(f"Oldest waiting delivery: {duration(status['oldest_pending_seconds'])}")

    if status["failures"]:
        failures = Table("reply", "relay", "domain", "kind", "count", "example",
                         title="Failures, last 24 hours")  # fmt: skip
        for group in status["failures"][:15]:
            failures.add_row(group["reply_code"], group["relay"], group["domain"], group["kind"],
                             number(group["count"]), group["example"][:60])  # fmt: skip
        console.print(failures)

    feedback = Table("day", "sent", "bounces", "bounce rate", "complaints", "complaint rate",
                     title="Bounces and complaints")  # fmt: skip
    for day in status["feedback"][:7]:
        feedback.add_row(day["day"], number(day["sent"]),
                         number(day["hard_bounces"] + day["soft_bounces"]),
                         percent(day["bounce_rate"]), number(day["complaints"]),
                         percent(day["complaint_rate"]))  # fmt: skip
    console.print(feedback)
    console.print("Healthy" if status["healthy"] else "[red]Unhealthy[/red]", markup=True)
