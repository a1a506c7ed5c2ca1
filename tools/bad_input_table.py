#!/usr/bin/env python3
"""Write docs/bad_input.md from the bad-input case table (operation_dispatcher/test/bad_inputs.py).

    tools/in_env.sh python tools/bad_input_table.py          # write it
    tools/in_env.sh python tools/bad_input_table.py --check  # exit 1 if the committed doc differs

A test (test_bad_input_table.py) runs the check, so the doc cannot rot.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "bad_input.md"
sys.path.insert(0, str(ROOT / "operation_dispatcher" / "test"))

import bad_inputs  # noqa: E402


def main(argv: list[str]) -> int:
    text = bad_inputs.render_table()
    if "--check" in argv:
        if not DOC.exists() or DOC.read_text() != text:
            print(f"{DOC.relative_to(ROOT)} is stale: run tools/in_env.sh python tools/bad_input_table.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text)
    print(f"wrote {DOC.relative_to(ROOT)} ({len(bad_inputs.CASES)} cases)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
