"""The desk's CSV import: choose a file, see its first rows and every refused row, then
import it, confirmed or not, starting today or tomorrow. Editors and admins.

The preview writes nothing; the file travels back with the import button as a hidden
field, so no upload is kept on the server between the two steps (and any web process can
take the second). Both steps accept a larger body than the rest of the app.
"""

from __future__ import annotations

import io

from flask import Blueprint, request, url_for

from alerts.desk.imports import import_readers
from alerts.errors import BadInput
from alerts.web.context import db, web_context
from alerts.web.desk import View, actor, done, guard_desk
from alerts.web.pages import page
from subscribers.csv_io import IMPORT_COLUMNS, check_csv
from subscribers.database import utcnow
from subscribers.errors import CsvFormatError

blueprint = Blueprint("desk_import", __name__, url_prefix="/desk/readers/import")
guard_desk(blueprint)

MAX_FILE_BYTES = 8 * 1024 * 1024
ERRORS_SHOWN = 200


def allow_a_file() -> None:
    """Raise the body limits for the import's two steps: the app refuses bodies over 64 KB,
    a list of readers is larger, and Werkzeug caps a form field held in memory (the preview
    sends the file back as one). The app runs this before the CSRF check reads the form."""
    if request.path.startswith(blueprint.url_prefix or "/desk/readers/import"):
        request.max_content_length = 2 * MAX_FILE_BYTES + 64 * 1024
        request.max_form_memory_size = 2 * MAX_FILE_BYTES


def _options() -> dict[str, bool]:
    return {
        "confirmed": request.form.get("confirmed") == "yes",
        "start_tomorrow": request.form.get("start") == "tomorrow",
    }


@blueprint.get("")
def import_form() -> View:
    return page("desk/import.html", columns=IMPORT_COLUMNS, check=None, content="",
                options={"confirmed": False, "start_tomorrow": True})  # fmt: skip


def _uploaded_text() -> str:
    upload = request.files.get("file")
    data: bytes
    if upload is not None and upload.filename:
        data = upload.read(MAX_FILE_BYTES + 1)
    else:
        data = request.form.get("content", "").encode()
    if not data:
        raise BadInput("choose a CSV file to import")
    if len(data) > MAX_FILE_BYTES:
        raise BadInput(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; "
                       "split it, or use `newsalerts subscribers import`")  # fmt: skip
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BadInput(f"the file is not UTF-8 text (at byte {error.start})") from None


def _refused(message: str) -> View:
    return page("desk/import.html", 400, columns=IMPORT_COLUMNS, check=None, content="",
                options=_options(), error=message)  # fmt: skip


@blueprint.post("/preview")
def preview() -> View:
    try:
        content = _uploaded_text()
        check = check_csv(
            io.StringIO(content, newline=""),
            keyword_limit=web_context().runtime.settings.keywords_per_reader,
        )
    except BadInput as error:
        return _refused(error.message[:1].upper() + error.message[1:] + ".")
    except CsvFormatError as error:
        return _refused(f"This file cannot be imported: {error}.")
    return page("desk/import.html", columns=IMPORT_COLUMNS, check=check, content=content,
                options=_options(), errors_shown=ERRORS_SHOWN)  # fmt: skip


@blueprint.post("")
def run_import() -> View:
    session, settings = db(), web_context().runtime.settings
    try:
        content = _uploaded_text()
    except BadInput as error:
        return _refused(error.message[:1].upper() + error.message[1:] + ".")
    options = _options()
    try:
        report = import_readers(
            session,
            io.StringIO(content, newline=""),
            confirmed=options["confirmed"],
            start_tomorrow=options["start_tomorrow"],
            hash_key=settings.secret_key,
            timezone=settings.default_timezone,
            actor=actor(),
            now=utcnow(),
            keyword_limit=settings.keywords_per_reader,
        )
    except CsvFormatError as error:
        session.rollback()
        return _refused(f"This file cannot be imported: {error}.")
    session.commit()
    state = "active" if options["confirmed"] else "waiting to confirm by email"
    when = " from tomorrow" if options["start_tomorrow"] and options["confirmed"] else ""
    message = (f"Imported {report.created} readers ({state}{when}), skipped {report.skipped} "
               f"already stored or left, refused {len(report.errors)}.")  # fmt: skip
    if report.errors:
        shown = "; ".join(str(error) for error in report.errors[:10])
        more = "" if len(report.errors) <= 10 else f"; and {len(report.errors) - 10} more"
        message += f" Refused: {shown}{more}."
    return done(url_for("desk_readers.readers"), message, error=bool(report.errors))
