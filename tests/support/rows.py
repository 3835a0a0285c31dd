"""Reading what a test's database holds, with plain queries rather than the product's code."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session


def count_rows(session: Session, model: type[object]) -> int:
    """How many rows of `model` the session's database holds."""
    return int(session.scalar(select(func.count()).select_from(model)) or 0)
