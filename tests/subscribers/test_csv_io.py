from __future__ import annotations

import csv
import io
import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

import subscribers.bulk
import subscribers.csv_io
from alerts.db import make_session_factory
from subscribers.csv_io import EXPORT_COLUMNS, ImportReport, export_csv, import_csv
from subscribers.errors import CsvFormatError
from subscribers.models import (
    ConsentEvent,
    ConsentKind,
    Frequency,
    Subscriber,
    SubscriberStatus,
    Topic,
    subscriber_topics,
)
from subscribers.services import Origin, add_subscriber, suppress
from tests.support.rows import count_rows

KEY = "hash-key"
NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def run_import(session: Session, text: str, *, confirmed: bool = False) -> ImportReport:
    report = import_csv(
        session, io.StringIO(text, newline=""), confirmed=confirmed, hash_key=KEY, now=NOW
    )
    session.commit()
    return report


def readers(session: Session) -> dict[str, Subscriber]:
    return {reader.email: reader for reader in session.scalars(select(Subscriber))}


def test_good_rows_are_created_pending_with_their_preferences(session: Session) -> None:
    report = run_import(
        session,
        "email,name,topics,frequency,timezone,hour\r\n"
        "Ada@Example.com,Ada Lindqvist,Business; Climate Talks,weekly,Europe/Paris,6\r\n"
        "bo@example.com,,,,,\r\n",
    )
    assert (report.created, report.skipped, report.errors) == (2, 0, [])
    found = readers(session)
    ada, bo = found["ada@example.com"], found["bo@example.com"]
    assert (ada.name, ada.topic_slugs, ada.frequency, ada.timezone, ada.send_hour) == (
        "Ada Lindqvist",
        ["business", "climate-talks"],
        Frequency.WEEKLY,
        "Europe/Paris",
        6,
    )
    assert (bo.name, bo.topic_slugs, bo.frequency, bo.timezone, bo.send_hour) == (
        None,
        [],
        Frequency.DAILY,
        "UTC",
        7,
    )
    assert {ada.status, bo.status} == {SubscriberStatus.PENDING}
    assert (ada.created_at, ada.confirmed_at) == (NOW, None)
    events = {
        event.subscriber_id: event
        for event in session.scalars(select(ConsentEvent).order_by(ConsentEvent.id))
    }
    assert (events[ada.id].kind, events[ada.id].source, events[ada.id].details) == (
        ConsentKind.SUBSCRIBE,
        "import-unconfirmed",
        {"line": 2},
    )
    assert events[bo.id].details == {"line": 3}


def test_confirmed_import_makes_active_readers_with_an_import_consent(session: Session) -> None:
    report = run_import(session, "email\ncy@example.com\n", confirmed=True)
    assert report.created == 1
    reader = readers(session)["cy@example.com"]
    assert (reader.status, reader.confirmed_at) == (SubscriberStatus.ACTIVE, NOW)
    event = session.scalars(select(ConsentEvent)).one()
    assert (event.subscriber_id, event.kind, event.source, event.details) == (
        reader.id,
        ConsentKind.IMPORT,
        "import",
        {"line": 2},
    )


def test_columns_in_any_order_with_a_byte_order_mark(session: Session) -> None:
    raw = "Hour , EMAIL,topics\r\n5,dee@example.com,Elections\r\n".encode("utf-8-sig")
    stream = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", newline="")
    report = import_csv(session, stream, confirmed=False, hash_key=KEY)
    assert report.created == 1
    reader = readers(session)["dee@example.com"]
    assert (reader.send_hour, reader.topic_slugs) == (5, ["elections"])


