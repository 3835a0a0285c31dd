"""Commands that run the job: the demo, migrations, ingestion, the servers, the benchmark."""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path

import click

from alerts.cli.common import (
    clear_errors,
    console,
    main,
    open_runtime,
    progress_bar,
    settings_from_env,
    throwaway_postgres,
)
from alerts.config import PROJECT_ROOT
from alerts.errors import AlertsError, ConfigError


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
    from alerts.demo.run import run_demo

    console.print("Running tasks in-process (the demo uses the embedded SQLite store).")
    with progress_bar() as progress:
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
        for problem in sent.relay_problems:
            console.print(f"  because:              {problem}", markup=False)
    rate = sent.sent / result.send_seconds if result.send_seconds else 0.0
    console.print(f"Time taken:             {result.seconds:.1f} s (sending {rate:,.0f} msg/s)")
    console.print(f"Store:                  {result.store / 'newsalerts.db'}")
    if result.outbox is not None:
        console.print(f"Outbox:                 {(result.outbox / 'index.html').resolve()}")
    else:
        console.print(f"Delivered to:           {', '.join(result.relays)}")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@clear_errors
def db_upgrade(revision: str) -> None:
    """Apply migrations (Alembic)."""
    from alerts.db import upgrade

    settings = settings_from_env()
    upgrade(settings.database_url, revision)
    console.print(f"Database is at revision {revision}.")


@main.command()
@click.argument("sources", nargs=-1, required=True)
@click.option("--timeout", default=10.0, show_default=True, help="Seconds per fetch, in all.")
@click.option("--base", default=None, metavar="URL",
              help="Resolve a file's relative links against this URL.")  # fmt: skip
@clear_errors
def ingest(sources: tuple[str, ...], timeout: float, base: str | None) -> None:
    """Ingest RSS 2.0, Atom or JSON Feed sources (URLs or files) now.

    Items that cannot be articles are skipped and counted by reason: "2 new, 0 updated,
    0 unchanged, 1 skipped: no link ×1"."""
    from alerts.audit import CLI, record
    from alerts.errors import FeedError
    from alerts.feeds.ingest import ingest_source, record_failure
    from subscribers.database import utcnow

    failures = 0
    with open_runtime() as runtime:
        for source in sources:
            with runtime.session() as session:
                try:
                    result = ingest_source(
                        session,
                        source,
                        now=utcnow(),
                        timeout=timeout,
                        allow_private=runtime.settings.feeds_allow_private,
                        base=base,
                        language=runtime.settings.default_language,
                    )
                except FeedError as error:
                    session.rollback()
                    record_failure(session, source.strip(), error.reason, now=utcnow())
                    session.commit()
                    click.echo(f"error: {error}", err=True)
                    failures += 1
                    continue
                record(session, actor=CLI, action="feed.ingested", target=source.strip(),
                       details={"result": result.describe()}, now=utcnow())  # fmt: skip
                session.commit()
                console.print(result.describe(), markup=False)
    if failures:
        sys.exit(1)


@main.group(invoke_without_command=True)
@click.option("--readers", default=100_000, show_default=True, type=click.IntRange(1))
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64))
@throwaway_postgres
@click.option("--redis", "redis_url", default="redis://127.0.0.1:6379/12", show_default=True)
@click.option(
    "--languages",
    default="en",
    show_default=True,
    help="Readers' languages, comma-separated (en,de,fr,es,ar), handed out round-robin.",
)
@click.pass_context
@clear_errors
def bench(
    context: click.Context,
    readers: int,
    workers: int,
    admin_url: str,
    redis_url: str,
    languages: str,
) -> None:
    """Measure the whole send on PostgreSQL, Redis, real workers and Postfix's smtp-sink
    (`newsalerts bench --readers N`), or one part (`newsalerts bench import`, `bench readers`,
    `bench keywords`)."""
    if context.invoked_subcommand is not None:
        return  # the options above are the send's; a part has its own
    from alerts.config import normalise_database_url
    from alerts.ops.bench import parse_languages, run_bench

    result = run_bench(
        languages=parse_languages(languages),
        readers=readers,
        workers=workers,
        admin_url=normalise_database_url(admin_url),
        redis_url=redis_url,
        say=console.print,
    )
    for line in result.lines():
        console.print(line, markup=False)


