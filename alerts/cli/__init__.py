"""The `newsalerts` command: thin adapters that parse options, call one function, print."""

from alerts.cli import (  # noqa: F401  (register the commands)
    api,
    audit,
    digests,
    feeds,
    ledger,
    ops,
    processes,
    readers,
    users,
)
from alerts.cli.common import main

__all__ = ["main"]