def test_bad_rows_are_reported_by_line_and_leave_nothing_behind(session: Session) -> None:
    report = run_import(
        session,
        "email,name,topics,frequency,timezone,hour\n"
        "good1@example.com,,Business,daily,UTC,7\n"
        " ,,Ghost topic,daily,UTC,7\n"
        "bad-frequency@example.com,,Ghost topic,hourly,UTC,7\n"
        "\n"
        "bad-zone@example.com,,Ghost topic,daily,Mars/Olympus,7\n"
        "bad-hour@example.com,,Ghost topic,daily,UTC,25\n"
        "too-many@example.com,,Ghost topic,daily,UTC,7,extra\n"
        "bad-name@example.com,\x07Bell,Ghost topic,daily,UTC,7\n"
        "good2@example.com,,,weekly,Asia/Tokyo,23\n",
    )
    assert [str(error) for error in report.errors] == [
        "line 3: invalid email address: it is empty",
        "line 4: frequency: 'hourly' is not one of daily, weekly",
        "line 6: timezone: 'Mars/Olympus' is not a time zone we know, such as Europe/Paris",
        "line 7: hour: 25 is not between 0 and 23",
        "line 8: 7 values for the header's 6 columns",
        "line 9: name: it contains a line break or control character",
    ]
    assert (report.created, report.skipped) == (2, 0)
    assert set(readers(session)) == {"good1@example.com", "good2@example.com"}
    assert count_rows(session, ConsentEvent) == 2
    assert set(session.scalars(select(Topic.slug))) == {"business"}


def test_header_injection_in_a_quoted_field_is_refused(session: Session) -> None:
    report = run_import(
        session,
        'email,name\r\n"a@b.test\r\nBcc: c@d.test",Mallory\r\nok@example.com,"Line\r\nbreak"\r\n'
        "fine@example.com,Fine\r\n",
    )
    # Lines are CSV records: the quoted line break does not shift the numbering.
    assert [str(error) for error in report.errors] == [
        "line 2: invalid email address: it contains a line break or control character",
        "line 3: name: it contains a line break or control character",
    ]
    assert set(readers(session)) == {"fine@example.com"}


def test_known_addresses_and_repeats_in_the_file_are_skipped(session: Session) -> None:
    add_subscriber(
        session,
        email="ed@example.com",
        origin=Origin("form"),
        hash_key=KEY,
        name="Ed's own name",
        send_hour=9,
    )
    session.commit()
    report = run_import(
        session,
        "email,name,hour\n"
        "ed@example.com,Overwritten,3\n"
        "fay@example.com,Fay,8\n"
        "FAY@example.com,Second Fay,4\n",
        confirmed=True,
    )
    assert (report.created, report.skipped, report.errors) == (1, 2, [])
    found = readers(session)
    assert (found["ed@example.com"].name, found["ed@example.com"].send_hour) == (
        "Ed's own name",
        9,
    )
    assert found["ed@example.com"].status is SubscriberStatus.PENDING
    assert (found["fay@example.com"].name, found["fay@example.com"].send_hour) == ("Fay", 8)
    assert count_rows(session, ConsentEvent) == 2  # Ed's form subscription and Fay's import


def test_suppressed_address_is_refused(session: Session) -> None:
    suppress(session, "gil@example.com", reason="erased", hash_key=KEY)
    session.commit()
    report = run_import(session, "email\nGil@Example.com\nhal@example.com\n", confirmed=True)
    assert [str(error) for error in report.errors] == [
        "line 2: this address is on the suppression list and will not be mailed"
    ]
    assert set(readers(session)) == {"hal@example.com"}


