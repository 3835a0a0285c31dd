"""Fixtures for the command-line tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def env(database_url: str) -> dict[str, str]:
    """The environment of an administrator's command against the test's database (each
    backend). Modules whose commands send mail or read feeds build a fuller one of their own."""
    return {"DATABASE_URL": database_url, "REDIS_URL": "", "PASSWORD_HASH_COST": "fast"}
