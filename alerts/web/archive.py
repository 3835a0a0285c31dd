"""The public archive: every sent issue of an edition as a web page ("View in your browser"),
each edition's list of its issues, and `/archive`, the index of them all.

Nothing in it belongs to one reader: no address, no unsubscribe or preferences link, no
tracking. Links go straight to the publisher's articles. An issue appears once at least
one copy of it was sent; it lists every article any reader was sent, pinned first.
Pages may be cached by browsers and proxies for a few minutes.
"""

from __future__ import annotations

import re
from datetime import date

from flask import Blueprint, Response, make_response
from sqlalchemy import select

from alerts.editions.issues import find_issue, issue_articles
from alerts.mail.digest import time_label
from alerts.models import Edition
from alerts.results.tallies import sent_issues
from alerts.translations import format_day
from alerts.web.context import db, web_context
from alerts.web.pages import N_, page, page_language

blueprint = Blueprint("archive", __name__, url_prefix="/archive")
CACHE_CONTROL = "public, max-age=300"
LISTED_ISSUES = 100
# On the archive's front page, each edition's latest issues; its own page lists the rest.
EDITION_ISSUES = 10
NOT_FOUND = N_("There is no issue of this edition on that date, or it has not been sent yet.")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_SLUG = re.compile(r"^[a-z0-9-]{1,50}$")


def edition_by_slug(slug: str) -> Edition | None:
    """The edition an address names, or None (also for text no slug can be, such as NUL)."""
    if not _SLUG.match(slug):
        return None
    return db().scalar(select(Edition).where(Edition.slug == slug))


def _day(text: str) -> date | None:
    if not _DATE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def _cached(body: tuple[str, int]) -> Response:
    response = make_response(body)
    response.headers["Cache-Control"] = CACHE_CONTROL
    # The page is in the browser's language unless its address names one (?lang=).
    response.vary.add("Accept-Language")
    return response


def _not_found(message: str = NOT_FOUND) -> Response:
    return make_response(page("error.html", 404, message=message))


@blueprint.get("")
@blueprint.get("/")
def all_editions() -> Response:
    """The archive's front page: each edition with its latest sent issues, newest first."""
    session = db()
    editions = session.scalars(select(Edition).order_by(Edition.name))
    listed = [
        (edition, sent_issues(session, edition, limit=EDITION_ISSUES)) for edition in editions
    ]
    return _cached(page("archive_editions.html", editions=[pair for pair in listed if pair[1]]))


@blueprint.get("/<slug>")
def edition_issues(slug: str) -> Response:
    edition = edition_by_slug(slug)
    if edition is None:
        return _not_found("There is no edition at this address.")
    issues = sent_issues(db(), edition, limit=LISTED_ISSUES)
    return _cached(page("archive_index.html", edition=edition, issues=issues))


@blueprint.get("/<slug>/<day>")
def issue_page(slug: str, day: str) -> Response:
    edition, local_date = edition_by_slug(slug), _day(day)
    if edition is None or local_date is None:
        return _not_found()
    session = db()
    issue = find_issue(session, edition.id, local_date)
    articles = issue_articles(session, issue) if issue is not None else []
    if issue is None or not articles:
        return _not_found()
    zone = web_context().runtime.settings.default_timezone
    language = page_language()
    items = [
        {
            "title": article.title,
            "url": article.url,
            "section": article.section,
            "time_label": time_label(
                article, timezone=zone, local_date=local_date, language=language
            ),
            "summary_html": article.summary_html,
            "topics": [topic.name for topic in article.topics],
        }
        for article in articles
    ]
    return _cached(
        page(
            "archive.html",
            edition=edition,
            date_label=format_day(local_date, language),
            intro=issue.intro or edition.intro,
            articles=items,
        )
    )
