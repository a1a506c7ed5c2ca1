"""A hypothesis state machine over the public API, with the loop running in its own thread.

Invariants, checked after every step and at the end:
* at most one operation is RUNNING or PAUSED;
* a terminal state never changes;
* every operation's event sequence is legal (see ``check_sequence``).
"""

from __future__ import annotations

import asyncio
import os
import threading

from dispatcher_testing import check_sequence
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from operation_dispatcher import (
    DenialPolicy,
    DispatcherError,
    EventType,
    FailureRetryPolicy,
    Operation,
    OperationDispatcher,
    OperationState,
)

E = EventType


class DispatcherMachine(RuleBasedStateMachine):
    operations = Bundle("operations")

    def __init__(self) -> None:
        super().__init__()
        self.approve = True
        self.dispatcher = OperationDispatcher(
            "r",
            lambda event: self.approve,
            denial_policy=DenialPolicy(cooldown_seconds=0.0, max_retries=3),
            failure_retry=FailureRetryPolicy(max_attempts=2, initial_backoff_seconds=0.0),
        )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self.dispatcher.run(),), daemon=True)
        self.thread.start()
        self.terminal: dict[str, OperationState] = {}
        self.counter = 0

    def _call(self, coroutine) -> None:
        try:
            asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=10)
        except DispatcherError:
            pass

    @rule(target=operations, priority=st.integers(-3, 3))
    def add(self, priority: int) -> str:
        self.counter += 1
        op_id = f"op{self.counter}"
        assert self.dispatcher.add(Operation(id=op_id, resource_id="r", priority=priority)).added
        return op_id

    @rule(approve=st.booleans())
    def set_business_logic(self, approve: bool) -> None:
        self.approve = approve

    @rule(op_id=operations)
    def cancel(self, op_id: str) -> None:
        self._call(self.dispatcher.cancel(op_id))

    @rule(op_id=operations)
    def pause_operation(self, op_id: str) -> None:
        self._call(self.dispatcher.pause_operation(op_id))

    @rule(op_id=operations)
    def resume_operation(self, op_id: str) -> None:
        self._call(self.dispatcher.resume_operation(op_id))

    @rule(success=st.booleans())
    def finish_current(self, success: bool) -> None:
        try:
            self.dispatcher.complete() if success else self.dispatcher.fail(reason="test")
        except DispatcherError:
            pass

    @rule(pause=st.booleans())
    def pause_or_resume_dispatcher(self, pause: bool) -> None:
        try:
            self.dispatcher.pause() if pause else self.dispatcher.resume()
        except DispatcherError:
            pass

    @invariant()
    def at_most_one_active_and_terminal_stays_terminal(self) -> None:
        records = self.dispatcher.list_operations()
        assert sum(r.execution.state.is_active for r in records) <= 1
        for r in records:
            before = self.terminal.get(r.operation.id)
            assert before is None or before is r.execution.state, f"{r.operation.id}: {before} -> {r.execution.state}"
            if r.execution.state.is_terminal:
                self.terminal[r.operation.id] = r.execution.state

    @invariant()
    def event_sequences_are_legal(self) -> None:
        for r in self.dispatcher.list_operations():
            check_sequence(self.dispatcher.events(r.operation.id))

    def teardown(self) -> None:
        self.dispatcher.request_stop()
        self.thread.join(10)
        assert not self.thread.is_alive()
        self.loop.close()


DispatcherMachine.TestCase.settings = settings(max_examples=int(os.environ.get("OD_HYPOTHESIS_EXAMPLES", "40")), stateful_step_count=30, deadline=None)
TestDispatcherStateMachine = DispatcherMachine.TestCase
