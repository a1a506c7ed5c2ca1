"""Issue 15's goals in one table: each figure, its baseline from the same run, the ratio, the goal, met or not.

What the dispatcher adds on top of ROS itself, and what durability costs,
measured between real processes over Fast DDS (ROS rows) and in this
process (the core's row). Each row comes from one of the benches beside
this file, run here at the sizes below; each of them also runs alone with
its own, longer tables (``make bench-all``):

- ``ros_round_trip.py``: ``add_operations`` of one operation and a full
  life cycle (add -> the business logic's approval -> the robot's goal ->
  COMPLETED seen) against a bare rclpy ``std_srvs/Trigger`` round trip; the
  dispatcher node's CPU idle and at 10 life cycles/s;
- ``ros_events.py``: from the business logic's approval to OPERATION_STARTED
  seen by a subscriber, against the same kind of bare round trip; events a
  second reaching three subscribers during a burst of adds, lost ones
  counted, against a bare publisher of the same message type;
- ``ros_scale.py``: the node's RSS with N operations queued against an idle
  node's, and its start-up to the first answered ``get_dispatcher_state``
  on a store of N against an empty store's;
- ``core_throughput.py``: life cycles a second of the core with the
  SQLiteStore against bare SQLite commits and the in-memory life cycles.

Figures move 10 % and more between runs on a shared machine: they are
printed, never asserted (bench/test_smoke.py only checks that this runs).

    make bench       # or: tools/in_env.sh python bench/goals.py [--queued 100000] [--details]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import core_throughput
import ros_events
import ros_round_trip
import ros_scale

from operation_dispatcher import SQLiteStore

CORE_QUEUED = 100
CORE_CYCLES_IN_MEMORY = 20_000
CORE_COMMITS = 20_000


@dataclass
class Goal:
    """One row: ``measured`` against ``baseline`` (the same unit), and whether the goal holds."""

    figure: str
    measured: str
    baseline: str
    ratio: str
    goal: str
    met: bool

    def line(self) -> str:
        return f"| {self.figure} | {self.measured} | {self.baseline} | {self.ratio} | {self.goal} | {'met' if self.met else 'missed'} |"


def p(samples: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0.5, 0.99) of ``samples``, nearest rank."""
    ordered = sorted(samples)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def round_trip_rows(m: ros_round_trip.RoundTrips) -> list[Goal]:
    base = statistics.median(m.base)
    add, life = p(m.adds, 0.5), p(m.lives, 0.5)
    return [
        Goal("`add_operations` (1 operation), p50 / p99 ms", f"{add:.2f} / {p(m.adds, 0.99):.2f}",
             f"bare Trigger round trip {base:.2f} / {p(m.base, 0.99):.2f}", f"{add / base:.1f}x", "p50 <= 1.5x", add <= 1.5 * base),
        Goal("full life cycle over ROS, p50 ms", f"{life:.2f}", f"bare round trip {base:.2f}", f"{life / base:.1f}x",
             "<= 6 bare round trips", life <= 6 * base),
        Goal("dispatcher node CPU, % of a core: idle / at 10 life cycles/s", f"{m.idle[0]:.2f} / {m.busy[0]:.2f} ({m.paced:.1f}/s)",
             f"bare Trigger server idle {m.idle[1]:.2f}", "-", "idle < 1 %", m.idle[0] < 1.0),
    ]


def events_rows(started: dict[str, float], burst: dict[str, float]) -> list[Goal]:
    base, limit = started["baseline_p50_ms"], started["latency_goal_ms"]
    return [
        Goal("approval to OPERATION_STARTED seen by a subscriber, p50 / p99 ms", f"{started['p50_ms']:.2f} / {started['p99_ms']:.2f}",
             f"bare round trip {base:.2f}", f"{started['p50_ms'] / base:.1f}x", f"<= 2 round trips + 1 ms ({limit:.2f})",
             bool(started["latency_met"])),
        Goal(f"events/s reaching {burst['subscribers']:.0f} subscribers during a burst of {burst['events']:,.0f} adds (lost)",
             f"{burst['events_per_s']:,.0f} ({burst['lost']:.0f} lost)",
             f"bare publisher {burst['bare_events_per_s']:,.0f} ({burst['bare_lost']:.0f} lost)",
             f"{burst['ratio']:.2f}x", ">= 2,000/s, none lost", bool(burst["rate_met"])),
    ]


