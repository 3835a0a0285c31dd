"""Ledgers of any size written in SQL (generate_series), for the migration and size tests.

`fill_0014` writes the schema as it was before revision 0015 (a JSON list of articles and a
window per row); `fill_current` the schema of today, rows sharing selections. Both write
the same invented sends: `readers` readers of one daily edition (example.com addresses),
one issue a day, each reader's row of the day in a scattered order (as a planner writes
them, by topic mix rather than by reader), forty topic mixes, ten articles a digest; a
sent row carries the relay's 250 reply in the old schema only (revision 0019 keeps none), and
a stored Message-ID, its claim and its relay's name only before revision 0028.
`statuses` picks each row's state from its number: all sent, or a mix with failures,
skips and rows still pending.
"""

from __future__ import annotations

from typing import Literal

import sqlalchemy as sa

Statuses = Literal["sent", "mixed"]

_DAY0 = "date '2026-01-05'"
_MIXES = 40

_PEOPLE = """
INSERT INTO subscribers (id, email, status, frequency, timezone, send_hour, created_at,
                         status_changed_at, breaking_alerts)
SELECT g, 'reader' || g || '@example.com', 'active', 'daily', 'Europe/Paris', 7,
       timestamptz '2026-01-01 00:00+00', timestamptz '2026-01-01 00:00+00', false
FROM generate_series(1, :readers) AS g;
SELECT setval('subscribers_id_seq', :readers);
INSERT INTO editions (slug, name, cadence, subject_template, intro, max_articles,
                      click_tracking, open_tracking, active, created_at, updated_at)
VALUES ('ledger-fill', 'Ledger fill', 'daily', '', '', 25, false, false, true,
        timestamptz '2026-01-01 00:00+00', timestamptz '2026-01-01 00:00+00');
INSERT INTO issues (edition_id, local_date, status, pinned_ids, dropped_ids, created_at,
                    updated_at)
SELECT (SELECT id FROM editions WHERE slug = 'ledger-fill'), {day0} + d, 'open', '[]', '[]',
       timestamptz '2026-01-01 00:00+00', timestamptz '2026-01-01 00:00+00'
FROM generate_series(0, :days - 1) AS d;
"""

# One row per g: its day, its reader (a permutation of the readers within the day), its
# topic mix, its state and its times.
_ROWS = """
SELECT g, day, reader, reader % {mixes} AS mix,
       CASE WHEN :statuses = 'sent' THEN 'sent'
            WHEN g % 50 = 0 THEN 'failed' WHEN g % 50 = 1 THEN 'skipped'
            WHEN g % 50 = 2 THEN 'pending' ELSE 'sent' END AS status,
       {day0} + day AS local_date,
       timestamptz '2026-01-05 06:00+00' + day * interval '1 day' AS planned,
       (SELECT id FROM issues WHERE local_date = {day0} + day
          AND edition_id = (SELECT id FROM editions WHERE slug = 'ledger-fill')) AS issue_id
FROM (SELECT g, (g - 1) / :readers AS day,
             1 + ((g - 1)::bigint * 7919 % :readers)::int AS reader
      FROM generate_series(1, :rows) AS g) AS numbered
"""

# A digest's list as the planner wrote it (json.dumps of ten ids).
_LIST = "'[' || array_to_string(ARRAY(SELECT {day} * 1000 + {mix} + k FROM generate_series(1, 10) AS k), ', ') || ']'"  # noqa: E501

_OUTCOME = """
  CASE WHEN r.status = 'sent' THEN r.planned + interval '90 seconds' END,
  {message_id}
  CASE WHEN r.status IN ('sent', 'failed') THEN {relay} END,
  CASE WHEN r.status = 'sent' THEN {accepted}
       WHEN r.status = 'failed' THEN '550 5.1.1 <reader' || r.reader || '@example.com>: unknown'
  END,
  CASE WHEN r.status = 'failed' THEN '550 5.1.1 the mailbox does not exist' END,
  CASE WHEN r.status IN ('sent', 'failed') THEN 1 ELSE 0 END,
  CASE WHEN r.status IN {claimed} THEN r.planned + interval '60 seconds' END,
  CASE WHEN r.status IN {claimed} THEN 4611686018427387904 + r.g % 7 END,
  CASE WHEN r.status = 'pending' THEN r.planned END,
  r.planned
"""
# The Message-ID a row stored before revision 0028 (derived from the row since).
_STORED_MESSAGE_ID = """CASE WHEN r.status IN ('sent', 'failed') THEN
       '<digest.' || r.g || '.' || substr(md5(r.g::text), 1, 16) || '@news.example.com>' END,"""
