"""The Celery application's schedule and routes."""

from __future__ import annotations

from alerts.config import Settings
from alerts.tasks.app import KEYWORD_ALERTS, TICK_SECONDS, URGENT_QUEUE, create_celery


def test_keyword_alerts_are_planned_every_minute_on_the_urgent_queue(settings: Settings) -> None:
    app = create_celery(settings)
    try:
        entry = app.conf.beat_schedule["keyword-alerts"]
        assert (entry["task"], entry["schedule"]) == (KEYWORD_ALERTS, TICK_SECONDS)
        # A tick nobody took within its minute is dropped: the next one reads from the mark.
        assert entry["options"]["expires"] <= TICK_SECONDS
        assert app.conf.task_routes[KEYWORD_ALERTS] == {"queue": URGENT_QUEUE}
        assert KEYWORD_ALERTS in app.tasks or "alerts.tasks.handlers" in app.conf.include
    finally:
        app.close()
