"""Rendering pages and JSON answers the same way everywhere, in the reader's language."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from babel.dates import format_skeleton
from flask import Response, g, jsonify, render_template, request
from sqlalchemy import func, select
from werkzeug.exceptions import HTTPException

from alerts.editions.schedules import weekly_weekdays
from alerts.mail.branding import brand_of
from alerts.models import Article, article_topics
from alerts.translations import format_clock, locale_of, translation_context, translations_for
from alerts.web.context import db, web_context
from subscribers.database import utcnow
from subscribers.languages import SHIPPED_LANGUAGES, shipped_language
from subscribers.models import Topic
from subscribers.preferences import DEFAULT_HOUR

TOPIC_CHOICES = 24


def N_(message: str) -> str:
    """Marks text for the catalog that is translated later, where it is shown."""
    return message


# How the forms say "on Mondays": each translated whole ("montags", "le lundi").
WEEKDAYS = (
    N_("Mondays"), N_("Tuesdays"), N_("Wednesdays"), N_("Thursdays"), N_("Fridays"),
    N_("Saturdays"), N_("Sundays")
)  # fmt: skip


def wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def browser_language() -> str | None:
    """The shipped language the browser prefers most (Accept-Language), if any."""
    return request.accept_languages.best_match(SHIPPED_LANGUAGES)


def asked_language() -> str | None:
    """The language a sign-up page or form asks for: the embed's `lang` (in the address of
    the snippet or the iframe) or the form's `language` field, if shipped."""
    return shipped_language(request.args.get("lang")) or shipped_language(_form_language())


def _form_language() -> str | None:
    if request.method != "POST" or request.is_json:
        return None
    try:
        return request.form.get("language")
    except HTTPException:  # the body itself is the error being answered (too large)
        return None


def page_language() -> str:
    """The language of the page being answered: the reader's own on their links (the link
    views set `g.reader_language`), else the one the page asks for, else the browser's,
    else the site's."""
    return (
        g.get("reader_language")
        or asked_language()
        or browser_language()
        or web_context().runtime.settings.default_language
    )


def translate(message: str, **values: Any) -> str:
    """A message of a view's in the page's language, `%(name)s` filled from `values`."""
    text = translations_for(page_language()).gettext(message)
    return text % values if values else text


# What a reader is asked to fix, by the field at fault: a validation error's own wording
# is English with values spliced in, which no catalog can hold. English pages keep that
# precise wording; the others say this, in their language.
_FIELD_ERRORS = {
    "email": N_("Please check the email address: it is not one we can send to."),
    "topics": N_("Please choose your topics from the list."),
    "frequency": N_("Please choose daily or weekly."),
    "timezone": N_("Please choose your time zone from the list."),
    "hour": N_("Please choose an hour from the list."),
    "keywords": N_(
        "Please check your keywords: a few words each, with a letter or digit, and not too "
        "many of them."
    ),
    "language": N_("Please choose a language from the list."),
    "pause": N_("Please choose how many weeks to pause."),
}
_ANY_FIELD_ERROR = N_("Please check what you entered.")


def field_error(field: str | None, english: str) -> str:
    """What a reader's page says of a value it refused: `english` on an English page, else
    the field's own sentence in the page's language."""
    language = page_language()
    if language.split("-")[0] == "en":
        return english
    return translations_for(language).gettext(_FIELD_ERRORS.get(field or "", _ANY_FIELD_ERROR))


def page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    settings = web_context().runtime.settings
    language = page_language()
    # A view's own message (marked with N_ where it is written) in the page's language;
    # one with values in it (a validation error's) stays as it is if the catalog lacks it.
    gettext = translations_for(language).gettext
    for name in ("message", "error"):
        if isinstance(context.get(name), str):
            context[name] = gettext(context[name])
    return (
        render_template(
            f"web/{template}",
            **translation_context(language),
            language=language,
            site_name=settings.site_name,
            site_url=settings.site_url,
            postal_address=settings.postal_address,
            brand=brand_of(settings),
            csp_nonce=g.get("csp_nonce", ""),
            **context,
        ),
        status,
    )


def json_error(status: int, field: str | None, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"field": field, "message": message}}), status


def topic_choices(followed: Iterable[Topic] = ()) -> list[Topic]:
    """The topics a sign-up form offers: the public ones with the most articles, then the
    rest; and on a reader's own form, the topics they follow, public or not (saving the form
    must not drop them)."""
    session = db()
    counts = (
        select(article_topics.c.topic_id, func.count().label("articles"))
        .join(Article, Article.id == article_topics.c.article_id)
        .group_by(article_topics.c.topic_id)
        .subquery()
    )
    query = (
        select(Topic)
        .outerjoin(counts, counts.c.topic_id == Topic.id)
        .where(Topic.public.is_(True))
        .order_by(func.coalesce(counts.c.articles, 0).desc(), Topic.name)
        .limit(TOPIC_CHOICES)
    )
    choices = list(session.scalars(query))
    offered = {topic.id for topic in choices}
    return choices + [topic for topic in followed if topic.id not in offered]


@lru_cache(maxsize=1)
def time_zones() -> list[str]:
    """The zones the desk's and the preferences' pickers offer: the places, and UTC."""
    return sorted(zone for zone in available_timezones() if "/" in zone or zone == "UTC")


def weekly_choice() -> str:
    """How the forms name the weekly choice: with the day(s) the weekly edition goes out."""
    days = [translate(WEEKDAYS[day]) for day in weekly_weekdays(db(), now=utcnow())]
    if not days:
        return translate("Once a week")
    if len(days) == 1:
        return translate("Once a week (%(day)s)", day=days[0])
    return translate("Weekly (%(days)s and %(last)s)", days=", ".join(days[:-1]), last=days[-1])


def form_context(values: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the sign-up form needs: topics, a fresh stamp, and the values to show again."""
    values = values or {}
    return {
        "topics": topic_choices(),
        "form_stamp": web_context().guard.form_stamp(),
        "action": web_context().runtime.settings.base_url + "/subscribe",
        "values": {
            "email": values.get("email") or "",
            "topics": set(values.get("topics") or []),
            "frequency": values.get("frequency") or "daily",
            "timezone": values.get("timezone") or "",
            "hour": str(values.get("hour") or DEFAULT_HOUR),
            "keyword_alerts": bool(values.get("keyword_alerts")),
        },
        "hours": range(24),
        "weekly_choice": weekly_choice(),
    }


def first_digest_words(first: datetime, *, now: datetime, timezone: str) -> str:
    """When a new reader's first digest goes out, in the page's language and the reader's
    zone: 'today at 07:00 (Europe/Paris time)', 'on Tuesday 10 March at 07:00 (...)'."""
    language = page_language()
    local = first.astimezone(ZoneInfo(timezone))
    today = now.astimezone(local.tzinfo).date()
    clock = format_clock(local, language)
    if local.date() == today:
        return translate("today at %(time)s (%(zone)s time)", time=clock, zone=timezone)
    if (local.date() - today).days == 1:
        return translate("tomorrow at %(time)s (%(zone)s time)", time=clock, zone=timezone)
    day = format_skeleton("MMMMEEEEd", local.date(), locale=locale_of(language))
    return translate("on %(day)s at %(time)s (%(zone)s time)", day=day, time=clock, zone=timezone)