# Rows that keep their claim: before revision 0028 a sent row kept it too.
_CLAIMED_THEN = "('sent', 'failed')"
_CLAIMED_NOW = "('failed')"
# The relay: by name before revision 0028, by number since.
_RELAY = "'smtp:mail.example.com:25'"
_RELAY_NUMBER = "(SELECT id FROM relays WHERE name = 'smtp:mail.example.com:25')"

# The relay's reply to a sent row, as rows before revision 0019 kept it (none since).
_QUEUED = "'250 2.0.0 Ok: queued as 4FhK2x0Y' || r.g % 1000"

_COMMON_COLUMNS = (
    "sent_at, {message_id}{relay}, smtp_reply, last_error, attempts, claimed_at, claimed_by, "
    "next_attempt_at, created_at"
)


def _days(rows: int, readers: int) -> int:
    return -(-rows // readers)


def _people(connection: sa.Connection, *, rows: int, readers: int) -> None:
    for statement in _PEOPLE.format(day0=_DAY0).split(";"):
        if statement.strip():
            connection.execute(
                sa.text(statement), {"readers": readers, "days": _days(rows, readers)}
            )


def fill_0014(
    connection: sa.Connection, *, rows: int, readers: int, statuses: Statuses = "mixed"
) -> None:
    """Readers, an edition, its issues and `rows` ledger rows in the schema of revision 0014."""
    _people(connection, rows=rows, readers=readers)
    listed = _LIST.format(day="r.day", mix="r.mix")
    columns = _COMMON_COLUMNS.format(message_id="message_id, ", relay="relay")
    outcome = _OUTCOME.format(
        accepted=_QUEUED, message_id=_STORED_MESSAGE_ID, claimed=_CLAIMED_THEN, relay=_RELAY
    )
    connection.execute(
        sa.text(
            "INSERT INTO deliveries (id, edition, issue_id, subscriber_id, local_date, status, "
            f"window_start, window_end, article_ids, {columns}) "
            "SELECT r.g, 'ledger-fill', r.issue_id, r.reader, r.local_date, r.status, "
            "r.planned - interval '1 day', r.planned, "
            f"(CASE WHEN r.status = 'skipped' THEN '[]' ELSE {listed} END)::json, "
            f"{outcome} "
            f"FROM ({_ROWS.format(mixes=_MIXES, day0=_DAY0)}) AS r ORDER BY r.g"
        ),
        {"rows": rows, "readers": readers, "statuses": statuses},
    )
    connection.execute(sa.text("SELECT setval('deliveries_id_seq', :rows)"), {"rows": rows})


def fill_current(
    connection: sa.Connection,
    *,
    rows: int,
    readers: int,
    statuses: Statuses = "sent",
    stored_message_ids: bool = False,
) -> None:
    """The same sends in today's schema: a selection per (day, topic mix), rows naming it,
    written in the order a planner writes them, with every index in place.

    `stored_message_ids`: the rows as revisions 0019 to 0023 wrote them, into a database at
    one of those (a stored Message-ID, the relay's name, and a sent row's claim kept)."""
    then = stored_message_ids
    columns = _COMMON_COLUMNS.format(
        message_id="message_id, " if then else "", relay="relay" if then else "relay_id"
    )
    outcome = _OUTCOME.format(
        accepted="NULL",
        message_id=_STORED_MESSAGE_ID if then else "",
        claimed=_CLAIMED_THEN if then else _CLAIMED_NOW,
        relay=_RELAY if then else _RELAY_NUMBER,
    )
    if not then:
        connection.execute(sa.text(f"INSERT INTO relays (name) VALUES ({_RELAY})"))
    _people(connection, rows=rows, readers=readers)
    connection.execute(
        sa.text(
            "INSERT INTO selections (local_date, article_ids) "
            f"SELECT {_DAY0} + d, ({_LIST.format(day='d', mix='m')})::json "
            f"FROM generate_series(0, :days - 1) AS d, generate_series(0, {_MIXES - 1}) AS m "
            "ORDER BY d, m"
        ),
        {"days": _days(rows, readers)},
    )
    connection.execute(
        sa.text(
            "INSERT INTO deliveries (id, edition, issue_id, subscriber_id, local_date, status, "
            f"selection_id, {columns}) "
            "SELECT r.g, 'ledger-fill', r.issue_id, r.reader, r.local_date, r.status, "
            "CASE WHEN r.status <> 'skipped' THEN "
            f"(SELECT min(id) FROM selections) + r.day * {_MIXES} + r.mix END, "
            f"{outcome} "
            f"FROM ({_ROWS.format(mixes=_MIXES, day0=_DAY0)}) AS r ORDER BY r.g"
        ),
        {"rows": rows, "readers": readers, "statuses": statuses},
    )
    connection.execute(sa.text("SELECT setval('deliveries_id_seq', :rows)"), {"rows": rows})