def test_a_row_the_database_refuses_is_rolled_back_alone(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite does not enforce a column's length")
    # A check looser than the column lets a name through that PostgreSQL refuses: the
    # chunk is written again reader by reader, and only that reader is refused.
    monkeypatch.setattr(subscribers.csv_io, "_MAX_NAME_LENGTH", 1000)
    report = run_import(
        session,
        "email,name,topics\n"
        "early@example.com,Early,Sport\n"
        f"late@example.com,{'L' * 300},Opera\n"
        "last@example.com,,\n",
    )
    assert [str(error) for error in report.errors] == [
        "line 3: the database refused this row: value too long for type character varying(200)"
    ]
    assert (report.created, report.skipped) == (2, 0)
    assert set(readers(session)) == {"early@example.com", "last@example.com"}
    assert count_rows(session, ConsentEvent) == 2
    assert set(session.scalars(select(Topic.slug))) == {"sport"}
    assert readers(session)["early@example.com"].topic_slugs == ["sport"]


def test_exported_readers_who_left_are_not_imported_again(session: Session) -> None:
    report = run_import(
        session,
        "email,status,created_at\n"
        "gone@example.com,unsubscribed,2025-01-01T00:00:00+00:00\n"
        "waiting@example.com,pending,2025-01-01T00:00:00+00:00\n"
        "here@example.com,active,2025-01-01T00:00:00+00:00\n"
        "odd@example.com,sleeping,\n",
        confirmed=True,
    )
    assert (report.created, report.skipped) == (2, 1)
    assert [str(error) for error in report.errors] == [
        "line 5: status: 'sleeping' is not one of pending, active, unsubscribed, bounced, "
        "complained"
    ]
    assert {email: reader.status for email, reader in readers(session).items()} == {
        "waiting@example.com": SubscriberStatus.PENDING,
        "here@example.com": SubscriberStatus.ACTIVE,
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "email,phone,name,fax\na@example.com,1,A,2\n",
            "line 1: unknown columns 'phone', 'fax'; the known columns are email, name, "
            "topics, frequency, timezone, hour, keywords, language, keyword_alerts, status,"
            " created_at",
        ),
        (
            "name,topics\nAda,Business\n",
            "line 1: the header row has no email column; the first line must name the "
            "columns, such as email,name,topics,frequency,timezone,hour,keywords,language",
        ),
        (
            "a@example.com,Ada\n",
            "line 1: the header row has no email column; the first line must name the "
            "columns, such as email,name,topics,frequency,timezone,hour,keywords,language",
        ),
        (
            "email;name\na@example.com;Ada\n",
            "line 1: the header row has no email column; the first line must name the "
            "columns, such as email,name,topics,frequency,timezone,hour,keywords,language (this "
            "file seems to separate columns with semicolons; save it with commas)",
        ),
        ("email,name,email\n", "line 1: repeated column 'email'"),
        ("email,,name\n", "line 1: column 2 of the header has no name"),
        ("", "the file is empty; expected a header row such as email,name,topics"),
        (
            'email,name\na@example.com,"Ada\nb@example.com,Bo\n',
            "line 2: the file is not valid CSV: unexpected end of data",
        ),
        (
            "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00",
            "the file is not CSV text: its first line contains binary data",
        ),
    ],
)
def test_files_that_are_not_subscriber_csv_are_refused_whole(
    session: Session, text: str, message: str
) -> None:
    with pytest.raises(CsvFormatError) as caught:
        import_csv(session, io.StringIO(text, newline=""), confirmed=True, hash_key=KEY)
    assert str(caught.value) == message
    assert count_rows(session, Subscriber) == 0


def test_bytes_that_are_not_utf8_are_refused_whole(session: Session) -> None:
    garbage = bytes(range(128, 256)) * 8
    stream = io.TextIOWrapper(io.BytesIO(garbage), encoding="utf-8", newline="")
    with pytest.raises(CsvFormatError, match=r"^line 1: the file is not UTF-8 text"):
        import_csv(session, stream, confirmed=False, hash_key=KEY)


def test_export_writes_every_reader_in_id_order(session: Session) -> None:
    add_subscriber(
        session,
        email="zoe@example.com",
        origin=Origin("form"),
        hash_key=KEY,
        name='Zoë "Z" Achterberg, Jr.',
        topics=["Climate Talks", "Business"],
        frequency=Frequency.WEEKLY,
        timezone="America/New_York",
        send_hour=18,
        confirmed=True,
        now=NOW,
    )
    add_subscriber(session, email="abe@example.com", origin=Origin("form"), hash_key=KEY, now=NOW)
    session.commit()
    stream = io.StringIO(newline="")
    assert export_csv(session, stream) == 2
    assert stream.getvalue() == (
        "email,name,topics,frequency,timezone,hour,keywords,language,keyword_alerts,status,"
        "created_at\r\n"
        'zoe@example.com,"Zoë ""Z"" Achterberg, Jr.",business;climate-talks,weekly,'
        "America/New_York,18,,,,active,2026-03-01T09:30:00+00:00\r\n"
        "abe@example.com,,,daily,UTC,7,,,,pending,2026-03-01T09:30:00+00:00\r\n"
    )
    assert ",".join(EXPORT_COLUMNS) == stream.getvalue().splitlines()[0]


