"""The core examples and the seed's quickstart run as documented, in a fresh interpreter."""

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name: str) -> str:
    result = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=60, cwd=EXAMPLES.parent)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_seed_quickstart_runs_unchanged():
    lines = run_example("quickstart.py").splitlines()
    op_id = lines[0].split(" -> ")[1]
    assert lines == [
        f"OPERATION_ADDED -> {op_id}",
        "OPERATION_DISPATCHER_STARTED -> None",
        f"OPERATION_START_REQUESTED -> {op_id}",
        f"OPERATION_STARTED -> {op_id}",
        "OPERATION_DISPATCHER_STOPPED -> None",
    ]


def test_dispatch_queue_example():
    out = run_example("dispatch_queue.py")
    assert "dispatch order now: ['pickup-A', 'inspect', 'charge', 'night-run', 'dropoff-A']" in out
    assert "in 8 hours the order is: ['night-run', 'dropoff-A', 'charge']" in out


def test_dispatcher_example_shows_the_whole_life_cycle():
    out = run_example("dispatcher.py")
    assert "OPERATION_START_DENIED           charge" in out and "charger occupied" in out
    assert out.count("OPERATION_COMPLETED") == 3
    assert "charge   COMPLETED attempts=1 denied=1" in out
