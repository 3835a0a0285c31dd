"""Results in the editors' desk: `/desk/results/...`, for editors and admins.

- `/desk/results`: each edition's recent issues with their counts, and recent alerts;
- `/desk/results/<slug>`: which stories the edition's readers chose over its last issues;
- `/desk/results/<slug>/<YYYY-MM-DD>`: one issue's counts and articles, with charts;
- `/desk/results/alert/<id>`: one breaking alert's counts.

Read-only views over alerts.results.tallies; charts are inline SVG (alerts.charts).
"""

from __future__ import annotations

import re
from datetime import date

from flask import Blueprint, make_response
from werkzeug.wrappers import Response

from alerts.charts import bar_chart
from alerts.editions.issues import find_issue
from alerts.editions.schedules import list_editions
from alerts.models import BreakingAlert, Edition
from alerts.results.tallies import (
    Tally,
    alert_results,
    clicks_per_day,
    issue_results,
    issue_summaries,
    reader_choices,
    recent_alerts,
    sent_issues,
)
from alerts.web.archive import edition_by_slug
from alerts.web.auth import STAFF_DESK, require_role
from alerts.web.context import db, web_context
from alerts.web.pages import page
from subscribers.database import utcnow

blueprint = Blueprint("results", __name__, url_prefix="/desk/results")
RECENT_ISSUES = 7
CHOICE_ISSUES = 10
DAYS = 30
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
View = tuple[str, int] | Response


@blueprint.before_request
def _editors_only() -> Response | None:
    return require_role(*STAFF_DESK)


def _not_found(message: str) -> View:
    return make_response(page("staff/error.html", 404, title="Not found", message=message))


def _position_chart(positions: list[Tally], description: str) -> object:
    return bar_chart(
        [(tally.label, tally.clicks) for tally in positions],
        title="Clicks per position",
        description=description,
    )


def _days_chart(edition: Edition) -> object:
    zone = web_context().runtime.settings.default_timezone
    days = clicks_per_day(db(), edition, now=utcnow(), days=DAYS, timezone=zone)
    return bar_chart(
        [(date.fromisoformat(day.label).strftime("%d %b"), day.clicks) for day in days],
        title="Clicks per day",
        description=f"Clicks on {edition.name} on each of the last {DAYS} days, oldest first.",
        label_every=5,
    )


@blueprint.get("")
def overview() -> View:
    session = db()
    editions = list_editions(session, now=utcnow())
    session.commit()
    rows = [
        (edition, issue_summaries(session, sent_issues(session, edition, limit=RECENT_ISSUES)))
        for edition in editions
    ]
    alerts = [(alert, alert_results(session, alert)) for alert in recent_alerts(session)]
    return page("staff/results/index.html", editions=rows, alerts=alerts)


@blueprint.get("/<slug>")
def edition_choices(slug: str) -> View:
    edition = edition_by_slug(slug)
    if edition is None:
        return _not_found("There is no such edition.")
    choices = reader_choices(db(), edition, last=CHOICE_ISSUES)
    return page(
        "staff/results/edition.html",
        edition=edition,
        choices=choices,
        position_chart=_position_chart(
            choices.positions,
            f"Clicks on each position of {edition.name} over its last "
            f"{len(choices.issues)} issues; the first position is the top story.",
        ),
        days_chart=_days_chart(edition),
    )


@blueprint.get("/<slug>/<day>")
def issue_page(slug: str, day: str) -> View:
    edition = edition_by_slug(slug)
    local_date = date.fromisoformat(day) if _DATE.match(day) and _valid(day) else None
    if edition is None or local_date is None:
        return _not_found("There is no such issue.")
    session = db()
    issue = find_issue(session, edition.id, local_date)
    if issue is None:
        return _not_found("There is no such issue.")
    results = issue_results(session, issue)
    return page(
        "staff/results/issue.html",
        edition=edition,
        issue=issue,
        results=results,
        position_chart=_position_chart(
            results.positions,
            f"Clicks on each position of the {local_date} issue; 1 is the top story.",
        ),
        days_chart=_days_chart(edition),
    )


@blueprint.get("/alert/<id:alert_id>")
def alert_page(alert_id: int) -> View:
    alert = db().get(BreakingAlert, alert_id)
    if alert is None:
        return _not_found("There is no such alert.")
    return page("staff/results/alert.html", alert=alert, results=alert_results(db(), alert))


def _valid(day: str) -> bool:
    try:
        date.fromisoformat(day)
    except ValueError:
        return False
    return True
