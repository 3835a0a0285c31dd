"""Commands about readers: import (and its benchmark), export, erase, and bounce processing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from alerts.cli.common import (
    clear_errors,
    console,
    main,
    open_runtime,
    settings_from_env,
    throwaway_postgres,
)
from alerts.cli.processes import bench


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
@click.option(
    "--start-tomorrow",
    is_flag=True,
    help="Pause the readers this import creates until the next midnight in DEFAULT_TIMEZONE, "
    "so that none whose hour has passed gets today's digest at once.",
)
@click.option(
    "--writers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 8),
    help="Connections that write chunks at once on PostgreSQL, each committing its own "
    "(1: one connection; SQLite always takes one).",
)
@clear_errors
def subscribers_import(file: Any, confirmed: bool, start_tomorrow: bool, writers: int) -> None:
    """Import readers from CSV: email,name,topics,frequency,timezone,hour.

    Each chunk of rows is committed as it is written (on PostgreSQL by two connections at
    once): after a crash, run the same file again; the readers already stored are skipped,
    nobody is added twice.
    """
    from alerts.audit import CLI, record
    from alerts.desk.imports import import_readers, next_midnight
    from subscribers.csv_io import ImportReport
    from subscribers.database import utcnow
    from subscribers.errors import CsvFormatError

    settings = settings_from_env()
    stored = ImportReport()
    target = f"file:{Path(file.name).name}"
    now = utcnow()
    with open_runtime(settings) as runtime, runtime.session() as session:

        def commit(so_far: ImportReport) -> None:
            session.commit()
            stored.created, stored.skipped = so_far.created, so_far.skipped

        try:
            report = import_readers(
                session, file, confirmed=confirmed, start_tomorrow=start_tomorrow,
                hash_key=settings.secret_key, timezone=settings.default_timezone, actor=CLI,
                now=now, after_chunk=commit, keyword_limit=settings.keywords_per_reader,
                action="subscribers.import", target=target, writers=writers,
                writer_sessions=runtime.sessions if writers > 1 else None,
            )  # fmt: skip
        except CsvFormatError as refused:
            session.rollback()
            details = {"created": stored.created, "confirmed": confirmed, "error": str(refused)}
            record(session, actor=CLI, action="subscribers.import", target=target,
                   details=details, now=utcnow())  # fmt: skip
            session.commit()
            if stored.created:
                click.echo(
                    f"{stored.created} readers before the error were imported and kept; "
                    "once the file is fixed, import it again: they will be skipped.",
                    err=True,
                )
            raise
        session.commit()
    for error in report.errors:
        click.echo(str(error), err=True)
    state = "active" if confirmed else "pending confirmation"
    if start_tomorrow and report.created:
        resumes = next_midnight(now, settings.default_timezone)
        state += f", from {resumes:%Y-%m-%d %H:%M} {settings.default_timezone}"
    console.print(
        f"{report.created} imported ({state}), {report.skipped} skipped, "
        f"{len(report.errors)} with errors."
    )
    if report.errors:
        sys.exit(2)


@click.command("import")
@click.option("--rows", default=100_000, show_default=True, type=click.IntRange(1))
@throwaway_postgres
@click.option("--sqlite", is_flag=True, help="Measure on a SQLite file instead.")
@click.option(
    "--writers",
    default=2,
    show_default=True,
    type=click.IntRange(1, 8),
    help="The import's --writers: connections writing at once on PostgreSQL.",
)
@clear_errors
def bench_import(rows: int, admin_url: str, sqlite: bool, writers: int) -> None:
    """Measure `subscribers import` on a generated list of ROWS readers, twice
    (also `newsalerts bench-import`, its former name)."""
    from alerts.config import normalise_database_url
    from alerts.ops.import_bench import run_import_bench

    result = run_import_bench(
        rows=rows,
        admin_url=None if sqlite else normalise_database_url(admin_url),
        say=console.print,
        writers=writers,
    )
    for line in result.lines():
        console.print(line, markup=False)


bench.add_command(bench_import)
main.add_command(bench_import, name="bench-import")  # the name it had before `bench import`


@click.command("readers")
@click.option("--readers", default=1_000_000, show_default=True, type=click.IntRange(1))
@throwaway_postgres
@clear_errors
def bench_readers(readers: int, admin_url: str) -> None:
    """Time one page of the desk's reader list among READERS readers, by kind of page
    (also `newsalerts bench-readers`)."""
    from alerts.config import normalise_database_url
    from alerts.ops.reader_list_bench import run_reader_list_bench

    timings = run_reader_list_bench(
        admin_url=normalise_database_url(admin_url), readers=readers, say=console.print
    )
    for timing in timings:
        console.print(
            f"{timing.label:<34} {timing.rows:>3} rows  median {timing.median_ms:7.1f} ms"
            f"  slowest {timing.slowest_ms:7.1f} ms",
            markup=False,
        )


bench.add_command(bench_readers)
main.add_command(bench_readers, name="bench-readers")


@subscribers.command("export")
@clear_errors
def subscribers_export() -> None:
    """Write every reader as CSV to standard output."""
    from subscribers.csv_io import export_csv

    with open_runtime() as runtime, runtime.session() as session:
        export_csv(session, sys.stdout)


@subscribers.command("erase")
@click.argument("email")
@clear_errors
def subscribers_erase(email: str) -> None:
    """Delete a reader's personal data; keep only a keyed hash so they are never mailed."""
    from alerts.audit import CLI, record
    from subscribers.database import utcnow
    from subscribers.lifecycle import erase
    from subscribers.services import Origin, find_subscriber, suppress

    settings = settings_from_env()
    with open_runtime(settings) as runtime, runtime.session() as session:
        subscriber = find_subscriber(session, email)
        # The log keeps no address of an erased reader: their id, or nothing.
        if subscriber is None:
            # Nothing stored: still make sure the address is never mailed.
            suppress(session, email, reason="erased", hash_key=settings.secret_key)
            outcome = "No reader with that address; it is now on the suppression list."
            target = None
        else:
            target = f"subscriber:{subscriber.id}"
            erase(session, subscriber, hash_key=settings.secret_key, origin=Origin("cli"))
            outcome = "Erased; only a keyed hash remains, on the suppression list."
        record(session, actor=CLI, action="subscriber.erased", target=target, now=utcnow())
        session.commit()
    console.print(outcome)


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
    from alerts.audit import CLI, record
    from alerts.feedback import process_messages, read_messages, summarise
    from subscribers.database import utcnow

    settings = settings_from_env()
    with open_runtime(settings) as runtime, runtime.session() as session:
        processed = process_messages(
            session,
            read_messages(source, stdin=sys.stdin.buffer),
            secret=settings.secret_key,
            now=utcnow(),
            envelope_recipient=recipient,
        )
        counts = {outcome.value: n for outcome, n in summarise(processed).items() if n}
        record(session, actor=CLI, action="bounces.process",
               target="stdin" if source == "-" else f"file:{Path(source).name}",
               details=counts, now=utcnow())  # fmt: skip
        session.commit()
    if verbose:
        for item in processed:
            console.print(
                f"{item.label}: {item.result.outcome.value} ({item.result.reason})", markup=False
            )
    console.print(
        ", ".join(f"{n} {o.value}" for o, n in summarise(processed).items()) or "no messages",
        markup=False,
    )
