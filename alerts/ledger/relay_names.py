"""Relays by number: a ledger row names the relay of its last attempt with a 2-byte number
from `relays` instead of the relay's ~25-character name.

A name gets its number the first time a row is written with it (`register_relays`, an
insert that skips names already there, so two workers meeting a new relay at once both
go on), and keeps it: nothing deletes or renames a relay. The statements that write
outcomes turn a name into its number inside the database (`relay_number`), so the send
path never holds a table of numbers that a restored or emptied database could make wrong.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, select, text
from sqlalchemy.orm import Session

from alerts.models import Relay

# The same on both backends (SQLite needs the WHERE to read ON CONFLICT as the insert's).
_REGISTER = text(
    "INSERT INTO relays (name) SELECT CAST(:name AS VARCHAR(255)) "
    "WHERE NOT EXISTS (SELECT 1 FROM relays WHERE name = CAST(:name AS VARCHAR(255))) "
    "ON CONFLICT DO NOTHING"
)


def register_relays(session: Session, names: Iterable[str | None]) -> None:
    """Give each relay name a number if it has none yet. Does not commit.

    Only a name without a number is inserted: on PostgreSQL an insert that meets a
    conflict still draws a number from the sequence, and a 2-byte sequence drawn at every
    write would run out."""
    for name in sorted({name for name in names if name}):
        session.execute(_REGISTER, {"name": name})


def relay_number(name: ColumnElement[str | None]) -> ColumnElement[int | None]:
    """The number of the relay named `name` (a bound parameter or a column), as SQL; NULL
    for no name."""
    return select(Relay.id).where(Relay.name == name).scalar_subquery()


def relay_id(session: Session, name: str) -> int:
    """The number of a relay's name, given one first if it has none. Does not commit."""
    register_relays(session, [name])
    number = session.scalar(select(Relay.id).where(Relay.name == name))
    assert number is not None
    return number
