"""Instructions per in-memory life cycle, counted by valgrind: a comparison that does not flake.

Wall-clock rates on a shared 2-core machine move by 10 % or more between
two runs of the same code (core_throughput.py's asyncio baseline alone
ranges 68,000-145,000 wake-ups/s in one run), so "no slower than before"
cannot be read from them. The number of machine instructions the
interpreter executes for a life cycle (add, START_REQUESTED, approve,
STARTED, complete) is the same from one run to the next within 0.2 %.

Counted for this working tree and, with ``--against REF``, for another
commit checked out beside it (a temporary ``git worktree``), both with the
same life-cycle loop (core_throughput.py's, which uses the public API
only, so it runs on older commits too), and for core_throughput's bare
asyncio wake-up round trip as the floor. Start-up is
taken out: each count is the difference between a short and a long run.

    tools/in_env.sh python bench/core_instructions.py [--against a31c4a0] [--queued 100] [--cycles 2000]

Needs valgrind (Debian package ``valgrind``).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WARM_UP_CYCLES = 300

BENCH = Path(__file__).resolve().parent
CHILD = """
import asyncio, sys
sys.path.insert(0, sys.argv[1])
import core_throughput as bench  # its loops, on whichever operation_dispatcher PYTHONPATH names

what, queued, cycles = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if what == "life_cycles":
    asyncio.run(bench.bench_life_cycles(queued, cycles))
else:
    asyncio.run(bench.baseline_wakeups(cycles))
"""


def instructions(what: str, package_dir: Path | None, queued: int, cycles: int) -> int:
    """Instructions valgrind counts for core_throughput's ``what`` run for ``cycles`` (child processes included)."""
    env = dict(os.environ)
    if package_dir is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(package_dir), env.get("PYTHONPATH")) if p)
    command = [
        "valgrind", "--tool=callgrind", "--trace-children=yes", "--callgrind-out-file=/dev/null",
        sys.executable, "-c", CHILD, str(BENCH), what, str(queued), str(cycles),
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    counts = re.findall(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or not counts:
        raise SystemExit(f"valgrind run failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return int(counts[-1])


def per_cycle(what: str, package_dir: Path | None, queued: int, cycles: int) -> float:
    short = instructions(what, package_dir, queued, WARM_UP_CYCLES)
    long = instructions(what, package_dir, queued, WARM_UP_CYCLES + cycles)
    return (long - short) / cycles


def checked_out(ref: str, into: Path) -> Path:
    """``ref`` checked out in a temporary worktree; the core package's directory in it."""
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(into), ref], check=True)
    return into / "operation_dispatcher"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", metavar="REF", help="a commit to compare with (e.g. a31c4a0, the core before issue 9)")
    parser.add_argument("--queued", type=int, default=100)
    parser.add_argument("--cycles", type=int, default=2000)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("core_instructions.py needs valgrind: apt-get install valgrind")

    rows = [("this tree", per_cycle("life_cycles", REPO / "operation_dispatcher", args.queued, args.cycles))]
    if args.against:
        with tempfile.TemporaryDirectory() as tmp:
            worktree = Path(tmp) / "against"
            try:
                rows.append((args.against, per_cycle("life_cycles", checked_out(args.against, worktree), args.queued, args.cycles)))
            finally:
                subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)], check=False)
    floor = per_cycle("wake_ups", None, 0, args.cycles)

    print(f"\nInstructions per in-memory life cycle, {args.queued:,} queued, {args.cycles:,} cycles counted (valgrind)\n")
    print("| code | instructions per life cycle | ratio to this tree | in asyncio wake-up round trips |")
    print("|---|---:|---:|---:|")
    mine = rows[0][1]
    for name, count in rows:
        print(f"| {name} | {count:,.0f} | {count / mine:.3f} | {count / floor:.1f} |")
    print(f"| baseline: bare asyncio wake-up round trip | {floor:,.0f} | | 1.0 |")


if __name__ == "__main__":
    main()
