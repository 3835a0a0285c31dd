"""The `newsalerts` command: thin adapters that parse options, call one function, print."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from alerts.config import Settings, load_settings
from alerts.errors import AlertsError
from alerts.outbox import OutboxError
from subscribers.errors import SubscribersError

P = ParamSpec("P")
R = TypeVar("R")

console = Console(highlight=False, soft_wrap=True)


def clear_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn our own errors into one line on stderr and exit status 1, never a traceback."""

    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except (AlertsError, SubscribersError, OutboxError) as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(1)

    return wrapper


def _settings() -> Settings:
    return load_settings()


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


@click.group()
@click.version_option(package_name="newsalerts")
def main() -> None:
    """newsalerts — daily email digests of a news site's new articles."""


@main.command()
@click.option(
    "--readers",
    default=200,
    show_default=True,
    type=click.IntRange(1, 1_000_000),
    help="Number of sample readers to create.",
)
@click.option(
    "--out",
    default="outbox",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Folder for the .eml files and index.html.",
)
@click.option(
    "--smtp",
    "smtp_url",
    default=None,
    metavar="URL",
    help="Deliver to this SMTP server (smtp://host:port) instead of the outbox.",
)
@clear_errors
def demo(readers: int, out: Path, smtp_url: str | None) -> None:
    """Run the whole job on a fresh SQLite store with the bundled sample feed."""
    from alerts.demo import run_demo

    console.print("Running tasks in-process (the demo uses the embedded SQLite store).")
    with _progress() as progress:
        task = progress.add_task("Sending digests", total=None)
        result = run_demo(
            readers=readers,
            out=out,
            smtp_url=smtp_url,
            on_planned=lambda total: progress.update(task, total=total),
            on_message=lambda: progress.advance(task),
        )
    sent = result.delivery
    console.print(f"Articles ingested:      {result.articles}")
    console.print(f"Readers:                {result.readers}")
    console.print(f"Digests sent:           {sent.sent}")
    console.print(f"Skipped, nothing new:   {result.skipped_empty}")
    if sent.failed or sent.retrying:
        console.print(f"Failed / to retry:      {sent.failed} / {sent.retrying}")
    rate = sent.sent / result.send_seconds if result.send_seconds else 0.0
    console.print(f"Time taken:             {result.seconds:.1f} s (sending {rate:,.0f} msg/s)")
    console.print(f"Store:                  {result.store / 'newsalerts.db'}")
    if result.outbox is not None:
        console.print(f"Outbox:                 {(result.outbox / 'index.html').resolve()}")
    else:
        console.print(f"Delivered to:           {smtp_url}")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@clear_errors
def db_upgrade(revision: str) -> None:
    """Apply migrations (Alembic)."""
    from alerts.db import upgrade

    settings = _settings()
    upgrade(settings.database_url, revision)
    console.print(f"Database is at revision {revision}.")


@main.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--timeout", default=10.0, show_default=True, help="Seconds per fetch.")
@clear_errors
def ingest(sources: tuple[str, ...], timeout: float) -> None:
    """Ingest RSS 2.0, Atom or JSON Feed sources (URLs or files) now."""
    from alerts.errors import FeedError
    from alerts.ingest import ingest_source
    from alerts.runtime import Runtime
    from subscribers.database import utcnow

    runtime = Runtime.from_settings(_settings())
    failures = 0
    try:
        for source in sources:
            with runtime.session() as session:
                try:
                    result = ingest_source(session, source, now=utcnow(), timeout=timeout)
                except FeedError as error:
                    session.rollback()
                    click.echo(f"error: {error}", err=True)
                    failures += 1
                    continue
                session.commit()
                console.print(result.describe(), markup=False)
    finally:
        runtime.close()
    if failures:
        sys.exit(1)


@main.group()
def subscribers() -> None:
    """Import and export readers."""


