"""Rendering pages and JSON answers the same way everywhere."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from flask import Response, g, jsonify, render_template, request
from sqlalchemy import func, select

from alerts.editions.schedules import weekly_weekdays
from alerts.models import Article, article_topics
from alerts.web.context import db, web_context
from subscribers.database import utcnow
from subscribers.models import Topic
from subscribers.preferences import DEFAULT_HOUR

TOPIC_CHOICES = 24
WEEKDAYS = ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays")


def wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    settings = web_context().runtime.settings
    return (
        render_template(
            f"web/{template}",
            site_name=settings.site_name,
            site_url=settings.site_url,
            postal_address=settings.postal_address,
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
    days = [WEEKDAYS[day] for day in weekly_weekdays(db(), now=utcnow())]
    if not days:
        return "Once a week"
    if len(days) == 1:
        return f"Once a week ({days[0]})"
    return f"Weekly ({', '.join(days[:-1])} and {days[-1]})"


def minutes_label(minutes: int) -> str:
    """'hour', '2 hours', '15 minutes': how often a keyword alert may come, for a reader."""
    if minutes == 60:
        return "hour"
    if minutes % 60 == 0:
        return f"{minutes // 60} hours"
    return "minute" if minutes == 1 else f"{minutes} minutes"


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
