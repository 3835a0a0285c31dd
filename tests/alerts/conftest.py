"""Fixtures for the alerts tests that more than one module uses."""

from tests.support.feed_server import feed_server

__all__ = ["feed_server"]
