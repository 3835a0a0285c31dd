"""The operators' console: /ops and its JSON, the chart, failures, feeds, and the actions on
sends.

Operators and admins only (editors get 403, strangers the login page or a JSON 401); the
audit log (/ops/audit) is for admins only. Each action is a form POST (CSRF checked by
alerts.web.auth for all of /ops), written to the audit log as `user:<email>`, and answered
with a 303 back to the page it came from.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, jsonify, redirect, request, url_for
from markupsafe import Markup
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response as WerkzeugResponse

from alerts.audit import PAGE_SIZE, read, record, user_actor
from alerts.charts import minute_chart
from alerts.errors import AlertError, AlertsError, BadInput, FeedError, IssueError
from alerts.feeds.polling import add_source, feed_sources, remove_source, set_polling
from alerts.jobs import change_alert, change_issue
from alerts.ledger.queue import queue_rows
from alerts.models import AuditEvent, FeedSource, Role
from alerts.ops.console import per_minute
from alerts.ops.failures import resend_unknowns, retry_failures
from alerts.ops.figures import bars, duration, figures, layout, number, percent
from alerts.ops.status import RECENT, OpsStatus, collect_status
from alerts.web.auth import STAFF_OPS, View, current_staff, require_role, roles_required
from alerts.web.context import db, web_context
from alerts.web.ids import row_id
from alerts.web.pages import page
from subscribers.database import utcnow

blueprint = Blueprint("ops", __name__, url_prefix="/ops")
ACTIONS = ("pause", "resume", "cancel")
REFRESH_SECONDS = 5
# What an action's redirect may announce: fixed texts, never anything from the request.
NOTICES = {
    "pause": "Paused. Messages already in an SMTP exchange still finish.",
    "resume": "Resumed; its waiting messages are queued again.",
    "cancel": "Cancelled. Nothing more of it is sent.",
    "retry": "The retryable failures of that group are queued again.",
    "retry-none": "Nothing in that group could be retried.",
    "retry-unconfirmed": "Nothing was sent: tick the box beside the group to confirm how many "
    "messages go out again.",
    "resend": "The messages that may have arrived are queued again, as you confirmed.",
    "resend-none": "None of those messages could be sent again (their send is paused or "
    "cancelled, or they were sent again already).",
}
FEED_NOTICES = {
    "added": "Added: its articles are stored and it is polled from now on.",
    "interval": "Its interval is changed.",
    "removed": "Removed: it is no longer polled (its articles stay).",
}
# Seconds a feed added on the page may take to answer its first fetch.
FEED_TIMEOUT = 10.0
# The box an operator ticks to send again what may have arrived (its value, checked).
RESEND_CONFIRMATION = "send-again"


@blueprint.before_request
def _operators_only() -> WerkzeugResponse | None:
    return require_role(*STAFF_OPS)


def _status() -> OpsStatus:
    # The page refreshes every few seconds: no broadcast to the workers, no EHLO to the
    # relays (`newsalerts ops status` and /readyz keep the active checks).
    return collect_status(
        web_context().runtime,
        now=utcnow(),
        ask_workers=False,
        probe_relays=False,
        judge_relays=True,
    )


@blueprint.get("")
def console() -> View:
    status = _status()
    series = per_minute(db(), now=status.now)
    return page(
        "staff/ops/console.html",
        title="Operations",
        ops=status,
        figures=figures(status),
        bars=bars(status),
        layout=layout(status),
        chart=Markup(minute_chart(series)),
        series=series,
        notice=NOTICES.get(request.args.get("done", "")),
        error=None,
        refresh=REFRESH_SECONDS,
        duration=duration,
        number=number,
        percent=percent,
    )


@blueprint.get("/")
def console_with_slash() -> WerkzeugResponse:
    """`/ops/`, as people type it, is the console too."""
    return redirect(url_for("ops.console"), code=308)


@blueprint.get("/status.json")
def status_json() -> Response:
    """The console's figures for its script, and `ops status --json`'s document."""
    status = _status()
    return jsonify(
        status=status.as_dict(), figures=figures(status), bars=bars(status), layout=layout(status)
    )


@blueprint.get("/chart.svg")
def chart() -> Response:
    svg = minute_chart(per_minute(db(), now=utcnow()))
    return Response(svg, content_type="image/svg+xml; charset=utf-8",
                    headers={"Cache-Control": "no-store"})  # fmt: skip


@blueprint.get("/failures")
def failures() -> View:
    return _failures_page(notice=NOTICES.get(request.args.get("done", "")))


def _failures_page(*, notice: str | None, error: str | None = None, status: int = 200) -> View:
    ops = _status()
    return page(
        "staff/ops/failures.html",
        status,
        title="Failures",
        ops=ops,
        notice=notice,
        error=error,
        confirmation=RESEND_CONFIRMATION,
        duration=duration,
        number=number,
        percent=percent,
    )


@blueprint.get("/feeds")
def feeds() -> View:
    """Every feed source: its interval, its last fetch, what that skipped or why it failed."""
    return _feeds_page(notice=FEED_NOTICES.get(request.args.get("done", "")))


def _feeds_page(*, notice: str | None = None, error: str | None = None, status: int = 200,
                typed: dict[str, str] | None = None) -> View:  # fmt: skip
    return page("staff/ops/feeds.html", status, title="Feeds", sources=feed_sources(db()),
                notice=notice, error=error, typed=typed or {})  # fmt: skip


def _minutes(raw: str | None) -> int:
    text = (raw or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 6:
        raise BadInput("every: give the minutes between fetches as a whole number")
    return int(text)


def _feed(feed_id: int) -> FeedSource:
    source = db().get(FeedSource, feed_id)
    if source is None:
        raise NotFound("there is no such feed source")
    return source


@blueprint.post("/feeds")
def add_feed() -> View:
    """Fetch and read the feed once; save it only if that worked, else say why."""
    url = (request.form.get("url") or "").strip()[:2000]
    typed = {"url": url, "every": (request.form.get("every") or "")[:6]}
    session, now = db(), utcnow()
    settings = web_context().runtime.settings
    try:
        minutes = _minutes(request.form.get("every"))
        add_source(session, url=url, minutes=minutes, now=now, timeout=FEED_TIMEOUT,
                   allow_private=settings.feeds_allow_private)  # fmt: skip
    except (AlertsError, BadInput) as problem:
        session.rollback()
        reason = problem.reason if isinstance(problem, FeedError) else str(problem)
        return _feeds_page(error=f"Not added: {reason}.", status=422, typed=typed)
    record(session, actor=_actor(), action="feed.added", target=url,
           details={"every": minutes}, now=now)  # fmt: skip
    session.commit()
    return redirect(url_for("ops.feeds", done="added"), code=303)


@blueprint.post("/feeds/<id:feed_id>/interval")
def change_feed_interval(feed_id: int) -> View:
    source, session, now = _feed(feed_id), db(), utcnow()
    try:
        minutes = _minutes(request.form.get("every"))
        set_polling(session, url=source.url, minutes=minutes, now=now)
    except (AlertsError, BadInput) as problem:
        session.rollback()
        return _feeds_page(error=f"Not changed: {problem}.", status=422)
    record(session, actor=_actor(), action="feed.interval", target=source.url,
           details={"every": minutes}, now=now)  # fmt: skip
    session.commit()
    return redirect(url_for("ops.feeds", done="interval"), code=303)


@blueprint.post("/feeds/<id:feed_id>/remove")
def remove_feed(feed_id: int) -> View:
    source, session = _feed(feed_id), db()
    url = source.url
    remove_source(session, url=url)
    record(session, actor=_actor(), action="feed.removed", target=url, now=utcnow())
    session.commit()
    return redirect(url_for("ops.feeds", done="removed"), code=303)


def _actor() -> str:
    user = current_staff()
    assert user is not None  # the console's guard let the request in
    return user_actor(user)


@blueprint.get("/audit")
@roles_required(Role.ADMIN)
def audit_log() -> View:
    """The audit log, a page at a time: `?before=<event id>` reads the page after it."""
    actor = (request.args.get("actor") or "").strip()[:300]
    raw_before = request.args.get("before", "")
    before = row_id(raw_before)
    if raw_before and before is None:
        raise BadInput("before must be the id of an event (a whole number)")
    found = read(db(), limit=PAGE_SIZE, actor=actor or None, before=before)
    return page(
        "staff/ops/audit.html",
        title="Audit log",
        events=found.events,
        older=found.older,
        actor=actor,
        before=before,
        details=_details,
    )


def _details(event: AuditEvent) -> str:
    """The details as readable JSON text (the template escapes it)."""
    return json.dumps(event.details, ensure_ascii=False, sort_keys=True)


@blueprint.post("/<any(issues, alerts):kind>/<id:send_id>/<action>")
def change_send(kind: str, send_id: int, action: str) -> View:
    """Pause, resume or cancel an issue's or a breaking alert's send."""
    if action not in ACTIONS:
        raise NotFound()
    user = current_staff()
    assert user is not None  # require_role let the request in
    context, actor = web_context(), user_actor(user)
    try:
        if kind == "issues":
            change_issue(context.runtime, issue_id=send_id, action=action, now=utcnow(),
                         actor=actor, publish=context.publish)  # fmt: skip
        else:
            change_alert(context.runtime, alert_id=send_id, action=action, now=utcnow(),
                         actor=actor, publish=context.publish)  # fmt: skip
    except (IssueError, AlertError) as error:
        return _console_error(str(error))
    return redirect(url_for("ops.console", done=action), code=303)


@blueprint.post("/failures/retry")
def retry() -> View:
    user = current_staff()
    assert user is not None
    reply_code = (request.form.get("reply_code") or "")[:10]
    domain = (request.form.get("domain") or "")[:254]
    if not (reply_code + domain).isprintable():  # a NUL or a control: no group has it
        raise BadInput("reply_code and domain must be the ones of a group of failures")
    if request.form.get("confirm") != "yes":  # the box that says how many go out again
        return redirect(url_for("ops.failures", done="retry-unconfirmed"), code=303)
    context = web_context()
    session, now = db(), utcnow()
    # Unknowns are never in a group's retry: `resend_unknown` takes them, when confirmed.
    ids = retry_failures(session, reply_code=reply_code, domain=domain, since=now - RECENT)
    record(session, actor=user_actor(user), action="deliveries.retry",
           target=f"failed/{reply_code}/{domain}", details={"rows": len(ids)},
           now=now)  # fmt: skip
    session.commit()
    if ids:
        # By send, a breaking alert's rows to the urgent queue.
        queue_rows(session, ids, batch_size=context.runtime.settings.batch_size,
                   publish=context.publish)  # fmt: skip
    done = "retry" if ids else "retry-none"
    return redirect(url_for("ops.failures", done=done), code=303)


@blueprint.post("/failures/resend-unknown")
def resend_unknown() -> View:
    """Send again the messages that may have arrived, once the operator ticked the box.

    `up_to` is the newest row the page listed, so rows that became unknown after the
    operator looked are not taken without being seen."""
    user = current_staff()
    assert user is not None
    up_to = row_id(request.form.get("up_to", ""))
    if up_to is None:
        raise BadInput("up_to must be the id of the newest message listed (a whole number)")
    if request.form.get("confirm") != RESEND_CONFIRMATION:
        message = (
            "Nothing was sent. Tick the box to confirm that these readers may get the "
            "message twice."
        )
        return _failures_page(notice=None, error=message, status=400)
    context = web_context()
    session, now = db(), utcnow()
    ids = resend_unknowns(session, since=now - RECENT, up_to=up_to)
    record(session, actor=user_actor(user), action="deliveries.resend-unknown",
           target=f"unknown/up-to/{up_to}", details={"rows": len(ids), "confirmed": True},
           now=now)  # fmt: skip
    session.commit()
    if ids:
        queue_rows(session, ids, batch_size=context.runtime.settings.batch_size,
                   publish=context.publish)  # fmt: skip
    done = "resend" if ids else "resend-none"
    return redirect(url_for("ops.failures", done=done), code=303)


def _console_error(message: str) -> View:
    status = _status()
    return page(
        "staff/ops/console.html",
        409,
        title="Operations",
        ops=status,
        figures=figures(status),
        bars=bars(status),
        layout=layout(status),
        chart=Markup(minute_chart(per_minute(db(), now=status.now))),
        notice=None,
        error=message,
        refresh=REFRESH_SECONDS,
        duration=duration,
        number=number,
        percent=percent,
    )
