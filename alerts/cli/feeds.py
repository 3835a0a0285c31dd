"""Commands for the feed sources the scheduler polls."""

from __future__ import annotations

import click

from alerts.cli.common import clear_errors, console, main, open_runtime


@main.group()
def feeds() -> None:
    """Feed sources polled by `newsalerts beat` on their own interval."""


@feeds.command("add")
@click.argument("url")
@click.option("--every", "minutes", type=int, default=15, show_default=True,
              help="Minutes between fetches (conditional GET).")  # fmt: skip
@clear_errors
def feeds_add(url: str, minutes: int) -> None:
    """Poll a feed URL every N minutes (or change its interval)."""
    _set_polling(url, minutes)
    console.print(f"Polling {url} every {minutes} minutes.", markup=False)


@feeds.command("remove")
@click.argument("url")
@clear_errors
def feeds_remove(url: str) -> None:
    """Stop polling a feed URL (its articles stay)."""
    _set_polling(url, None)
    console.print(f"No longer polling {url}.", markup=False)


def _set_polling(url: str, minutes: int | None) -> None:
    from alerts.audit import CLI, record
    from alerts.feeds.polling import remove_source, set_polling
    from subscribers.database import utcnow

    with open_runtime() as runtime, runtime.session() as session:
        now = utcnow()
        if minutes is None:  # removed, it leaves the list; its articles stay
            remove_source(session, url=url)
        else:
            set_polling(session, url=url, minutes=minutes, now=now)
        action, details = (
            ("feed.removed", None) if minutes is None else ("feed.added", {"every": minutes})
        )
        record(session, actor=CLI, action=action, target=url, details=details, now=now)
        session.commit()


@feeds.command("list")
@clear_errors
def feeds_list() -> None:
    """Every known feed source, its interval and its last fetch; then what the last fetch
    skipped, or why it failed."""
    from rich.table import Table

    from alerts.feeds.polling import feed_sources

    table = Table("every (min)", "last fetched", "last status")
    table.add_column("URL", overflow="fold")  # a URL is never cut short
    problems = []
    with open_runtime() as runtime, runtime.session() as session:
        for source in feed_sources(session):
            fetched = source.last_fetched_at
            table.add_row(
                str(source.poll_minutes or "—"),
                f"{fetched:%Y-%m-%d %H:%M} UTC" if fetched else "never",
                source.last_status or "—",
                source.url,
            )
            if source.last_status == "error" and source.last_error:
                problems.append(f"{source.url}: error: {source.last_error}")
            elif source.last_skips:
                problems.append(f"{source.url}: skipped {source.last_skips}")
    console.print(table)
    for line in problems:  # below the table, whole: a reason is never folded into a cell
        console.print(line, markup=False, soft_wrap=True)