@subscribers.command("import")
@click.argument("file", type=click.File("r", encoding="utf-8-sig"))
@click.option(
    "--confirmed",
    is_flag=True,
    help="The rows are readers who already consented: make them active at once.",
)
@clear_errors
def subscribers_import(file: Any, confirmed: bool) -> None:
    """Import readers from CSV: email,name,topics,frequency,timezone,hour."""
    from alerts.runtime import Runtime
    from subscribers.csv_io import import_csv

    settings = _settings()
    runtime = Runtime.from_settings(settings)
    try:
        with runtime.session() as session:
            report = import_csv(session, file, confirmed=confirmed, hash_key=settings.secret_key)
            session.commit()
    finally:
        runtime.close()
    for error in report.errors:
        click.echo(str(error), err=True)
    state = "active" if confirmed else "pending confirmation"
    console.print(
        f"{report.created} imported ({state}), {report.skipped} skipped, "
        f"{len(report.errors)} with errors."
    )
    if report.errors:
        sys.exit(2)


@subscribers.command("export")
@clear_errors
def subscribers_export() -> None:
    """Write every reader as CSV to standard output."""
    from alerts.runtime import Runtime
    from subscribers.csv_io import export_csv

    runtime = Runtime.from_settings(_settings())
    try:
        with runtime.session() as session:
            export_csv(session, sys.stdout)
    finally:
        runtime.close()


@subscribers.command("erase")
@click.argument("email")
@clear_errors
def subscribers_erase(email: str) -> None:
    """Delete a reader's personal data; keep only a keyed hash so they are never mailed."""
    from alerts.runtime import Runtime
    from subscribers.lifecycle import erase
    from subscribers.services import Origin, find_subscriber, suppress

    settings = _settings()
    runtime = Runtime.from_settings(settings)
    try:
        with runtime.session() as session:
            subscriber = find_subscriber(session, email)
            if subscriber is None:
                # Nothing stored: still make sure the address is never mailed.
                suppress(session, email, reason="erased", hash_key=settings.secret_key)
                outcome = "No reader with that address; it is now on the suppression list."
            else:
                erase(session, subscriber, hash_key=settings.secret_key, origin=Origin("cli"))
                outcome = "Erased; only a keyed hash remains, on the suppression list."
            session.commit()
    finally:
        runtime.close()
    console.print(outcome)


@main.group()
def digest() -> None:
    """Plan and send digests."""


@digest.command("send")
@click.option(
    "--now",
    "force",
    is_flag=True,
    help="Send to every eligible reader now, whatever their chosen hour.",
)
@clear_errors
def digest_send(force: bool) -> None:
    """Send today's due digests (once per reader and local date, however often it runs)."""
    from alerts.delivery import BatchResult
    from alerts.jobs import plan_and_queue, send_queued_batch
    from alerts.runtime import Runtime
    from subscribers.database import utcnow

    settings = _settings()
    runtime = Runtime.from_settings(settings)
    try:
        if settings.uses_celery:
            from alerts.dispatch import batch_publisher

            with batch_publisher(settings) as publish:
                run = plan_and_queue(runtime, now=utcnow(), force=force, publish=publish)
            _say_planned(run)
            console.print(f"Queued {len(run.batches)} batches for the Celery workers.")
            return
        run = plan_and_queue(runtime, now=utcnow(), force=force)
        _say_planned(run)
        console.print("REDIS_URL is not set: running tasks in-process.")
        result = BatchResult()
        with _progress() as progress:
            task = progress.add_task("Sending digests", total=run.queued)
            for batch in run.batches:
                result.add(
                    send_queued_batch(runtime, batch, on_message=lambda: progress.advance(task))
                )
    finally:
        runtime.close()
    console.print(
        f"{result.sent} sent, {result.failed} failed, {result.retrying} to retry, "
        f"{result.not_mailable} no longer subscribed."
    )
    if result.failed:
        sys.exit(1)


def _say_planned(run: Any) -> None:
    plan = run.plan
    console.print(
        f"{plan.planned} digests planned, {plan.skipped_empty} skipped (nothing new); "
        f"{run.queued} messages to send."
    )


