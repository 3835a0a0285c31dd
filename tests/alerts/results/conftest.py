"""Fixtures for the results tests. Each module builds its own `runtime` (its settings differ);
`db` opens a session on that runtime's database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from alerts.db import make_session_factory
from alerts.runtime import Runtime


@pytest.fixture
def db(runtime: Runtime) -> Iterator[Session]:
    """A session on the database of the module's `runtime`, for arranging and checking."""
    with make_session_factory(runtime.engine)() as session:
        yield session
