"""/metrics is served by the web app in Prometheus text format."""

from __future__ import annotations

from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families


def test_metrics_endpoint(client: FlaskClient) -> None:
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.content_type.startswith("text/plain")
    families = {family.name for family in text_string_to_metric_families(answer.get_data(True))}
    assert {"newsalerts_deliveries", "newsalerts_oldest_pending_delivery_age_seconds"} <= families
