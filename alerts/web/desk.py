"""The editors' desk: the overview, the editions' settings, breaking alerts.

Every page needs an editor or an admin. Each POST is CSRF-checked (alerts.web.auth),
audited, and answered with a 303 back to a page that shows what happened; bad input gets
a 400 or 404 page, never a 5xx. The issue pages live in alerts.web.desk_issues.
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, Flask, flash, jsonify, redirect, request, url_for
from sqlalchemy import select
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from alerts.audit import record, user_actor
from alerts.desk.board import (
    alerted_article_ids,
    edition_rows,
    find_edition,
    latest_articles,
    recent_alerts_with_progress,
)
from alerts.desk.keywords import most_followed_keywords
from alerts.digests.breaking import alert_audience
from alerts.digests.selection import local_today
from alerts.editions.schedules import EditionInput, create_edition, update_edition
from alerts.editions.subjects import preview_subject
from alerts.errors import AlertError, BadInput, EditionError, NotFound
from alerts.jobs import start_alert
from alerts.models import (
    DEFAULT_EDITION_IMAGES,
    DEFAULT_SUBJECT,
    DEFAULT_SUMMARY_CHARS,
    Article,
    Cadence,
    Edition,
    EditionImages,
)
from alerts.web.auth import STAFF_DESK, current_staff, require_role
from alerts.web.context import db, web_context
from alerts.web.pages import page
from subscribers.database import utcnow
from subscribers.models import Topic

blueprint = Blueprint("desk", __name__, url_prefix="/desk")
View = tuple[str, int] | Response
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
IMAGE_CHOICES = (
    (
        EditionImages.LEAD_AND_THUMBNAILS.value,
        "The top story's image, and thumbnails beside the others",
    ),
    (EditionImages.LEAD.value, "The top story's image only"),
    (EditionImages.NONE.value, "No images"),
)


def guard_desk(area: Blueprint) -> None:
    """Editors and admins only, and no NUL in any field, on a desk blueprint. The desk's
    error pages (a 404 for EditionNotFound or NotFound, a 400 for BadInput) are the app's
    error map's (alerts.web.errors)."""
    area.before_request(lambda: require_role(*STAFF_DESK))
    area.before_request(_refuse_nul)


def _refuse_nul() -> None:
    """No text field takes a NUL (PostgreSQL cannot store one): refuse it up front."""
    values = [*request.args.values(), *(v for _, v in request.form.items(multi=True))]
    if any("\x00" in value for value in values):
        raise BadInput("a field holds a character that text cannot contain")


guard_desk(blueprint)


def actor() -> str:
    user = current_staff()
    assert user is not None  # require_role let the request in
    return user_actor(user)


def done(target: str, message: str, *, error: bool = False) -> Response:
    """The answer to a POST: back to `target`, with a notice shown there once."""
    flash(message, "error" if error else "notice")
    return redirect(target, code=303)


def today() -> date:
    return local_today(utcnow(), web_context().runtime.settings.default_timezone)


def weekday_name(index: int | None) -> str:
    return "" if index is None else WEEKDAYS[index]


def long_date(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}"


def short_date(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def desk_time(moment: datetime) -> str:
    """A moment in the publisher's time zone, as the desk shows it."""
    zone = ZoneInfo(web_context().runtime.settings.default_timezone)
    local = moment.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b}, {local:%H:%M}"


def register_template_helpers(app: Flask) -> None:
    for helper in (weekday_name, long_date, short_date, desk_time):
        app.add_template_global(helper, helper.__name__)


# --- the overview ------------------------------------------------------------------------


@blueprint.get("")
def overview() -> View:
    session, now = db(), utcnow()
    articles = latest_articles(session, now=now)
    rows = edition_rows(session, now=now, today=today())
    session.commit()  # list_editions makes the two default editions on a fresh store
    return page(
        "desk/overview.html",
        editions=rows,
        alerts=recent_alerts_with_progress(session, now=now),
        articles=articles,
        alerted=alerted_article_ids(session, [article.id for article in articles]),
        today=today(),
        keywords=most_followed_keywords(session, since=_start_of(today())),
    )


