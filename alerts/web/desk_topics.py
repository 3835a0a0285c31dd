"""The desk's topics: follower counts, renaming, public or hidden on the sign-up form, and
merging one topic into another. Editors and admins (alerts.web.desk.guard_desk); every
POST is audited by the function it calls and answered with a 303 and a notice."""

from __future__ import annotations

from flask import Blueprint, request, url_for

from alerts.desk.topics import find_topic, merge_topics, rename_topic, set_public, topic_rows
from alerts.errors import BadInput
from alerts.web.context import db
from alerts.web.desk import View, actor, done, guard_desk
from alerts.web.pages import page
from subscribers.database import utcnow

blueprint = Blueprint("desk_topics", __name__, url_prefix="/desk/topics")
guard_desk(blueprint)


def _sentence(error: BadInput) -> str:
    return error.message[:1].upper() + error.message[1:] + "."


@blueprint.get("")
def topics() -> View:
    return page("desk/topics.html", rows=topic_rows(db()))


def _back(slug: str) -> str:
    return url_for("desk_topics.topics") + f"#topic-{slug}"


@blueprint.post("/<slug>/name")
def rename(slug: str) -> View:
    session = db()
    topic = find_topic(session, slug)
    try:
        rename_topic(session, topic, request.form.get("name", ""), actor=actor(), now=utcnow())
    except BadInput as error:
        session.rollback()
        return done(_back(slug), _sentence(error), error=True)
    session.commit()
    return done(_back(slug), f"Renamed: readers now see “{topic.name}”.")


@blueprint.post("/<slug>/visibility")
def visibility(slug: str) -> View:
    session = db()
    topic = find_topic(session, slug)
    wanted = request.form.get("public")
    if wanted not in ("yes", "no"):
        raise BadInput("choose whether the topic is public")
    set_public(session, topic, wanted == "yes", actor=actor(), now=utcnow())
    session.commit()
    if topic.public:
        return done(_back(slug), f"“{topic.name}” is offered on the sign-up form.")
    return done(
        _back(slug), f"“{topic.name}” is hidden from the sign-up form; its readers keep it."
    )


@blueprint.post("/<slug>/merge")
def merge(slug: str) -> View:
    session = db()
    source = find_topic(session, slug)
    into_slug = request.form.get("into", "")
    if not into_slug:
        return done(_back(slug), "Choose the topic to merge into.", error=True)
    into = find_topic(session, into_slug)
    name, into_name = source.name, into.name
    try:
        moved = merge_topics(session, source, into, actor=actor(), now=utcnow())
    except BadInput as error:
        session.rollback()
        return done(_back(slug), _sentence(error), error=True)
    session.commit()
    readers = "reader" if moved == 1 else "readers"
    return done(_back(into_slug),
                f"“{name}” merged into “{into_name}”: {moved} {readers} moved.")  # fmt: skip
