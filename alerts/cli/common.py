"""What every command shares: the group, the console, one-line errors, settings."""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from alerts.config import Settings, load_settings
from alerts.errors import AlertsError
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
        except (AlertsError, SubscribersError) as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(1)

    return wrapper


def settings_from_env() -> Settings:
    return load_settings()


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