def test_export_then_import_into_an_empty_store_gives_back_the_same_readers(
    session: Session,
) -> None:
    run_import(
        session,
        "email,name,topics,frequency,timezone,hour\n"
        "ivy@example.com,Ivy,Elections;Opera,weekly,Australia/Sydney,21\n"
        "jon@example.com,,,daily,UTC,0\n"
        'kim@example.com,"Kim, K.",Sport,daily,Europe/Oslo,12\n',
        confirmed=True,
    )
    for email, status in [
        ("jon@example.com", SubscriberStatus.PENDING),
        ("kim@example.com", SubscriberStatus.UNSUBSCRIBED),
    ]:
        session.execute(update(Subscriber).where(Subscriber.email == email).values(status=status))
    session.commit()
    session.expire_all()
    exported = io.StringIO(newline="")
    assert export_csv(session, exported) == 3

    for table in (subscriber_topics, ConsentEvent.__table__, Subscriber.__table__, Topic.__table__):
        session.execute(delete(table))
    session.commit()
    session.expunge_all()
    assert count_rows(session, Subscriber) == 0

    exported.seek(0)
    report = run_import(session, exported.getvalue(), confirmed=True)
    assert (report.created, report.skipped, report.errors) == (2, 1, [])
    again = io.StringIO(newline="")
    assert export_csv(session, again) == 2
    rows = [line.rsplit(",", 1)[0] for line in again.getvalue().splitlines()]
    assert rows == [
        "email,name,topics,frequency,timezone,hour,keywords,language,keyword_alerts,status",
        "ivy@example.com,Ivy,elections;opera,weekly,Australia/Sydney,21,,,,active",
        "jon@example.com,,,daily,UTC,0,,,,pending",
    ]


FORMULA_ADDRESSES = [
    "=cmd|'/ccalc'!a0@example.org",
    "+1-555@example.org",
    "-2+3@example.org",
]


