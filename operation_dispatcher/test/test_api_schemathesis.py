"""Property-based tests of the REST door from its own OpenAPI spec (schemathesis).

Generated requests, valid and invalid, go to a real server; every answer
must be a non-5xx response that matches the spec (status, content type,
schema). The number of examples per operation is bounded. The operations
are listed from the app at collection time; the schema under test is the
one the live server serves at ``/openapi.json``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from doors_testing import LiveServer, make_dispatcher
from hypothesis import HealthCheck, given, settings

from operation_dispatcher.api import create_app

MAX_EXAMPLES = 100
# Schema-valid input the core may still refuse, naming the field: 400 for an
# operation for another resource, an unknown dependency or an id twice in one
# add; 422 for what JSON Schema cannot say (dates outside 1970..2200, payload size).
CONFIG = schemathesis.Config.from_str(
    """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "400", "401", "404", "409", "422"]
"""
)
OPERATIONS = [
    (method.upper(), path)
    for path, item in create_app(make_dispatcher(), mcp=False, dashboard=False).openapi()["paths"].items()
    for method in item
]
REQUESTS: dict[str, int] = {}


@pytest.fixture(scope="module")
def api_schema() -> Iterator[schemathesis.BaseSchema]:
    server = LiveServer(make_dispatcher(), mcp=False, dashboard=False).start()
    yield schemathesis.openapi.from_url(f"{server.url}/openapi.json", config=CONFIG)
    server.stop()
    print(f"\nschemathesis: {sum(REQUESTS.values())} requests over {len(REQUESTS)} operations")


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_every_answer_matches_the_spec(api_schema: schemathesis.BaseSchema, method: str, path: str) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: schemathesis.Case) -> None:
        REQUESTS[operation.label] = REQUESTS.get(operation.label, 0) + 1
        case.call_and_validate()

    check()
