"""The desk's readers: the list with its filters, a page at a time; its CSV export; one
reader's page and what an editor does there (unsubscribe, send the confirmation again,
erase; an admin also lifts a suppression, giving a reason).

Editors and admins only (alerts.web.desk.guard_desk); lifting a suppression, admins only.
Every POST is audited by the function it calls and answered with a 303 and a notice.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from flask import Blueprint, Response, request, stream_with_context, url_for
from sqlalchemy import select

from alerts.audit import record
from alerts.desk.readers import (
    MAX_SEARCH_LENGTH,
    ReaderFilter,
    erase_reader,
    find_reader,
    lift_reader_suppression,
    list_readers,
    reader_record,
    readers_query,
    unsubscribe_reader,
)
from alerts.errors import BadInput
from alerts.mail.notices import Notice
from alerts.models import Role
from alerts.web.auth import current_staff, roles_required, safe_next
from alerts.web.context import db, web_context
from alerts.web.desk import View, actor, done, guard_desk
from alerts.web.ids import row_id
from alerts.web.pages import page
from alerts.web.signup import hand_over, notice_within_limit
from subscribers.csv_io import EXPORT_COLUMNS, export_rows
from subscribers.database import utcnow
from subscribers.models import SubscriberStatus, Topic

blueprint = Blueprint("desk_readers", __name__, url_prefix="/desk")
guard_desk(blueprint)

_EXPORT_FLUSH_ROWS = 500


def _cursor(name: str) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    value = row_id(raw)
    if value is None:
        raise BadInput(f"{name} must be a reader's id")
    return value


def _filter() -> ReaderFilter:
    raw_status = request.args.get("status", "")
    try:
        status = SubscriberStatus(raw_status) if raw_status else None
    except ValueError:
        choices = ", ".join(member.value for member in SubscriberStatus)
        raise BadInput(f"the status must be one of {choices}") from None
    search = request.args.get("q", "").strip()
    if len(search) > MAX_SEARCH_LENGTH:
        raise BadInput(f"search for at most {MAX_SEARCH_LENGTH} characters")
    return ReaderFilter(status=status, topic=request.args.get("topic") or None, search=search)


def _filter_args(wanted: ReaderFilter) -> dict[str, str]:
    args = {"status": wanted.status.value if wanted.status else "", "topic": wanted.topic or "",
            "q": wanted.search}  # fmt: skip
    return {key: value for key, value in args.items() if value}


@blueprint.get("/readers")
def readers() -> View:
    session, wanted = db(), _filter()
    listed = list_readers(session, wanted, after=_cursor("after"), before=_cursor("before"))
    return page(
        "desk/readers.html",
        listed=listed,
        wanted=wanted,
        filter_args=_filter_args(wanted),
        statuses=list(SubscriberStatus),
        topics=list(session.scalars(select(Topic).order_by(Topic.name))),
        is_admin=_is_admin(),
    )


def _is_admin() -> bool:
    user = current_staff()
    return user is not None and user.role is Role.ADMIN


@blueprint.get("/readers.csv")
def export_readers() -> Response:
    """The readers the list's filter keeps, as the CSV `newsalerts subscribers import` reads."""
    session, wanted = db(), _filter()
    query = readers_query(session, wanted)

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(EXPORT_COLUMNS)
        try:
            for count, row in enumerate(export_rows(session, query), start=1):
                writer.writerow(row)
                if count % _EXPORT_FLUSH_ROWS == 0:
                    yield buffer.getvalue()
                    buffer.seek(0)
                    buffer.truncate()
            yield buffer.getvalue()
        finally:
            # The rows come from a server-side cursor in a transaction: end it with the
            # stream (finished or abandoned), not whenever the response object is closed.
            session.close()

    name = "readers" + "".join(f"-{value}" for value in _filter_args(wanted).values())
    safe = "".join(char if char.isalnum() or char in "-_." else "_" for char in name)[:80]
    return Response(
        stream_with_context(lines()),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{safe}.csv"'},
    )


@blueprint.get("/readers/<id:reader_id>")
def reader(reader_id: int) -> View:
    settings = web_context().runtime.settings
    found = reader_record(db(), reader_id, hash_key=settings.secret_key,
                          deliveries_before=_cursor("before"))  # fmt: skip
    return page("desk/reader.html", record=found, is_admin=_is_admin())


def _reader_url(reader_id: int) -> str:
    return url_for("desk_readers.reader", reader_id=reader_id)


@blueprint.post("/readers/<id:reader_id>/unsubscribe")
def unsubscribe(reader_id: int) -> View:
    session = db()
    found = find_reader(session, reader_id)
    changed = unsubscribe_reader(session, found, actor=actor(), now=utcnow())
    session.commit()
    if not changed:
        return done(_reader_url(reader_id), "This reader had already unsubscribed.")
    return done(_reader_url(reader_id), "Unsubscribed: nothing more is sent to this reader.")


@blueprint.post("/readers/<id:reader_id>/confirmation")
def resend_confirmation(reader_id: int) -> View:
    session, now = db(), utcnow()
    found = find_reader(session, reader_id)
    if found.status is not SubscriberStatus.PENDING:
        return done(_reader_url(reader_id),
                    "Only a reader waiting to confirm can be sent the confirmation.",
                    error=True)  # fmt: skip
    notice_id = notice_within_limit(session, Notice.CONFIRM, found.id, found.email)
    if notice_id is None:
        session.rollback()
        return done(_reader_url(reader_id),
                    "This address had its confirmation emails for today; try tomorrow.",
                    error=True)  # fmt: skip
    record(session, actor=actor(), action="reader.confirmation", target=f"reader/{found.id}",
           now=now)  # fmt: skip
    session.commit()
    hand_over(notice_id)
    return done(_reader_url(reader_id), "The confirmation email is on its way.")


@blueprint.post("/readers/<id:reader_id>/erase")
def erase(reader_id: int) -> View:
    session = db()
    found = find_reader(session, reader_id)
    if request.form.get("confirm") != "yes":
        return done(_reader_url(reader_id), "Tick the box to confirm the erasure.", error=True)
    erase_reader(session, found, actor=actor(), hash_key=web_context().runtime.settings.secret_key,
                 now=utcnow())  # fmt: skip
    session.commit()
    return done(url_for("desk_readers.readers"),
                f"Reader {reader_id} erased: only a keyed hash of the address remains, "
                "so it is never mailed again.")  # fmt: skip


@blueprint.post("/suppressions/lift")
@roles_required(Role.ADMIN)
def lift_suppression() -> View:
    session, form = db(), request.form
    email = (form.get("email") or "").strip()
    back = safe_next(form.get("back")) or ""
    target = back if back.startswith("/desk/readers") else url_for("desk_readers.readers")
    if not email:
        return done(target, "Give the address whose suppression to lift.", error=True)
    try:
        lifted = lift_reader_suppression(
            session,
            email,
            reason=form.get("reason", ""),
            actor=actor(),
            hash_key=web_context().runtime.settings.secret_key,
            now=utcnow(),
        )
    except BadInput as error:
        session.rollback()
        return done(target, str(error)[:1].upper() + str(error)[1:] + ".", error=True)
    session.commit()
    if not lifted:
        return done(target, "That address was not on the suppression list.", error=True)
    return done(target, "Suppression lifted: the address may sign up again and confirm.")
