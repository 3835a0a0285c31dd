"""Row ids in what a visitor sends: a path part, a query parameter, a JSON field.

Every table's id is a 32-bit integer column, so an id above 2**31 - 1 names no row; sent
to PostgreSQL it is not "no row" but an error ("integer out of range"). Every id a
request carries goes through subscribers.database.MAX_ROW_ID, the one bound every
layer checks against, before it reaches a query: in a path as
`<id:name>` (RowIdConverter, registered by alerts.web.app, answers 404 for anything
else), in a query string or a JSON body through `row_id`.
"""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter, Map

from subscribers.database import MAX_ROW_ID


class RowIdConverter(IntegerConverter):
    """`<id:name>`: a row id, 1 to MAX_ROW_ID; any other path part is not a route (404)."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        super().__init__(url_map, min=1, max=MAX_ROW_ID)


def row_id(value: object) -> int | None:
    """`value` as a row id: an int (not a bool) or a string of ASCII digits, from 1 to
    MAX_ROW_ID; None for anything else."""
    if isinstance(value, str):
        if not (value.isascii() and value.isdigit()) or len(value) > 10:
            return None
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 1 <= value <= MAX_ROW_ID else None
