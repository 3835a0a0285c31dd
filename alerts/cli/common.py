"""What every command shares: the group, the console, one-line errors, settings, runtime."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import TYPE_CHECKING, ParamSpec, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from alerts.config import Settings, load_settings
from alerts.errors import AlertsError
from subscribers.errors import SubscribersError

if TYPE_CHECKING:
    from alerts.runtime import Runtime

P = ParamSpec("P")
R = TypeVar("R")

console = Console(highlight=False, soft_wrap=True)
# Every error of both trees (alerts.errors, subscribers.errors) is answered the same way:
# "error: <message>" on stderr and this exit status. A command that expects one of them
# and does something else (ingest reports a feed's error and goes on) catches it itself.
OWN_ERRORS = (AlertsError, SubscribersError)
ERROR_EXIT_STATUS = 1


def clear_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn our own errors into one line on stderr and exit status 1, never a traceback."""

    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except OWN_ERRORS as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(ERROR_EXIT_STATUS)

    return wrapper


def settings_from_env() -> Settings:
    return load_settings()


@contextmanager
def open_runtime(
    settings: Settings | None = None, *, check_database: bool = True
) -> Iterator[Runtime]:
    """The runtime of `settings` (by default the environment's), closed when the block
    ends, however it ends; refused with a clear error when its database is unreachable
    or not at this version's schema (alerts.db.check_schema)."""
    from alerts.db import check_schema
    from alerts.runtime import Runtime

    runtime = Runtime.from_settings(settings if settings is not None else settings_from_env())
    try:
        if check_database:
            check_schema(runtime.engine)
    except BaseException:
        runtime.close()
        raise
    try:
        yield runtime
    finally:
        runtime.close()


def progress_bar() -> Progress:
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
    # Tables are as wide as COLUMNS says when the command runs (a pipe into a log or a
    # pager), not as it said when the console was made at import.
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        console.width = int(columns)


# The server a bench creates its throw-away database on (`newsalerts bench` and its parts).
throwaway_postgres = click.option(
    "--postgres",
    "admin_url",
    default="postgresql://postgres@127.0.0.1:5432/postgres",
    show_default=True,
    help="A server where a throw-away database can be created.",
)
