"""The bad-input matrix through the REST door (cases: bad_inputs.py).

One real uvicorn server on loopback for the module, seeded with the shared
state (re-made only if a case broke it). Each refusal: the case's status,
``{"error": {"code", "message", "details"}}`` with the core's code and the
field named, and a full dump of queue, history and events unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator

import bad_inputs
import httpx
import pytest
from bad_inputs import Case
from doors_testing import LiveServer, make_dispatcher
from test_bad_input_python import params


class SeededServer:
    def __init__(self) -> None:
        self.live: LiveServer | None = None

    def ensure(self) -> LiveServer:
        """The server, with the seed intact (a fresh one if a case changed it)."""
        if self.live is not None and bad_inputs.core_seed_intact(self.live.dispatcher):
            return self.live
        self.close()
        self.live = LiveServer(make_dispatcher()).start()
        bad_inputs.seed_core(self.live.dispatcher)
        return self.live

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


@pytest.fixture(scope="module")
def seeded() -> Iterator[SeededServer]:
    server = SeededServer()
    try:
        yield server
    finally:
        server.close()


def send(live: LiveServer, case: Case) -> httpx.Response:
    method, path, query, body = bad_inputs.rest_request(case)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    with live.client() as http:
        return http.request(method, path, params=query, content=body, headers=headers)


@pytest.mark.parametrize("case", params("rest"))
def test_bad_input_rest(seeded: SeededServer, case: Case) -> None:
    live = seeded.ensure()
    before = bad_inputs.core_dump(live.dispatcher)
    response = send(live, case)
    assert response.status_code == case.rest_status, response.text[:500]
    if case.code == "ALREADY_PRESENT":
        assert response.json() == [{"operation_id": "queued-1", "added": False, "state": "QUEUED"}]
    else:
        body = response.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
        error = body["error"]
        assert error["code"] == case.code, error
        bad_inputs.assert_message(case, error["message"])
        if case.code == "VALIDATION":
            assert error["details"]["field"] == case.mentions[0] and case.mentions[0] in error["message"], error
    bad_inputs.assert_unchanged(before, bad_inputs.core_dump(live.dispatcher), case)
