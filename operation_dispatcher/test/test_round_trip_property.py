"""Property: whatever the core accepts is read back unchanged; whatever it refuses is our ValidationError.

Operations are drawn with JSON payloads of random shape and depth (past
the limit too), text with any unicode (lone surrogates included), integers
at and beyond every limit, dates from year 1 to 9999 in any UTC offset,
and numbers of the wrong type. An accepted one must survive
``model_dump_json`` / ``model_validate_json`` and a real SQLite file read by
a fresh store; a refused one must raise the core's ValidationError naming
a field, never RecursionError, OverflowError or pydantic's own error.
Decisions get the same treatment through ``Decision.coerce`` and the event
row their data ends up in. (REST and MCP legs live with the door tests.)
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from operation_dispatcher import (
    Decision,
    DispatchEvent,
    EventType,
    Operation,
    OperationExecution,
    SQLiteStore,
    ValidationError,
    parse_operation,
)
from operation_dispatcher import _limits as limits

RESOURCE = "robot-1"
EXAMPLES = int(os.environ.get("OD_HYPOTHESIS_EXAMPLES", "40")) * 5
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

INT_EDGES = [0, -1, 2**31 - 1, -(2**31), 2**53 + 1, 2**63 - 1, -(2**63), 2**64, 10**4299, -(10**4299)]  # 4300 digits: the most Python writes as text
texts = st.text(max_size=8) | st.text(st.characters(categories=["Cs", "L", "So"]), max_size=4)  # Cs: lone surrogates
scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from(INT_EDGES)
    | st.floats()  # NaN and infinity included: they must be refused
    | texts
)
shallow_json = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3), max_leaves=12
)


@st.composite
def json_objects(draw: st.DrawFn) -> dict[str, Any]:
    """A JSON object of random shape, sometimes wrapped in a chain that goes past MAX_JSON_DEPTH."""
    value: Any = draw(st.dictionaries(texts, shallow_json, max_size=4))
    for key in draw(st.lists(texts | st.just(None), max_size=limits.MAX_JSON_DEPTH + 8)):
        value = [value] if key is None else {key: value}
    return value if isinstance(value, dict) else {"list": value}


offsets = st.builds(lambda minutes: timezone(timedelta(minutes=minutes)), st.integers(-(24 * 60 - 1), 24 * 60 - 1))
dates = st.datetimes(timezones=st.none() | offsets) | st.datetimes(timezones=offsets).map(datetime.isoformat)
priorities = st.integers(limits.PRIORITY_MIN - 2, limits.PRIORITY_MAX + 2) | st.sampled_from([*INT_EDGES, "5", 5.0, True])
durations = st.integers(-1, 10**7) | st.floats() | st.sampled_from(["90", True, limits.MAX_DURATION_SECONDS])


@st.composite
def operation_inputs(draw: st.DrawFn) -> dict[str, Any]:
    fields: dict[str, Any] = {"resource_id": RESOURCE, "payload": draw(json_objects())}
    optional = {"priority": priorities, "release_date": dates, "due_date": dates, "created_at": dates, "planned_duration": durations}
    for name, strategy in optional.items():
        if draw(st.booleans()):
            fields[name] = draw(strategy)
    return fields


def through_a_store_file(op: Operation, event: DispatchEvent | None = None) -> tuple[Operation, list[DispatchEvent]]:
    """Write ``op`` (and ``event``) to a real SQLite file; read it back with a store opened afresh."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "books.db")
        writer = SQLiteStore(path)
        try:
            writer.write(operations=[op], executions=[OperationExecution(operation_id=op.id)], events=[event] if event else [])
        finally:
            writer.close()
        reader = SQLiteStore(path)
        try:
            state = reader.load(RESOURCE)
            records, events = list(state.records), list(state.events)  # read as they are taken: before the close
        finally:
            reader.close()
    return records[0].operation, events


@PROPERTY
@given(operation_inputs())
def test_an_accepted_operation_round_trips_and_a_refused_one_is_our_validation_error(fields):
    try:
        op = parse_operation(fields, "operations[0]")
    except ValidationError as exc:
        assert exc.field and exc.field.startswith("operations[0]"), exc.message
        return
    assert Operation.model_validate_json(op.model_dump_json()) == op
    assert through_a_store_file(op)[0] == op


@PROPERTY
@given(st.booleans(), st.one_of(st.none(), texts), json_objects(), st.booleans())
def test_any_answer_becomes_a_decision_whose_event_row_reads_back(approved, reason, data, as_tuple):
    answer = (approved, reason) if as_tuple else {"approved": approved, "reason": reason, "data": data}
    decision = Decision.coerce(answer, default=True)
    assert isinstance(decision, Decision)
    event = DispatchEvent(
        id="ev-1",
        event_type=EventType.OPERATION_STARTED if decision.approved else EventType.OPERATION_START_DENIED,
        resource_id=RESOURCE,
        operation_id="a",
        metadata={"reason": decision.reason, "data": decision.data},
    )
    assert DispatchEvent.model_validate_json(event.model_dump_json()) == event
    assert through_a_store_file(Operation(id="a", resource_id=RESOURCE), event)[1] == [event]
