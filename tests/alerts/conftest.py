"""Fixtures for the alerts tests that more than one module uses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.feed_server import feed_server
from tests.support.redis_server import RedisServer

__all__ = ["feed_server", "private_redis"]


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, on its own port and without persistence: the test
    may kill or restart it, and no other test run shares or flushes its queues."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()