def scale_rows(m: ros_scale.Scale) -> list[Goal]:
    rss = max(m.added[0], m.recovered[0])
    return [
        Goal(f"dispatcher node RSS with {m.queued:,} queued, MB: added / after a restart", f"{m.added[0]:.0f} / {m.recovered[0]:.0f}",
             f"idle node {m.idle[0]:.0f}", f"{rss / m.idle[0]:.1f}x", f"<= {ros_scale.RSS_GOAL_MB:g} MB", rss <= ros_scale.RSS_GOAL_MB),
        Goal(f"start-up to `get_dispatcher_state` answered, {m.queued:,} in the store, s", f"{m.up_full:.2f}",
             f"empty store {m.up_empty:.2f}", f"{m.up_full / m.up_empty:.1f}x", f"<= {ros_scale.START_UP_GOAL_S:g} s",
             m.up_full <= ros_scale.START_UP_GOAL_S),
    ]


def core_row(cycles: int) -> Goal:
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "goals.db")
        try:
            durable = asyncio.run(core_throughput.bench_life_cycles(CORE_QUEUED, cycles, store))
        finally:
            store.close()
        commits = core_throughput.baseline_sqlite_commits(Path(tmp) / "bare.db", CORE_COMMITS)
    gc.collect()
    in_memory = asyncio.run(core_throughput.bench_life_cycles(CORE_QUEUED, CORE_CYCLES_IN_MEMORY))
    return Goal(
        "core life cycles/s with the SQLiteStore (4 transactions each)", f"{durable:,.0f}",
        f"bare 1-row commits/s {commits:,.0f}; in memory {in_memory:,.0f}/s",
        f"{durable / in_memory:.2f}x in memory", ">= 10,000/s, acknowledged = on disk", durable >= 10_000,
    )


def timed_step(name: str, step: Callable[[], object]) -> object:
    """Run one bench, saying so on stderr (the table is stdout's)."""
    print(f"{name}...", file=sys.stderr, flush=True)
    started = time.monotonic()
    result = step()
    print(f"{name}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--round-trips", type=int, default=500, help="timed calls of each round trip (default 500)")
    parser.add_argument("--cycles", type=int, default=200, help="timed life cycles over ROS (default 200)")
    parser.add_argument("--cpu-window", type=float, default=10.0, help="seconds per CPU figure (default 10)")
    parser.add_argument("--events", type=int, default=5000, help="events of the burst (default 5,000)")
    parser.add_argument("--queued", type=int, default=100_000, help="operations queued for the RSS and start-up rows (default 100,000)")
    parser.add_argument("--core-cycles", type=int, default=5000, help="core life cycles with the SQLiteStore (default 5,000)")
    parser.add_argument("--details", action="store_true", help="also print each bench's own tables")
    args = parser.parse_args()
    started = time.monotonic()
    try:
        trips = timed_step("round trips", lambda: ros_round_trip.measure(max(args.round_trips, 1), max(args.cycles, 1), max(args.cpu_window, 1.0)))
        to_started = timed_step("approval to STARTED", lambda: ros_events.measure_started_latency(max(args.round_trips, 1)))
        burst = timed_step("event burst", lambda: ros_events.measure_event_rate(max(args.events, 1)))
        scale = timed_step("scale", lambda: ros_scale.measure(max(args.queued, 1)))
        core = timed_step("core with SQLite", lambda: core_row(max(args.core_cycles, 1)))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    assert isinstance(trips, ros_round_trip.RoundTrips) and isinstance(scale, ros_scale.Scale) and isinstance(core, Goal)
    assert isinstance(to_started, dict) and isinstance(burst, dict)
    rows = [*round_trip_rows(trips), *events_rows(to_started, burst), *scale_rows(scale), core]
    cpu = os.cpu_count()
    print(f"\nIssue 15's goals, {time.strftime('%Y-%m-%d')}, {platform.machine()} with {cpu} cores, ROS 2 "
          f"{os.environ.get('ROS_DISTRO', '?')} (rmw_fastrtps, LOCALHOST), Python {platform.python_version()}; "
          f"every baseline from this run ({time.monotonic() - started:.0f} s)\n")
    print("| figure | measured | baseline, same run | ratio | goal | |")
    print("|---|---:|---|---:|---|---|")
    for goal in rows:
        print(goal.line())
    print(f"\n{sum(g.met for g in rows)} of {len(rows)} goals met.")
    if args.details:
        ros_round_trip.report(trips)
        ros_events.report_rate(burst)
        ros_scale.report(scale)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
