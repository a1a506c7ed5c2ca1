"""The bad-input matrix through the Python API (cases: bad_inputs.py).

Each case gets a fresh dispatcher, its loop running in a thread like a
real embedding, seeded with the shared state; the refusal must be the
core's error class with its code, naming the field, and a full dump of
queue, history and events must be unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

import bad_inputs
import pytest
from bad_inputs import Case
from doors_testing import make_dispatcher, wait_until

from operation_dispatcher import (
    AddResult,
    DeniedError,
    DispatcherError,
    InvalidStateError,
    NotFoundError,
    OperationDispatcher,
    ValidationError,
)

ERROR_CLASSES: dict[str, type[DispatcherError]] = {
    "VALIDATION": ValidationError,
    "NOT_FOUND": NotFoundError,
    "INVALID_STATE": InvalidStateError,
    "DENIED": DeniedError,
}


def params(door: str) -> list[object]:
    """One pytest param per case this door can express; a case with a known bug of this door is xfail(strict)."""
    out = []
    for case in bad_inputs.cases_for(door):
        marks = [pytest.mark.xfail(strict=True, reason=case.known_bugs[door])] if door in case.known_bugs else []
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


@contextlib.contextmanager
def running_in_thread(dispatcher: OperationDispatcher) -> Iterator[OperationDispatcher]:
    thread = threading.Thread(target=lambda: asyncio.run(dispatcher.run()), name="dispatcher-loop", daemon=True)
    thread.start()
    try:
        wait_until(lambda: dispatcher.running and dispatcher.loop is not None, 5, "the dispatcher loop")
        yield dispatcher
    finally:
        dispatcher.request_stop()
        thread.join(5)
        assert not thread.is_alive(), "the dispatcher loop did not stop"


def call(dispatcher: OperationDispatcher, case: Case) -> object:
    method, args = bad_inputs.python_call(case)
    result = getattr(dispatcher, method)(*args)
    if asyncio.iscoroutine(result):  # a handshake: from a plain thread, as the README says
        assert dispatcher.loop is not None
        return asyncio.run_coroutine_threadsafe(result, dispatcher.loop).result(10)
    return result


@pytest.mark.parametrize("case", params("python"))
def test_bad_input_python(case: Case) -> None:
    with running_in_thread(make_dispatcher()) as dispatcher:
        bad_inputs.seed_core(dispatcher)
        before = bad_inputs.core_dump(dispatcher)
        if case.code == "ALREADY_PRESENT":
            results = call(dispatcher, case)
            assert results == [AddResult(operation_id="queued-1", added=False, state="QUEUED")]
        else:
            with pytest.raises(DispatcherError) as caught:
                call(dispatcher, case)
            error = caught.value
            assert type(error) is ERROR_CLASSES[case.code], f"{type(error).__name__}: {error}"
            assert error.code == case.code and error.to_dict()["code"] == case.code
            bad_inputs.assert_message(case, error.message)
            if case.code == "VALIDATION":
                assert error.details["field"] == case.mentions[0], error.details
        bad_inputs.assert_unchanged(before, bad_inputs.core_dump(dispatcher), case)
