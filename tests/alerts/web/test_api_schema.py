"""The publisher API against its own OpenAPI description: every operation, generated input
(valid and invalid), a token of every scope, and never a 5xx.

The description is read from the app itself (/api/v1/openapi.json), so a route it leaves
out or describes wrongly shows here. The examples per operation are few, so the run stays
short; under CI the Hypothesis profile "ci" (tests/conftest.py) derandomises it. For a
longer exploratory run, set FUZZ_EXAMPLES (e.g. FUZZ_EXAMPLES=2000). What a run finds is
fixed and kept as an explicit test beside the route's own tests (test_api.py,
test_api_subscribers.py, test_api_editions.py, test_tracking.py).
"""

from __future__ import annotations

import os

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.generation.case import Case
from schemathesis.openapi import from_wsgi

from alerts.access.tokens import SCOPES, create_token
from alerts.web import app as _app  # noqa: F401  (every API module adds its paths on import)
from alerts.web.openapi import OPENAPI
from subscribers.database import utcnow
from subscribers.topics import ensure_topics
from tests.alerts.web.app_support import app_session

EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "25"))
OPERATIONS = sorted(
    (path, method)
    for path, operations in OPENAPI["paths"].items()
    for method in operations
    if method != "parameters"
)


@pytest.fixture
def every_scope(app: Flask) -> dict[str, str]:
    """A token that may do everything, confirmed imports included."""
    with app_session(app) as session:
        ensure_topics(session, ["Business", "Chip shortage"], public=True)
        value = create_token(
            session, name="everything", scopes=list(SCOPES), can_import_confirmed=True,
            now=utcnow(),
        )  # fmt: skip
        session.commit()
    return {"Authorization": f"Bearer {value}"}


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_no_operation_answers_a_server_error(
    app: Flask, every_scope: dict[str, str], path: str, method: str
) -> None:
    """Input that fits the description and input that does not, as schemathesis makes it."""
    operation = from_wsgi("/api/v1/openapi.json", app)[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck)
    )
    @given(case=cases)
    def call(case: Case) -> None:
        case.call_and_validate(headers=every_scope, checks=[not_a_server_error])

    call()


def test_the_description_names_every_api_route(app: Flask, client: FlaskClient) -> None:
    described = client.get("/api/v1/openapi.json").json
    paths = {
        path: {method for method in operations if method != "parameters"}
        for path, operations in described["paths"].items()
    }
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.endpoint != "api.openapi":
            path = rule.rule.replace("<path:email>", "{email}").replace("<key>", "{edition}")
            methods = {m.lower() for m in rule.methods or ()} - {"head", "options"}
            routes.setdefault(path, set()).update(methods)
    assert routes == paths