@bench.command("keywords")
@click.option("--readers", default=1_000_000, show_default=True, type=click.IntRange(1))
@throwaway_postgres
@click.option("--sqlite", is_flag=True, help="Measure on a SQLite file instead.")
@clear_errors
def bench_keywords(readers: int, admin_url: str, sqlite: bool) -> None:
    """Match 1,000 new articles against READERS readers' keywords (3 each)."""
    from alerts.config import normalise_database_url
    from alerts.ops.keyword_bench import run_keyword_bench

    result = run_keyword_bench(
        readers=readers,
        admin_url=None if sqlite else normalise_database_url(admin_url),
        say=console.print,
    )
    for line in result.lines():
        console.print(line, markup=False)


# How waitress bounds slow and idle clients (a reverse proxy in front bounds them first; see
# deploy/nginx.conf). A connection waiting for its request costs no thread, only a socket:
# waitress's default of 100 let 100 sockets dribbling partial headers lock every visitor out.
# Open connections are watched with poll(), which has no 1024-descriptor ceiling as select()
# has; one silent for channel_timeout seconds is closed (checked every cleanup_interval).
# Bodies above the app's own limit (64 KiB) are refused before they are read in full.
WEB_SERVER_LIMITS: dict[str, int | bool] = {
    "connection_limit": 1000,
    "asyncore_use_poll": True,
    "channel_timeout": 30,
    "cleanup_interval": 5,
    "max_request_header_size": 64 * 1024,
    "max_request_body_size": 1024 * 1024,
}


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 64))
@clear_errors
def web(host: str, port: int, threads: int) -> None:
    """Run the web app (sign-up, confirm, preferences, unsubscribe) with waitress."""
    from waitress import serve

    from alerts.logs import configure_logging
    from alerts.web.app import create_app

    settings = settings_from_env()
    if settings.environment != "production" and not _is_loopback(host):
        # Development signs sessions and links with a secret anyone can read in the source:
        # served to the network, anyone could forge a staff session or a reader's link.
        raise ConfigError(
            f"--host {host} serves the network, and development mode signs with a public "
            "secret: set NEWSALERTS_ENV=production and a SECRET_KEY, or use --host 127.0.0.1"
        )
    configure_logging(settings)
    app = create_app(settings)
    console.print(f"Serving on http://{host}:{port} (Ctrl+C to stop)")
    serve(app, host=host, port=port, threads=threads, ident="newsalerts", **WEB_SERVER_LIMITS)


def _is_loopback(host: str) -> bool:
    """Whether listening on `host` keeps the server to this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # another name: it may resolve to any interface


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
@clear_errors
def worker(context: click.Context) -> None:
    """Run a Celery worker (extra options go to `celery worker`).

    It takes all three queues, urgent work (alerts, sign-up emails) first and feed polling
    last; `-Q newsalerts.urgent` makes a worker for urgent work only, `-Q newsalerts.feeds`
    one for polling only."""
    _exec_celery("worker", context.args)


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.pass_context
@clear_errors
def beat(context: click.Context) -> None:
    """Run the scheduler: one tick a minute plans and queues due digests. Run exactly one.

    Extra options go to `celery beat`, e.g. `--schedule PATH` for the file where it keeps
    each entry's last run (default: celerybeat-schedule in the working directory)."""
    _exec_celery("beat", context.args)


def _exec_celery(command: str, extra: list[str]) -> None:
    settings = settings_from_env()
    if not settings.uses_celery:
        raise AlertsError("REDIS_URL is not set: workers and the scheduler need a Redis broker")
    arguments = ["celery", "-A", "worker", command, "--loglevel", "INFO", *extra]
    root = str(PROJECT_ROOT)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    os.execvp(sys.executable, [sys.executable, "-m", *arguments])


if __name__ == "__main__":
    main()
