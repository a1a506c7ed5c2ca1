"""A Nav2 goal that ended badly, as the FAILED operation's reason (no ROS graph)."""

from __future__ import annotations

import pytest

from operation_dispatcher_nav2.nav2_errors import ERROR_CODES, GoalEnd, error_code_name, failure_reason


@pytest.mark.parametrize(
    ("action", "end", "code", "message", "reason"),
    [
        (
            "NavigateToPose", GoalEnd.ABORTED, 208, "no valid path found",
            "nav2 NavigateToPose aborted: error 208 (ComputePathToPose.NO_VALID_PATH): no valid path found",
        ),
        (
            "NavigateThroughPoses", GoalEnd.ABORTED, 104, "Failed to make progress ",
            "nav2 NavigateThroughPoses aborted: error 104 (FollowPath.PATIENCE_EXCEEDED): Failed to make progress",
        ),
        ("NavigateToPose", GoalEnd.ABORTED, 9003, "", "nav2 NavigateToPose aborted: error 9003 (TIMEOUT)"),
        ("NavigateToPose", GoalEnd.ABORTED, 0, "", "nav2 NavigateToPose aborted without an error code"),
        ("NavigateToPose", GoalEnd.ABORTED, 0, "BT failed", "nav2 NavigateToPose aborted without an error code: BT failed"),
        ("NavigateThroughPoses", GoalEnd.REJECTED, 0, "", "nav2 NavigateThroughPoses rejected the goal"),
        ("NavigateToPose", GoalEnd.CANCELED, 0, "", "nav2 NavigateToPose canceled the goal at someone else's request"),
        ("NavigateToPose", GoalEnd.ABORTED, 4242, "?", "nav2 NavigateToPose aborted: error 4242 (unknown): ?"),
    ],
)  # fmt: skip
def test_failure_reason_says_action_how_it_ended_code_name_and_message(
    action: str, end: GoalEnd, code: int, message: str, reason: str
) -> None:
    assert failure_reason(action, end, code, message) == reason


def test_the_navigators_own_codes_are_named_plainly_and_another_actions_with_that_action() -> None:
    assert error_code_name("NavigateToPose", 9002) == "TF_ERROR"
    assert error_code_name("NavigateThroughPoses", 9103) == "TIMEOUT"
    assert error_code_name("NavigateThroughPoses", 9003) == "NavigateToPose.TIMEOUT"  # a NavigateToPose node in its tree
    assert error_code_name("NavigateThroughPoses", 308) == "ComputePathThroughPoses.NO_VALID_PATH"


def test_a_code_two_actions_share_names_both_and_an_unknown_one_says_so() -> None:
    assert error_code_name("NavigateToPose", 999) == "DockRobot.UNKNOWN or UndockRobot.UNKNOWN"
    assert error_code_name("NavigateToPose", 1) == "unknown"


def test_each_action_keeps_its_codes_in_its_own_range() -> None:
    """Nav2 gives each action a block of codes; a typo in the table would show as a stray."""
    for action, codes in ERROR_CODES.items():
        assert 0 not in codes, action
        blocks = {code // 100 for code in codes if code != 999}
        assert len(blocks) == 1, (action, sorted(codes))
        assert len(set(codes.values())) == len(codes), action
