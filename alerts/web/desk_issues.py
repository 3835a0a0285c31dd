"""The desk's issue page: curate an edition's issue on one date, preview it, send a test,
send it now, pause, resume or cancel it, and watch its progress.

Addresses are /desk/editions/<slug>/issues/<YYYY-MM-DD>[/...]. A weekly edition's issue
has one date a week (see alerts.editions.schedules.issue_date); another date of that week leads to
it. Opening the page stores nothing; the first action on an issue stores it.
"""

from __future__ import annotations

import re
from datetime import date

from flask import Blueprint, jsonify, make_response, redirect, request
from sqlalchemy import select
from werkzeug.wrappers import Response

from alerts.audit import record
from alerts.desk.board import (
    CURATION_ACTIONS,
    board,
    curate,
    find_edition,
    issue_or_draft,
    issue_progress,
    selectable_ids,
)
from alerts.desk.proofs import send_test
from alerts.digests.planning import issue_audience
from alerts.editions.issues import issue_for, lock, set_texts, unlock
from alerts.editions.schedules import issue_date
from alerts.errors import BadInput, DeliveryError, IssueError, NotFound
from alerts.jobs import change_issue, send_now
from alerts.models import Edition, Issue
from alerts.web.auth import current_staff
from alerts.web.context import db, web_context
from alerts.web.desk import View, actor, done, guard_desk, issue_url
from alerts.web.desk_previews import PreviewRequest, run_preview
from alerts.web.pages import page, time_zones
from subscribers.database import utcnow
from subscribers.models import Topic

blueprint = Blueprint("desk_issues", __name__, url_prefix="/desk/editions/<slug>/issues/<day>")
guard_desk(blueprint)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# The dates an issue page may name: a year inside Python's calendar on either side, so the
# week and window arithmetic around an issue (alerts.editions.schedules.issue_date, the
# board) never runs past 9999-12-31 or before 0001-01-01.
_EARLIEST, _LATEST = date(2, 1, 1), date(9998, 12, 31)
SEND_ACTIONS = ("pause", "resume", "cancel")
# The preview frame shows an email: its own styles and remote images, nothing that runs,
# no forms, and only the desk may frame it.
PREVIEW_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
    "font-src https: data:; form-action 'none'; base-uri 'none'; frame-ancestors 'self'; "
    "sandbox allow-popups allow-popups-to-escape-sandbox"
)


def _edition_and_day(slug: str, day: str) -> tuple[Edition, date]:
    edition = find_edition(db(), slug, now=utcnow())
    try:
        parsed = date.fromisoformat(day) if _DATE.match(day) else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise NotFound(f"{day[:20]!r} is not a date (YYYY-MM-DD)")
    if not _EARLIEST <= parsed <= _LATEST:
        raise NotFound(f"the {edition.name} has no issue on {parsed.isoformat()}")
    return edition, parsed


def _stored_issue(slug: str, day: str) -> Issue:
    """The issue an action is on, stored now if it was not yet. Raises NotFound for a
    date that is not one of the edition's issue dates."""
    edition, parsed = _edition_and_day(slug, day)
    if issue_date(edition, parsed) != parsed:
        raise NotFound(f"the {edition.name} has no issue on {parsed.isoformat()}")
    return issue_for(db(), edition, parsed, now=utcnow())


# --- the page ------------------------------------------------------------------------------


@blueprint.get("")
def issue(slug: str, day: str) -> View | Response:
    edition, parsed = _edition_and_day(slug, day)
    canonical = issue_date(edition, parsed)
    if canonical != parsed:
        return redirect(issue_url(slug, canonical), code=303)
    session, now = db(), utcnow()
    current = issue_or_draft(session, edition, parsed)
    settings = web_context().runtime.settings
    wanted = PreviewRequest.parse(request.args, settings.default_timezone)
    outcome = run_preview(edition, current, wanted) if request.args.get("preview") else None
    rows = board(session, current, now=now)
    return page(
        "desk/issue.html",
        edition=edition,
        day=parsed,
        issue=current,
        stored=current.id is not None,
        rows=rows,
        progress=issue_progress(session, current, now=now),
        audience=issue_audience(session, edition, issue_id=current.id, now=now),
        wanted=wanted,
        outcome=outcome,
        topics=list(session.scalars(select(Topic).order_by(Topic.name))),
        time_zones=time_zones(),
        curation_actions=CURATION_ACTIONS,
    )


@blueprint.get("/progress.json")
def progress_json(slug: str, day: str) -> Response:
    edition, parsed = _edition_and_day(slug, day)
    session, now = db(), utcnow()
    current = issue_or_draft(session, edition, parsed)
    found = issue_progress(session, current, now=now)
    return jsonify(
        {
            "status": current.status.value if current.id is not None else "not started",
            "total": found.total,
            "pending": found.pending,
            "sending": found.sending,
            "sent": found.sent,
            "failed": found.failed,
            "suppressed": found.suppressed,
            "cancelled": found.cancelled,
            "skipped": found.skipped,
            "per_minute": found.per_minute,
            "minutes_left": None if found.minutes_left is None else round(found.minutes_left, 1),
        }
    )


@blueprint.get("/preview.html")
def preview_frame(slug: str, day: str) -> Response:
    edition, parsed = _edition_and_day(slug, day)
    current = issue_or_draft(db(), edition, parsed)
    settings = web_context().runtime.settings
    outcome = run_preview(
        edition, current, PreviewRequest.parse(request.args, settings.default_timezone)
    )
    if outcome.email is None:
        body, status = page("desk/preview_message.html", message=outcome.message)
    else:
        body, status = outcome.email.html, 200
    response = make_response(body, status)
    response.headers["Content-Security-Policy"] = PREVIEW_POLICY
    response.headers["Cache-Control"] = "no-store"
    return response


