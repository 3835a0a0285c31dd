"""The `newsalerts` command: thin adapters that parse options, call one function, print."""

from alerts.cli import api, digests, jobs, ops, readers, users  # noqa: F401  (register the commands)
from alerts.cli.common import main

__all__ = ["main"]