@blueprint.get("/")
def overview_with_slash() -> Response:
    """`/desk/`, as people type it, is the overview too."""
    return redirect(url_for("desk.overview"), code=308)


def _start_of(day: date) -> datetime:
    """The first moment of `day` in the publisher's time zone."""
    return datetime.combine(day, time(), ZoneInfo(web_context().runtime.settings.default_timezone))


# --- editions ----------------------------------------------------------------------------


def _all_topics() -> list[Topic]:
    return list(db().scalars(select(Topic).order_by(Topic.name)))


def _integer(form: MultiDict[str, str], field: str, message: str) -> int | None:
    raw = (form.get(field) or "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 4:
        raise EditionError(field, message)
    return int(raw)


def edition_input(form: MultiDict[str, str]) -> EditionInput:
    """The edition a submitted form describes. Raises EditionError naming the field."""
    try:
        cadence = Cadence(form.get("cadence", ""))
    except ValueError:
        raise EditionError("cadence", "choose daily or weekly") from None
    max_articles = _integer(form, "max_articles", "give a whole number of articles")
    summary_chars = _integer(form, "summary_chars", "give a whole number of characters")
    try:
        images = EditionImages(form.get("images") or DEFAULT_EDITION_IMAGES)
    except ValueError:
        raise EditionError("images", "choose which images the digest shows") from None
    return EditionInput(
        name=form.get("name", ""),
        cadence=cadence,
        weekday=_integer(form, "weekday", "choose a day from Monday to Sunday"),
        send_hour=_integer(form, "send_hour", "choose an hour from 0 to 23"),
        subject_template=form.get("subject_template", ""),
        intro=form.get("intro", ""),
        max_articles=25 if max_articles is None else max_articles,
        summary_chars=DEFAULT_SUMMARY_CHARS if summary_chars is None else summary_chars,
        images=images,
        topic_slugs=tuple(dict.fromkeys(form.getlist("topics"))),
        click_tracking=bool(form.get("click_tracking")),
        open_tracking=bool(form.get("open_tracking")),
        active=bool(form.get("active")),
    )


_TEXT_FIELDS = ("name", "cadence", "weekday", "send_hour", "subject_template", "intro",
                "max_articles", "summary_chars", "images")  # fmt: skip


def _values_of(edition: Edition) -> dict[str, Any]:
    return {
        "name": edition.name,
        "cadence": edition.cadence.value,
        "weekday": "" if edition.weekday is None else str(edition.weekday),
        "send_hour": "" if edition.send_hour is None else str(edition.send_hour),
        "subject_template": edition.subject_template,
        "intro": edition.intro,
        "max_articles": str(edition.max_articles),
        "summary_chars": str(edition.summary_chars),
        "images": edition.images.value,
        "topics": {topic.slug for topic in edition.topics},
        "click_tracking": edition.click_tracking,
        "open_tracking": edition.open_tracking,
        "active": edition.active,
    }


def _values_from(form: MultiDict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {key: form.get(key, "") for key in _TEXT_FIELDS}
    values["topics"] = set(form.getlist("topics"))
    for flag in ("click_tracking", "open_tracking", "active"):
        values[flag] = bool(form.get(flag))
    values["slug"] = form.get("slug", "")
    return values


def _edition_form(
    edition: Edition | None, values: dict[str, Any], status: int = 200,
    error: EditionError | None = None,
) -> View:  # fmt: skip
    return page(
        "desk/edition_form.html",
        status,
        edition=edition,
        values=values,
        errors={error.field: error.message} if error else {},
        topics=_all_topics(),
        today=today(),
        weekdays=list(enumerate(WEEKDAYS)),
        hours=range(24),
        image_choices=IMAGE_CHOICES,
    )


@blueprint.get("/editions/new")
def new_edition() -> View:
    defaults: dict[str, Any] = {
        "name": "", "slug": "", "cadence": "daily", "weekday": "", "send_hour": "",
        "subject_template": DEFAULT_SUBJECT, "intro": "", "max_articles": "25",
        "summary_chars": str(DEFAULT_SUMMARY_CHARS), "images": DEFAULT_EDITION_IMAGES.value,
        "topics": set(), "click_tracking": False, "open_tracking": False, "active": True,
    }  # fmt: skip
    return _edition_form(None, defaults)


@blueprint.post("/editions/new")
def create_edition_view() -> View:
    session, now, form = db(), utcnow(), request.form
    try:
        edition = create_edition(session, slug=form.get("slug", ""), data=edition_input(form),
                                 now=now)  # fmt: skip
    except EditionError as error:
        session.rollback()
        return _edition_form(None, _values_from(form), 400, error)
    record(session, actor=actor(), action="edition.create", target=f"edition/{edition.slug}",
           details=_audit_values(edition), now=now)  # fmt: skip
    session.commit()
    return done(url_for("desk.edition", slug=edition.slug), f"Edition “{edition.name}” created.")


@blueprint.get("/subject-preview")
def subject_preview() -> tuple[Response, int]:
    """The live preview of a subject as an editor types it: `template`, for an edition
    named `edition` (and, on an issue's page, led by its `lead`). JSON: `subject`, or
    `error` with a 400. Reads nothing and changes nothing, so a GET."""
    args = request.args
    try:
        subject = preview_subject(
            args.get("template", "")[:1000],
            edition=args.get("edition", "")[:200],
            lead=args.get("lead", "")[:1000] or None,
        )
    except EditionError as error:
        return jsonify(error=error.message), 400
    return jsonify(subject=subject), 200


@blueprint.get("/editions/<slug>")
def edition(slug: str) -> View:
    found = find_edition(db(), slug, now=utcnow())
    return _edition_form(found, _values_of(found))


@blueprint.post("/editions/<slug>")
def update_edition_view(slug: str) -> View:
    session, now, form = db(), utcnow(), request.form
    found = find_edition(session, slug, now=now)
    before = _audit_values(found)
    try:
        update_edition(session, found, data=edition_input(form), now=now)
    except EditionError as error:
        session.rollback()
        found = find_edition(session, slug, now=now)
        return _edition_form(found, _values_from(form), 400, error)
    after = _audit_values(found)
    changed = {key: after[key] for key in after if after[key] != before.get(key)}
    record(session, actor=actor(), action="edition.update", target=f"edition/{slug}",
           details=changed, now=now)  # fmt: skip
    session.commit()
    return done(url_for("desk.edition", slug=slug), "Edition saved.")


def _audit_values(edition: Edition) -> dict[str, Any]:
    values = _values_of(edition)
    values["topics"] = sorted(values["topics"])
    return values


# --- breaking alerts ---------------------------------------------------------------------


def _article(raw: str) -> Article:
    if not raw.isdigit() or len(raw) > 12:
        raise BadInput("choose an article from the list")
    article = db().get(Article, int(raw))
    if article is None:
        raise NotFound(f"there is no article {raw}")
    return article


@blueprint.get("/alerts/new/<article_id>")
def confirm_alert(article_id: str) -> View:
    article = _article(article_id)
    alerted = alerted_article_ids(db(), [article.id])
    per_day = web_context().runtime.settings.alerts_per_day
    audience = alert_audience(db(), article.id, now=utcnow(), per_day=per_day)
    return page("desk/alert_confirm.html", article=article, alerted=bool(alerted),
                alerts_per_day=per_day, audience=audience)  # fmt: skip


@blueprint.post("/alerts")
def send_alert() -> View:
    raw = request.form.get("article_id", "")
    if not raw.isdigit() or len(raw) > 12:
        raise BadInput("choose an article from the list")
    if request.form.get("confirm") != "yes":
        return done(url_for("desk.confirm_alert", article_id=raw),
                    "Tick the box to confirm the alert.", error=True)  # fmt: skip
    context = web_context()
    try:
        started = start_alert(context.runtime, article_id=int(raw), now=utcnow(), actor=actor(),
                              publish=context.publish)  # fmt: skip
    except AlertError as error:
        return done(url_for("desk.overview"), f"No alert sent: {error}.", error=True)
    readers = "reader" if started.planned == 1 else "readers"
    return done(url_for("desk.overview") + "#alerts",
                f"Breaking alert on its way to {started.planned} {readers}.")  # fmt: skip


def issue_url(slug: str, day: date, **query: Any) -> str:
    return url_for("desk_issues.issue", slug=slug, day=day.isoformat(), **query)
