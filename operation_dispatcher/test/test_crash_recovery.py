"""SIGKILL a dispatcher process mid-flight, restart it on the same SQLite file: nothing lost.

The child (crash_child.py) adds 1,000 operations in batches of 20 while it
dispatches them. It is killed during adds, during a start, or during a
completion; a new dispatcher over the same file must then hold every
operation exactly once, in the right state and order, with the interrupted
one re-queued and said so, and must run the rest to completion.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from dispatcher_testing import EventRecorder, check_sequence, running

from operation_dispatcher import EventType, Operation, OperationDispatcher, OperationRunner, OperationState, SQLiteStore

CHILD = Path(__file__).with_name("crash_child.py")
COUNT, BATCH = 1000, 20
E = EventType

KILL_POINTS = {
    "during_add": (re.compile(r"^added "), 10),
    "during_start": (re.compile(r"^start "), 25),
    "during_completion": (re.compile(r"^completing "), 25),
}


def run_child_until_killed(db: Path, kill_at: str) -> list[str]:
    pattern, nth = KILL_POINTS[kill_at]
    hold = str(nth) if kill_at == "during_start" else "0"
    proc = subprocess.Popen([sys.executable, str(CHILD), str(db), str(COUNT), str(BATCH), hold], stdout=subprocess.PIPE, text=True, bufsize=1)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        seen = 0
        for line in proc.stdout:
            lines.append(line.strip())
            if pattern.match(line):
                seen += 1
                if seen == nth:
                    os.kill(proc.pid, signal.SIGKILL)
                    break
        else:
            pytest.fail(f"child ended before the kill point: {lines[-5:]}")
        lines.extend(line.strip() for line in proc.stdout)  # whatever it wrote before dying
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return lines


class InstantRunner(OperationRunner):
    def __init__(self, dispatcher_box: list[OperationDispatcher]) -> None:
        self.box = dispatcher_box

    async def start(self, operation: Operation) -> None:
        asyncio.get_running_loop().call_soon(self.box[0].complete, operation.id)


@pytest.mark.parametrize("kill_at", list(KILL_POINTS))
async def test_sigkill_and_restart_lose_nothing(tmp_path, kill_at):
    db = tmp_path / "dispatcher.db"
    lines = run_child_until_killed(db, kill_at)

    def ids_after(prefix: str) -> list[str]:
        return [line.split()[1] for line in lines if line.startswith(prefix)]

    committed = {f"op-{i:04d}" for span in ids_after("added ") for a, b in [map(int, span.split(".."))] for i in range(a, b + 1)}
    completed = set(ids_after("completed "))
    started = ids_after("start ")

    recorder = EventRecorder()
    box: list[OperationDispatcher] = []
    d = OperationDispatcher("robot-1", lambda e: True, recorder, store=SQLiteStore(db), runner=InstantRunner(box))
    box.append(d)
    records = {r.operation.id: r for r in d.list_operations()}

    # every operation exactly once: all confirmed batches, at most one more whole batch
    ids = [r.operation.id for r in d.list_operations()]
    assert len(ids) == len(set(ids))
    assert committed <= set(records)
    extra = sorted(set(records) - committed)
    assert len(extra) in (0, BATCH), extra
    # completions reported back are never lost; nothing is left active
    assert all(records[i].execution.state is OperationState.COMPLETED for i in completed)
    assert d.current() is None
    # the interrupted operation is re-queued and said so
    interrupted = [i for i, r in records.items() if r.execution.termination_reason == "interrupted"]
    if kill_at == "during_start":
        assert interrupted == [started[KILL_POINTS[kill_at][1] - 1]] == [started[-1]]
    assert len(interrupted) <= 1
    for op_id in interrupted:
        last = d.events(op_id)[-1]
        assert last.event_type is E.OPERATION_FAILED and last.metadata == {
            "reason": "interrupted", "interrupted": True, "requeued": True, "previous_state": "RUNNING"
        }
        assert records[op_id].execution.state is OperationState.QUEUED
    # every life cycle is legal, and the queue is in dispatch order
    for op_id in records:
        check_sequence(d.events(op_id))
    queued = d.list_operations(OperationState.QUEUED)
    keys = [(-r.operation.priority, r.operation.created_at, r.execution.sequence) for r in queued]
    assert keys == sorted(keys)

    # and the recovered dispatcher finishes the job, each operation exactly once
    async with running(d):
        await recorder.wait_for(lambda: d.snapshot().counts[OperationState.COMPLETED] == len(records), timeout=60)
    for op_id in records:
        events = d.events(op_id)
        assert [e.event_type for e in events].count(E.OPERATION_COMPLETED) == 1, op_id
        check_sequence(events)
