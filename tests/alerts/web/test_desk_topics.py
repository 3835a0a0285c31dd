"""The desk's topics page through the app: counts, rename, public or hidden on the sign-up
form, merge; bad input answered with a notice or a 4xx, never a 5xx."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from alerts.models import AuditEvent
from subscribers.models import Subscriber, Topic
from tests.alerts.web.app_support import app_session
from tests.support.builders import reader
from tests.support.staff import csrf_token


def _post(client: FlaskClient, path: str, **form: str) -> tuple[int, str]:
    answer = client.post(path, data={"csrf_token": csrf_token(client), **form})
    if answer.status_code == 303:
        return 303, client.get(answer.headers["Location"]).get_data(as_text=True)
    return answer.status_code, answer.get_data(as_text=True)


def test_a_topic_from_an_import_reaches_the_form_only_when_made_public(
    app: Flask, client: FlaskClient, editor: FlaskClient
) -> None:
    with app_session(app) as session:
        ada = reader(session, "ada@example.com", topics=("no-such-topic", "Climate"))
        reader(session, "bo@example.com", topics=("Climate",))
        session.commit()
        ada_id = ada.id
    assert "No such topic" not in client.get("/subscribe").get_data(as_text=True)
    html = editor.get("/desk/topics").get_data(as_text=True)
    assert "No such topic" in html and "hidden" in html and "2 active" in html

    _, html = _post(editor, "/desk/topics/no-such-topic/visibility", public="yes")
    assert "is offered on the sign-up form" in html
    assert "No such topic" in client.get("/subscribe").get_data(as_text=True)
    _, html = _post(editor, "/desk/topics/no-such-topic/visibility", public="no")
    assert "hidden from the sign-up form; its readers keep it" in html
    assert "No such topic" not in client.get("/subscribe").get_data(as_text=True)

    _, html = _post(editor, "/desk/topics/climate/name", name="Climate and energy")
    assert "Renamed: readers now see “Climate and energy”." in html
    _, html = _post(editor, "/desk/topics/climate/name", name="")
    assert "Give the topic a name." in html

    _, html = _post(editor, "/desk/topics/no-such-topic/merge", into="climate")
    assert "merged into “Climate and energy”: 0 readers moved." in html
    _, html = _post(editor, "/desk/topics/climate/merge", into="climate")
    assert "Choose another topic to merge into." in html
    assert _post(editor, "/desk/topics/climate/merge", into="gone")[0] == 404
    assert _post(editor, "/desk/topics/gone/name", name="x")[0] == 404
    assert _post(editor, "/desk/topics/climate/visibility", public="maybe")[0] == 400
    with app_session(app) as session:
        subscriber = session.get(Subscriber, ada_id)
        assert subscriber is not None and subscriber.topic_slugs == ["climate"]
        assert session.scalars(select(Topic.slug)).all() == ["climate"]
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.action.startswith("topic."))
        ).all()
    assert actions == ["topic.publish", "topic.hide", "topic.rename", "topic.merge"]