# --- curation ------------------------------------------------------------------------------


def _article_id() -> int:
    raw = request.form.get("article_id", "")
    if not raw.isdigit() or len(raw) > 12:
        raise BadInput("choose an article from the list")
    return int(raw)


@blueprint.post("/curate")
def curate_view(slug: str, day: str) -> Response:
    action = request.form.get("action", "")
    if action not in CURATION_ACTIONS:
        raise BadInput("choose pin, unpin, drop, restore, up or down")
    article_id = _article_id()
    session, now = db(), utcnow()
    current = _stored_issue(slug, day)
    back = issue_url(slug, current.local_date)
    try:
        curate(session, current, action=action, article_id=article_id, now=now)
    except IssueError as error:
        session.rollback()
        return done(back, f"Not done: {error}.", error=True)
    record(session, actor=actor(), action=f"issue.{action}", target=f"{slug}/{day}",
           details={"article_id": article_id}, now=now)  # fmt: skip
    session.commit()
    return done(back + f"#article-{article_id}", _DONE[action])


_DONE = {
    "pin": "Pinned: it leads every reader's copy.",
    "unpin": "Unpinned.",
    "drop": "Dropped: no reader gets it in this issue.",
    "restore": "Restored.",
    "up": "Moved up.",
    "down": "Moved down.",
}


@blueprint.post("/texts")
def texts(slug: str, day: str) -> Response:
    session, now = db(), utcnow()
    current = _stored_issue(slug, day)
    back = issue_url(slug, current.local_date)
    subject, intro = request.form.get("subject", ""), request.form.get("intro", "")
    try:
        set_texts(current, subject=subject, intro=intro, now=now)
    except IssueError as error:
        session.rollback()
        return done(back, f"Not saved: {error}.", error=True)
    record(session, actor=actor(), action="issue.texts", target=f"{slug}/{day}",
           details={"subject": current.subject, "intro": current.intro}, now=now)  # fmt: skip
    session.commit()
    return done(back, "Subject and intro saved.")


@blueprint.post("/lock")
def lock_view(slug: str, day: str) -> Response:
    session, now = db(), utcnow()
    current = _stored_issue(slug, day)
    back = issue_url(slug, current.local_date)
    try:
        if request.form.get("unlock"):
            unlock(current, now=now)
            message, action = "Unlocked: new articles can get in again.", "issue.unlock"
        else:
            lock(current, selectable_ids(board(session, current, now=now)), now=now)
            message, action = "Locked: no new article gets in.", "issue.lock"
    except IssueError as error:
        session.rollback()
        return done(back, f"Not done: {error}.", error=True)
    record(session, actor=actor(), action=action, target=f"{slug}/{day}",
           details={"locked_ids": current.locked_ids}, now=now)  # fmt: skip
    session.commit()
    return done(back, message)


# --- sending -------------------------------------------------------------------------------


@blueprint.post("/send")
def send_now_view(slug: str, day: str) -> Response:
    current = _stored_issue(slug, day)
    session, context = db(), web_context()
    session.commit()  # the issue row, before another session plans it
    back = issue_url(slug, current.local_date)
    if request.form.get("confirm") != "yes":
        return done(back, "Not sent: tick the box to confirm who it goes to.", error=True)
    try:
        started = send_now(context.runtime, edition=slug, local_date=current.local_date,
                           now=utcnow(), actor=actor(), publish=context.publish)  # fmt: skip
    except IssueError as error:
        return done(back, f"Not sent: {error}.", error=True)
    if not started.planned and not started.queued:
        return done(back, "Nothing new to send: every reader of this issue has it already "
                          "(or it would be empty for them).")  # fmt: skip
    return done(back, f"Sending now: {started.planned} new, {started.queued} queued.")


@blueprint.post("/<action>")
def change(slug: str, day: str, action: str) -> Response:
    if action not in SEND_ACTIONS:
        raise NotFound("there is no such action")
    current = _stored_issue(slug, day)
    session, context = db(), web_context()
    session.commit()
    back = issue_url(slug, current.local_date)
    if action == "cancel" and request.form.get("confirm") != "yes":
        return done(back, "Tick “Yes, cancel this issue” to cancel it.", error=True)
    try:
        change_issue(context.runtime, issue_id=current.id, action=action, now=utcnow(),
                     actor=actor(), publish=context.publish)  # fmt: skip
    except IssueError as error:
        return done(back, f"Not done: {error}.", error=True)
    return done(back, _CHANGED[action])


_CHANGED = {
    "pause": "Paused: no new message leaves (at most the group in flight finishes).",
    "resume": "Resumed: the rest is on its way.",
    "cancel": "Cancelled: no more messages leave for this issue.",
}


@blueprint.post("/test-send")
def test_send(slug: str, day: str) -> Response:
    edition, parsed = _edition_and_day(slug, day)
    session, context = db(), web_context()
    settings = context.runtime.settings
    wanted = PreviewRequest.parse(request.form, settings.default_timezone)
    back = issue_url(slug, parsed, **wanted.query()) + "#preview"
    outcome = run_preview(edition, issue_or_draft(session, edition, parsed), wanted)
    if outcome.preview is None:
        return done(back, outcome.message or "No preview to send.", error=True)
    user = current_staff()
    assert user is not None
    try:
        send_test(session, runtime=context.runtime, preview=outcome.preview, recipient=user.email,
                  actor=actor(), now=utcnow())  # fmt: skip
    except DeliveryError as error:
        session.rollback()
        return done(back, f"The test could not be sent: the mail server said {error}.",
                    error=True)  # fmt: skip
    session.commit()
    return done(back, f"Test sent to {user.email}.")
