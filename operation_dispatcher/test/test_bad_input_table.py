"""docs/bad_input.md is exactly what tools/bad_input_table.py generates from the case table."""

from __future__ import annotations

from pathlib import Path

import bad_inputs

DOC = Path(__file__).resolve().parents[2] / "docs" / "bad_input.md"


def test_the_committed_table_is_the_generated_one() -> None:
    assert DOC.read_text() == bad_inputs.render_table(), "docs/bad_input.md is stale: run tools/in_env.sh python tools/bad_input_table.py"


def test_the_matrix_is_large_enough_and_covers_every_door() -> None:
    assert len(bad_inputs.CASES) >= 30
    for door in bad_inputs.DOORS:
        assert len(bad_inputs.cases_for(door)) >= 30, door
    codes = {case.code for case in bad_inputs.CASES}
    assert {"VALIDATION", "NOT_FOUND", "INVALID_STATE", "DENIED", "ALREADY_PRESENT"} <= codes
