"""Writing many ledger rows at once, skipping keys another planner wrote first, and the
selections (lists of articles) they share.

On PostgreSQL the rows go as one array per column through `unnest`: a statement with a
dozen parameters whatever the number of rows. A multi-row VALUES list of 1,000 rows has
11,000 parameters, and the driver parsed that statement afresh for every chunk: 40 % of
the planner's time at 100,000 readers. SQLite takes the multi-row INSERT.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import insert, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from alerts.models import Delivery, DeliveryStatus, Selection

Row = dict[str, Any]
CHUNK = 5000
SQLITE_CHUNK = 1000

# PostgreSQL's type for each column a planner writes, as an array element.
_ELEMENT_TYPES = {
    "edition": "text",
    "issue_id": "integer",
    "alert_id": "integer",
    "subscriber_id": "integer",
    "local_date": "date",
    "status": "text",
    "selection_id": "integer",
    "attempts": "integer",
    "next_attempt_at": "timestamptz",
    "created_at": "timestamptz",
}


def add_selections(session: Session, lists: Sequence[tuple[date, Sequence[int]]]) -> list[int]:
    """Write one selection per (local date, article ids); their ids, in the same order.
    A planner writes one per distinct list, before the rows that name it."""
    if not lists:
        return []
    return list(
        session.scalars(
            insert(Selection).returning(Selection.id, sort_by_parameter_order=True),
            [{"local_date": day, "article_ids": list(ids)} for day, ids in lists],
        )
    )


def insert_ignoring_conflicts(
    session: Session, rows: Sequence[Row]
) -> list[tuple[int, DeliveryStatus]]:
    """Insert ledger rows, skipping keys another planner wrote first; return what went in.

    Every row must name the same columns."""
    if not rows:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return _insert_unnested(session, rows)
    return _insert_values(session, rows)


def _insert_unnested(session: Session, rows: Sequence[Row]) -> list[tuple[int, DeliveryStatus]]:
    names = list(rows[0])
    arrays = ", ".join(f"CAST(:{name} AS {_ELEMENT_TYPES[name]}[])" for name in names)
    statement = text(
        f"INSERT INTO deliveries ({', '.join(names)}) SELECT * FROM unnest({arrays}) "
        "ON CONFLICT (subscriber_id, local_date, edition) DO NOTHING RETURNING id, status"
    )
    inserted: list[tuple[int, DeliveryStatus]] = []
    for offset in range(0, len(rows), CHUNK):
        chunk = rows[offset : offset + CHUNK]
        columns = {name: [_element(row[name]) for row in chunk] for name in names}
        inserted.extend(
            (delivery_id, DeliveryStatus(status))
            for delivery_id, status in session.execute(statement, columns)
        )
    return inserted


def _element(value: object) -> object:
    if isinstance(value, enum.Enum):
        return value.value
    return value


def _insert_values(session: Session, rows: Sequence[Row]) -> list[tuple[int, DeliveryStatus]]:
    statement = (
        sqlite.insert(Delivery)
        .on_conflict_do_nothing(index_elements=["subscriber_id", "local_date", "edition"])
        .returning(Delivery.id, Delivery.status)
    )
    inserted: list[tuple[int, DeliveryStatus]] = []
    for offset in range(0, len(rows), SQLITE_CHUNK):
        inserted.extend(
            (delivery_id, status)
            for delivery_id, status in session.execute(
                statement, list(rows[offset : offset + SQLITE_CHUNK])
            )
        )
    return inserted