@digest.command("preview")
@click.option("--email", "address", default=None, help="Preview as this reader would see it.")
@click.option(
    "--html",
    "html_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write the HTML part to this file.",
)
@clear_errors
def digest_preview(address: str | None, html_file: Path | None) -> None:
    """Show the digest a reader would get now, without sending or recording anything."""
    from alerts.preview import preview_digest
    from alerts.runtime import Runtime

    runtime = Runtime.from_settings(_settings())
    try:
        with runtime.session() as session:
            preview = preview_digest(session, runtime=runtime, email=address)
    finally:
        runtime.close()
    if preview is None:
        console.print("Nothing new for this reader: no digest would be sent.")
        return
    console.print(f"To: {preview.recipient}\nSubject: {preview.email.subject}\n", markup=False)
    console.print(preview.email.text, markup=False)
    if html_file is not None:
        html_file.write_text(preview.email.html, encoding="utf-8")
        console.print(f"HTML part written to {html_file}")


@main.command()
@click.option("--readers", default=100_000, show_default=True, type=click.IntRange(1))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option(
    "--postgres",
    "admin_url",
    default="postgresql://postgres@127.0.0.1:5432/postgres",
    show_default=True,
    help="A server where a throw-away database can be created.",
)
@click.option("--redis", "redis_url", default="redis://127.0.0.1:6379/12", show_default=True)
@clear_errors
def bench(readers: int, workers: int, admin_url: str, redis_url: str) -> None:
    """Measure the whole send on PostgreSQL, Redis, real workers and Postfix's smtp-sink."""
    from alerts.bench import run_bench
    from alerts.config import normalise_database_url

    result = run_bench(
        readers=readers,
        workers=workers,
        admin_url=normalise_database_url(admin_url),
        redis_url=redis_url,
        say=console.print,
    )
    for line in result.lines():
        console.print(line, markup=False)


@main.group()
def bounces() -> None:
    """Bounces and complaints: suppress addresses that must not be mailed again."""


@bounces.command("process")
@click.argument("source", default="-")
@click.option(
    "--recipient", default=None, help="Envelope recipient given by the MTA (Postfix: ${recipient})."
)
@click.option("--verbose", "-v", is_flag=True, help="One line per message.")
@clear_errors
def bounces_process(source: str, recipient: str | None, verbose: bool) -> None:
    """Read DSN/ARF emails from SOURCE: '-' (stdin), an .eml or mbox file, or a Maildir."""
    from alerts.feedback import process_messages, read_messages, summarise
    from alerts.runtime import Runtime
    from subscribers.database import utcnow

    settings = _settings()
    runtime = Runtime.from_settings(settings)
    try:
        with runtime.session() as session:
            processed = process_messages(
                session,
                read_messages(source, stdin=sys.stdin.buffer),
                secret=settings.secret_key,
                now=utcnow(),
                envelope_recipient=recipient,
            )
    finally:
        runtime.close()
    if verbose:
        for item in processed:
            console.print(
                f"{item.label}: {item.result.outcome.value} ({item.result.reason})", markup=False
            )
    console.print(
        ", ".join(f"{n} {o.value}" for o, n in summarise(processed).items()) or "no messages",
        markup=False,
    )


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

    runtime = Runtime.from_settings(_settings())
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


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64))
@clear_errors
def web(host: str, port: int, threads: int) -> None:
    """Run the web app (sign-up, confirm, preferences, unsubscribe) with waitress."""
    from waitress import serve

    from alerts.web.app import create_app

    app = create_app(_settings())
    console.print(f"Serving on http://{host}:{port} (Ctrl+C to stop)")
    serve(app, host=host, port=port, threads=threads, ident="newsalerts")


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
@clear_errors
def worker(context: click.Context) -> None:
    """Run a Celery worker (extra options go to `celery worker`)."""
    _exec_celery("worker", context.args)


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
@clear_errors
def beat(context: click.Context) -> None:
    """Run the scheduler: one tick a minute plans and queues due digests. Run exactly one."""
    _exec_celery("beat", context.args)


def _exec_celery(command: str, extra: list[str]) -> None:
    settings = _settings()
    if not settings.uses_celery:
        raise AlertsError("REDIS_URL is not set: workers and the scheduler need a Redis broker")
    arguments = ["celery", "-A", "worker", command, "--loglevel", "INFO", *extra]
    root = str(Path(__file__).resolve().parent.parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    os.execvp(sys.executable, [sys.executable, "-m", *arguments])


if __name__ == "__main__":
    main()
