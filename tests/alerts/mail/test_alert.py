"""The breaking-alert email: an article's text is shown as written, never taken for a place
where a reader's own address or links go."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.config import Settings
from alerts.digests.breaking import create_alert, plan_alert
from alerts.mail.digest import DigestComposer
from alerts.mail.rendering import default_renderer
from alerts.models import Article, Delivery
from tests.alerts.mail.test_digest import (
    NOW,
    READERS,
    assert_only_where_the_template_put_them,
    hostile_article,
    own_links,
    parts_of,
)
from tests.support.builders import reader


def test_names_of_reader_values_in_an_alerts_article_are_never_filled_in(
    session: Session, settings: Settings
) -> None:
    for address in READERS:
        reader(session, address, topics=("Chip shortage",)).breaking_alerts = True
    hostile_article(session)
    session.commit()
    article = session.scalars(select(Article)).one()
    alert = create_alert(session, article_id=article.id, created_by="cli", now=NOW)
    plan, _ = plan_alert(session, alert, now=NOW, per_day=3)
    session.commit()
    assert plan.planned == 2
    composer = DigestComposer(session, settings=settings, renderer=default_renderer())
    deliveries = session.scalars(select(Delivery).order_by(Delivery.id)).all()
    messages = {row.id: composer.compose(row).data for row in deliveries}
    links = {
        row.id: own_links(messages[row.id], row.subscriber.email, settings) for row in deliveries
    }

    for row in deliveries:
        text, html = parts_of(messages[row.id])
        others = [parts for key, parts in links.items() if key != row.id]
        assert_only_where_the_template_put_them(
            text, html, links[row.id], others, kind="breaking news alert"
        )
