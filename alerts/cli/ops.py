"""Commands for operators."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from alerts.cli.common import clear_errors, console, main, open_runtime, settings_from_env

if TYPE_CHECKING:
    from rich.table import Table
    from sqlalchemy.orm import Session

    from alerts.runtime import Runtime


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

    # Its own report says what is wrong with the database, in the JSON too: no check first.
    with open_runtime(check_database=False) as runtime:
        status = collect_status(
            runtime, now=utcnow(), probe_workers=not no_workers, probe_relays=not no_relays
        )
    if as_json:
        click.echo(json.dumps(status.as_dict(), indent=2))
    else:
        _print(status.as_dict())
    if not status.healthy:
        sys.exit(1)


def _table(*headers: str, title: str) -> Table:
    """A table whose cells wrap onto more lines, never cut: at 80 columns a worker's or a
    relay's name ends with an ellipsis otherwise ("celer…"), which names nothing."""
    from rich.table import Table

    table = Table(title=title)
    for header in headers:
        table.add_column(header, overflow="fold")
    return table


def _print(status: dict[str, Any]) -> None:
    from alerts.ops.figures import duration, last_answer, number, percent

    health = _table("service", "state", title="Health")
    for name, state in status["services"].items():
        health.add_row(name, state if state == "ok" else f"[red]{state}[/red]")
    console.print(health)
    for problem in status["problems"]:
        console.print(f"[red]Problem:[/red] {problem}", markup=True)

    if status["queues"] is not None:
        queues = _table("queue", "waiting", "oldest waiting", title="Queues")
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
        workers = _table("worker", "host", "queues", "pid", "processes", "running", "tasks done",
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
        sends = _table("send", "state", "sent", "waiting", "failed", "suppressed", "rate",
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

    ledger = _table("status", "deliveries", title="Deliveries, last 24 hours")
    for name, count in sorted(status["deliveries"].items()):
        ledger.add_row(name, number(count))
    console.print(ledger)
    if status["notices"]:
        notices = _table(
            "status", "notices", title="Confirmation and other notice emails, last 24 hours"
        )
        for name, count in sorted(status["notices"].items()):
            notices.add_row(name, number(count))
        console.print(notices)
    if status["oldest_pending_seconds"] is not None:
        console.print(f"Oldest waiting delivery: {duration(status['oldest_pending_seconds'])}")

    groups = [group for group in status["failures"] if group["kind"] != "unknown"]
    if groups:
        failures = _table("reply", "relay", "domain", "kind", "count", "example",
                         title="Failures, last 24 hours")  # fmt: skip
        for group in groups[:15]:
            failures.add_row(group["reply_code"], group["relay"], group["domain"], group["kind"],
                             number(group["count"]), group["example"][:60])  # fmt: skip
        console.print(failures)

    unknowns = status["unknowns"]
    if unknowns["count"]:
        shown = _table("delivery", "edition", "date", "reader", "reason",
                      title=f"May have arrived: {number(unknowns['count'])} messages, "
                      "last 24 hours (not sent again)")  # fmt: skip
        for row in unknowns["rows"][:15]:
            shown.add_row(str(row["delivery_id"]), row["edition"], row["local_date"],
                          row["recipient"], row["reason"])  # fmt: skip
        console.print(shown)
        console.print(
            "They may have reached their readers: `newsalerts ops retry --include-unknown` "
            "sends them again, after you confirm."
        )

    feedback = _table("day", "sent", "bounces", "bounce rate", "complaints", "complaint rate",
                     title="Bounces and complaints")  # fmt: skip
    for day in status["feedback"][:7]:
        feedback.add_row(day["day"], number(day["sent"]),
                         number(day["hard_bounces"] + day["soft_bounces"]),
                         percent(day["bounce_rate"]), number(day["complaints"]),
                         percent(day["complaint_rate"]))  # fmt: skip
    console.print(feedback)
    console.print("Healthy" if status["healthy"] else "[red]Unhealthy[/red]", markup=True)


@ops.command("retry")
@click.option("--reply-code", help="Only the group with this reply code (421, or none).")
@click.option("--domain", help="Only the group of readers at this domain.")
@click.option(
    "--include-unknown",
    is_flag=True,
    help="Also send again the messages that may have arrived (asks first: a reader may get "
    "a second copy).",
)
@click.option("--yes", is_flag=True, help="Confirm --include-unknown without asking.")
@clear_errors
def ops_retry(reply_code: str | None, domain: str | None, include_unknown: bool, yes: bool) -> None:
    """Queue again the temporary failures of the last 24 hours (one group, or all).

    Messages that may have arrived (the connection broke after the message was handed
    over, or the worker stopped mid-exchange) are left alone unless --include-unknown is
    given and confirmed, as on /ops/failures.
    """
    from alerts.audit import CLI, record
    from alerts.ops.failures import resend_unknowns, retry_failures, unknowns
    from alerts.ops.status import RECENT
    from subscribers.database import utcnow

    settings = settings_from_env()
    with open_runtime(settings) as runtime, runtime.session() as session:
        now = utcnow()
        found = unknowns(session, since=now - RECENT)
        if include_unknown and found.count and not yes:
            click.confirm(
                f"{found.count} messages may already have reached their readers; sending them "
                "again may give those readers a second copy. Send them again?",
                abort=True,
            )
        retried = retry_failures(session, reply_code=reply_code, domain=domain,
                                 since=now - RECENT)  # fmt: skip
        resent: list[int] = []
        if include_unknown and found.newest_id is not None:
            resent = resend_unknowns(session, since=now - RECENT, up_to=found.newest_id)
        record(session, actor=CLI, action="deliveries.retry",
               target=f"failed/{reply_code or '*'}/{domain or '*'}",
               details={"rows": len(retried)}, now=now)  # fmt: skip
        if include_unknown:
            record(session, actor=CLI, action="deliveries.resend-unknown",
                   target=f"unknown/up-to/{found.newest_id}",
                   details={"rows": len(resent), "confirmed": True}, now=now)  # fmt: skip
        session.commit()
        _queue(runtime, session, retried + resent)
    console.print(f"{len(retried)} temporary failures queued again.")
    if include_unknown:
        console.print(f"{len(resent)} messages that may have arrived queued again.")
    elif found.count:
        console.print(
            f"{found.count} messages may have arrived and were not sent again "
            "(--include-unknown sends them, after you confirm)."
        )


def _queue(runtime: Runtime, session: Session, ids: list[int]) -> None:
    """Hand the rows to the workers, or send them here when there is no broker."""
    from alerts.jobs import send_queued_batch
    from alerts.ledger.queue import queue_rows

    if not ids:
        return
    settings = runtime.settings
    if settings.uses_celery:
        from alerts.tasks.publishing import batch_publisher

        with batch_publisher(settings) as publish:
            queue_rows(session, ids, batch_size=settings.batch_size, publish=publish)
        return
    for batch in queue_rows(session, ids, batch_size=settings.batch_size, publish=None):
        send_queued_batch(runtime, batch)