def test_export_writes_formula_cells_as_text_and_import_reads_them_back(
    session: Session,
) -> None:
    for address in FORMULA_ADDRESSES:
        add_subscriber(session, email=address, origin=Origin("form"), hash_key=KEY, now=NOW)
    add_subscriber(
        session,
        email="named@example.org",
        origin=Origin("form"),
        hash_key=KEY,
        name='=HYPERLINK("https://evil.example","open")',
        now=NOW,
    )
    add_subscriber(
        session, email="at@example.org", origin=Origin("form"), hash_key=KEY, name="@SUM(A1)"
    )
    add_subscriber(
        session, email="'=quoted@example.org", origin=Origin("form"), hash_key=KEY, now=NOW
    )
    session.commit()
    exported = io.StringIO(newline="")
    export_csv(session, exported)

    rows = list(csv.reader(io.StringIO(exported.getvalue(), newline="")))[1:]
    cells = [cell for row in rows for cell in row[:3] if cell]
    assert not [cell for cell in cells if cell.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert [row[0] for row in rows] == [
        *("'" + address for address in FORMULA_ADDRESSES),
        "named@example.org",
        "at@example.org",
        "''=quoted@example.org",
    ]
    names = [row[1] for row in rows[len(FORMULA_ADDRESSES) :]]
    assert names == ['\'=HYPERLINK("https://evil.example","open")', "'@SUM(A1)", ""]

    before = {email: reader.name for email, reader in readers(session).items()}
    session.execute(delete(subscriber_topics))
    session.execute(delete(ConsentEvent))
    session.execute(delete(Subscriber))
    session.commit()
    session.expunge_all()
    report = run_import(session, exported.getvalue())
    assert (report.created, report.errors) == (len(before), [])
    assert {email: reader.name for email, reader in readers(session).items()} == before


def test_a_quote_typed_before_ordinary_text_is_kept_on_import(session: Session) -> None:
    report = run_import(session, "email,name\r\n'o@example.org,'Tis me\r\n")
    assert (report.created, report.errors) == (1, [])
    assert readers(session)["'o@example.org"].name == "'Tis me"


def _many(count: int, *, start: int = 0) -> str:
    rows = [
        f"reader{n}@example.com,Reader {n},Topic {n % 3};Topic {n % 5},daily,Europe/Paris,{n % 24}"
        for n in range(start, start + count)
    ]
    return "email,name,topics,frequency,timezone,hour\n" + "\n".join(rows) + "\n"


class Crash(Exception):
    """The process dying between writing a chunk and committing it."""


def test_an_import_stopped_midway_resumes_without_adding_anyone_twice(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subscribers.bulk, "POSTGRES_CHUNK", 40)
    monkeypatch.setattr(subscribers.bulk, "SQLITE_CHUNK", 40)
    text = _many(300)
    chunks = 0

    def commit_then_crash(_: ImportReport) -> None:
        nonlocal chunks
        chunks += 1
        if chunks == 4:
            raise Crash  # the fourth chunk is written but never committed
        session.commit()

    with pytest.raises(Crash):
        import_csv(
            session,
            io.StringIO(text, newline=""),
            confirmed=True,
            hash_key=KEY,
            after_chunk=commit_then_crash,
        )
    session.rollback()
    assert count_rows(session, Subscriber) == 3 * 40

    report = import_csv(
        session,
        io.StringIO(text, newline=""),
        confirmed=True,
        hash_key=KEY,
        after_chunk=lambda _: session.commit(),
    )
    session.commit()
    assert (report.created, report.skipped, report.errors) == (300 - 120, 120, [])
    emails = list(session.scalars(select(Subscriber.email)))
    assert sorted(emails) == sorted(f"reader{n}@example.com" for n in range(300))
    events = list(session.scalars(select(ConsentEvent.subscriber_id)))
    assert len(events) == len(set(events)) == 300
    links = session.execute(select(subscriber_topics)).all()
    assert len(links) == sum(len({n % 3, n % 5}) for n in range(300))
    reader = readers(session)["reader7@example.com"]
    assert (reader.topic_slugs, reader.send_hour, reader.status) == (
        ["topic-1", "topic-2"],
        7,
        SubscriberStatus.ACTIVE,
    )


def test_bad_rows_across_chunks_are_reported_by_line_and_the_rest_kept(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subscribers.bulk, "POSTGRES_CHUNK", 25)
    monkeypatch.setattr(subscribers.bulk, "SQLITE_CHUNK", 25)
    suppress(session, "reader70@example.com", reason="erased", hash_key=KEY)
    session.commit()
    lines = _many(100).splitlines()
    lines[11] = "not-an-address,Bad,,daily,UTC,7"  # line 12
    lines[60] = "reader59@example.com,,,daily,UTC,24"  # line 61
    lines[90] = "READER5@example.com,Again,,daily,UTC,7"  # line 91: a repeat of line 7
    report = run_import(session, "\n".join(lines) + "\n", confirmed=True)
    assert [str(error) for error in report.errors] == [
        "line 12: invalid email address: An email address must have an @-sign.",
        "line 61: hour: 24 is not between 0 and 23",
        "line 72: this address is on the suppression list and will not be mailed",
    ]
    assert (report.created, report.skipped) == (96, 1)
    found = readers(session)
    assert len(found) == 96
    assert not {f"reader{n}@example.com" for n in (10, 59, 70, 89)} & set(found)
    assert found["reader5@example.com"].name == "Reader 5"
    assert count_rows(session, ConsentEvent) == 96


def test_keywords_are_imported_and_exported_as_typed(session: Session) -> None:
    report = run_import(
        session,
        "email,keywords\n"
        'ivy@example.com,"Central Bank;reservoir; =Kestrel Valley"\n'
        "jon@example.com,\n"
        "kim@example.com,one;two;three;four;five;six;seven;eight;nine;ten;eleven\n"
        "lou@example.com,?!\n",
        confirmed=True,
    )
    assert report.created == 2
    assert [error.line for error in report.errors] == [4, 5]
    assert "at most 10 keywords" in report.errors[0].message
    ivy = session.scalars(select(Subscriber).where(Subscriber.email == "ivy@example.com")).one()
    assert ivy.keyword_texts == ["Central Bank", "reservoir", "=Kestrel Valley"]
    stream = io.StringIO(newline="")
    export_csv(session, stream)
    assert ",'=Central Bank;reservoir;=Kestrel Valley," not in stream.getvalue()
    assert ",Central Bank;reservoir;=Kestrel Valley," in stream.getvalue()


def test_backslashes_quotes_and_a_topic_named_null_arrive_as_written(session: Session) -> None:
    # PostgreSQL's rows travel as COPY text and arrays as literals: nothing may read as an
    # escape, a column break or a NULL.
    report = run_import(
        session,
        "email,name,topics\r\n"
        '"ada@example.com","C:\\new\\tab \\N ""Ada"" {x,y}","null;NULL;Back\\slash"\r\n'
        "bo@example.com,\\N,\r\n",
        confirmed=True,
    )
    assert (report.created, report.errors) == (2, [])
    found = readers(session)
    ada, bo = found["ada@example.com"], found["bo@example.com"]
    assert ada.name == 'C:\\new\\tab \\N "Ada" {x,y}'
    assert ada.topic_slugs == ["back-slash", "null"]
    assert bo.name == "\\N" and bo.topic_slugs == []
    [event] = session.scalars(select(ConsentEvent).where(ConsentEvent.subscriber_id == ada.id))
    assert event.details == {"line": 2}


def test_readers_an_import_creates_can_start_paused(session: Session) -> None:
    add_subscriber(session, email="known@example.com", hash_key=KEY, origin=Origin("form"))
    session.commit()
    tomorrow = datetime(2026, 3, 2, tzinfo=UTC)
    report = import_csv(
        session,
        io.StringIO("email\nknown@example.com\nada@example.com\n", newline=""),
        confirmed=True,
        hash_key=KEY,
        now=NOW,
        paused_until=tomorrow,
    )
    session.commit()
    assert (report.created, report.skipped) == (1, 1)
    found = readers(session)
    assert found["ada@example.com"].paused_until == tomorrow
    assert found["known@example.com"].paused_until is None


def test_an_address_another_writer_stores_after_the_look_up_is_skipped_not_doubled(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_subscriber(
        session, email="ada@example.com", hash_key=KEY, origin=Origin("form"), name="Ada"
    )
    session.commit()
    # As if the look-up ran just before another import or a sign-up stored Ada.
    monkeypatch.setattr(
        subscribers.bulk.ChunkWriter, "_look_up", lambda self, chunk: (set(), set())
    )
    report = run_import(
        session, "email,name,topics\nada@example.com,Imported Ada,Business\nbo@example.com,,\n"
    )
    assert (report.created, report.skipped, report.errors) == (1, 1, [])
    found = readers(session)
    assert (found["ada@example.com"].name, found["ada@example.com"].topic_slugs) == ("Ada", [])
    events = list(session.scalars(select(ConsentEvent.subscriber_id)))
    assert sorted(events) == sorted([found["ada@example.com"].id, found["bo@example.com"].id])


def test_keyword_alerts_column_is_imported_and_exported(session: Session) -> None:
    report = run_import(
        session,
        "email,keywords,keyword_alerts\n"
        "ada@example.com,reservoir,yes\n"
        "bram@example.com,reservoir,\n"
        "cleo@example.com,reservoir,often\n",
        confirmed=True,
    )
    assert report.created == 2
    [error] = report.errors
    assert error.line == 4 and "keyword_alerts" in error.message
    found = readers(session)
    assert found["ada@example.com"].keyword_alerts
    assert found["ada@example.com"].keyword_alerted_through is not None
    assert not found["bram@example.com"].keyword_alerts
    stream = io.StringIO(newline="")
    export_csv(session, stream)
    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    assert [(row["email"], row["keyword_alerts"]) for row in rows] == [
        ("ada@example.com", "yes"),
        ("bram@example.com", ""),
    ]


def test_the_language_column_is_checked_by_line_and_exported_again(session: Session) -> None:
    report = run_import(
        session,
        "email,language\n"
        "ana@example.com,de\n"
        "bo@example.com,AR\n"
        "cy@example.com,\n"
        "di@example.com,klingon\n"
        "ed@example.com,fr-CA\n",
    )
    assert report.created == 4
    [error] = report.errors
    assert error.line == 5 and "language" in error.message and "klingon" in error.message
    languages = {email: reader.language for email, reader in readers(session).items()}
    assert languages == {
        "ana@example.com": "de",
        "bo@example.com": "ar",
        "cy@example.com": None,  # the site's DEFAULT_LANGUAGE
        "ed@example.com": "fr",
    }
    stream = io.StringIO(newline="")
    export_csv(session, stream)
    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    assert {row["email"]: row["language"] for row in rows} == {
        "ana@example.com": "de",
        "bo@example.com": "ar",
        "cy@example.com": "",
        "ed@example.com": "fr",
    }


def test_two_writers_report_bad_rows_by_line_keep_the_rest_and_the_earlier_of_a_repeat(
    session: Session, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subscribers.bulk, "POSTGRES_CHUNK", 20)
    monkeypatch.setattr(subscribers.bulk, "SQLITE_CHUNK", 20)
    suppress(session, "reader70@example.com", reason="erased", hash_key=KEY)
    session.commit()
    lines = _many(200).splitlines()
    lines[11] = "not-an-address,Bad,,daily,UTC,7"  # line 12
    lines[25] = "READER5@example.com,Again,Topic 1,daily,UTC,7"  # line 26: a repeat of line 7
    lines[60] = "reader59@example.com,,,daily,UTC,24"  # line 61
    lines[150] = "reader140@example.com,Later,,daily,UTC,7"  # line 151: a repeat of line 142
    writers: set[str] = set()

    def committed(_: ImportReport) -> None:
        writers.add(threading.current_thread().name)
        session.commit()  # what one writer needs; two commit their own chunks

    report = import_csv(
        session,
        io.StringIO("\n".join(lines) + "\n", newline=""),
        confirmed=True,
        hash_key=KEY,
        after_chunk=committed,
        writer_sessions=make_session_factory(engine),
    )
    session.commit()
    if engine.dialect.name == "postgresql":
        assert writers == {"import-writer-0", "import-writer-1"}
    assert [str(error) for error in report.errors] == [
        "line 12: invalid email address: An email address must have an @-sign.",
        "line 61: hour: 24 is not between 0 and 23",
        "line 72: this address is on the suppression list and will not be mailed",
    ]
    assert (report.created, report.skipped) == (195, 2)
    found = readers(session)
    gone = {f"reader{n}@example.com" for n in (10, 24, 59, 70, 149)}
    assert set(found) == {f"reader{n}@example.com" for n in range(200)} - gone
    assert (found["reader5@example.com"].name, found["reader140@example.com"].name) == (
        "Reader 5",
        "Reader 140",
    )
    assert found["reader5@example.com"].topic_slugs == ["topic-0", "topic-2"]
    events = list(session.scalars(select(ConsentEvent.subscriber_id)))
    assert len(events) == len(set(events)) == 195
    links = session.execute(select(subscriber_topics)).all()
    assert len(links) == sum(
        len({n % 3, n % 5}) for n in range(200) if f"reader{n}@example.com" not in gone
    )
    assert session.scalar(select(func.count()).select_from(Topic)) == 5


def test_two_writers_stopped_midway_leave_whole_chunks_and_a_rerun_adds_each_reader_once(
    session: Session, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(subscribers.bulk, "POSTGRES_CHUNK", 40)
    monkeypatch.setattr(subscribers.bulk, "SQLITE_CHUNK", 40)
    text = _many(400)
    calls = 0

    def crash_on_the_fourth(_: ImportReport) -> None:
        nonlocal calls
        calls += 1
        if calls == 4:
            raise Crash
        session.commit()

    with pytest.raises(Crash):
        import_csv(
            session,
            io.StringIO(text, newline=""),
            confirmed=True,
            hash_key=KEY,
            after_chunk=crash_on_the_fourth,
            writer_sessions=make_session_factory(engine),
        )
    session.rollback()
    stored = count_rows(session, Subscriber)
    assert stored % 40 == 0 and 3 * 40 <= stored < 400
    assert count_rows(session, ConsentEvent) == stored

    report = import_csv(
        session,
        io.StringIO(text, newline=""),
        confirmed=True,
        hash_key=KEY,
        after_chunk=lambda _: session.commit(),
        writer_sessions=make_session_factory(engine),
    )
    session.commit()
    assert (report.created, report.skipped, report.errors) == (400 - stored, stored, [])
    emails = list(session.scalars(select(Subscriber.email)))
    assert sorted(emails) == sorted(f"reader{n}@example.com" for n in range(400))
    events = list(session.scalars(select(ConsentEvent.subscriber_id)))
    assert len(events) == len(set(events)) == 400
    links = session.execute(select(subscriber_topics)).all()
    assert len(links) == len(set(links)) == sum(len({n % 3, n % 5}) for n in range(400))
