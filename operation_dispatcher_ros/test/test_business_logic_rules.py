"""The reference rules of the business logic, without a running graph (answers: test_decision_over_ros.py)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from operation_dispatcher_ros.business_rules import (
    DailyWindow,
    battery_decision,
    deny_first_n_decision,
    parse_hh_mm,
    time_window_decision,
)


def at(hh_mm: str) -> datetime:
    hour, minute = map(int, hh_mm.split(":"))
    return datetime(2026, 3, 1, hour, minute, tzinfo=timezone.utc)


def test_battery_below_threshold_is_denied_with_the_level() -> None:
    decision = battery_decision(0.15, 0.2)
    assert not decision.approved
    assert decision.reason == "battery at 15% is below the 20% threshold"
    assert decision.data["battery"] == 0.15


def test_battery_at_or_above_threshold_is_approved() -> None:
    assert battery_decision(0.2, 0.2).approved
    assert battery_decision(0.9, 0.2).approved


def test_no_battery_reading_yet_is_not_ready_not_a_denial() -> None:
    decision = battery_decision(None, 0.2)
    assert (decision.approved, decision.not_ready, decision.retry_after) == (False, True, None)
    assert decision.reason == "battery level unknown: no reading on battery_state yet"


def test_a_stale_battery_reading_is_not_ready_and_a_fresh_one_decides() -> None:
    stale = battery_decision(0.9, 0.2, age=7.25, max_age=5.0)
    assert stale.not_ready and not stale.approved
    assert stale.reason == "battery level unknown: the last reading on battery_state is 7.2 s old (battery_max_age 5 s)"
    assert battery_decision(0.9, 0.2, age=4.9, max_age=5.0).approved
    assert battery_decision(0.9, 0.2, age=1e6, max_age=0.0).approved  # 0 = any age
    low = battery_decision(0.1, 0.2, age=1.0, max_age=5.0)
    assert not low.approved and not low.not_ready


def test_deny_first_n_counts_up_then_approves() -> None:
    reasons = [deny_first_n_decision(i, 2).reason for i in range(2)]
    assert reasons == [
        "denied start request 1 of the first 2 (rule deny_first_n)",
        "denied start request 2 of the first 2 (rule deny_first_n)",
    ]
    assert deny_first_n_decision(2, 2).approved
    assert deny_first_n_decision(0, 0).approved


@pytest.mark.parametrize(
    ("start", "end", "inside", "outside"),
    [
        ("09:00", "17:00", ["09:00", "12:30", "16:59"], ["08:59", "17:00", "23:00"]),
        ("22:00", "06:00", ["22:00", "23:59", "00:00", "05:59"], ["06:00", "12:00", "21:59"]),
        ("10:00", "10:00", [], ["10:00", "00:00", "23:59"]),
    ],
)
def test_daily_window(start: str, end: str, inside: list[str], outside: list[str]) -> None:
    window = DailyWindow(parse_hh_mm(start), parse_hh_mm(end))
    assert [window.contains(at(t)) for t in inside] == [True] * len(inside)
    assert [window.contains(at(t)) for t in outside] == [False] * len(outside)


def test_window_uses_utc_whatever_the_timezone_of_the_moment() -> None:
    from datetime import timedelta

    window = DailyWindow(parse_hh_mm("09:00"), parse_hh_mm("10:00"))
    eleven_in_plus_two = datetime(2026, 3, 1, 11, 30, tzinfo=timezone(timedelta(hours=2)))  # 09:30 UTC
    assert window.contains(eleven_in_plus_two)


def test_time_window_denial_names_window_and_now() -> None:
    window = DailyWindow(parse_hh_mm("22:00"), parse_hh_mm("06:00"))
    decision = time_window_decision(window, at("23:14"))
    assert not decision.approved
    assert decision.reason == "no starts between 22:00 and 06:00 UTC (now 23:14 UTC)"
    assert time_window_decision(window, at("12:00")).approved


@pytest.mark.parametrize("text", ["24:00", "7:00", "07:60", "0700", "", "noon"])
def test_bad_time_of_day_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="HH:MM"):
        parse_hh_mm(text)


def test_payload_of_tolerates_anything() -> None:
    pytest.importorskip("rclpy")
    pytest.importorskip("operation_dispatcher_interfaces")
    from operation_dispatcher_interfaces.msg import Operation
    from operation_dispatcher_ros.business_logic import payload_of

    assert payload_of(Operation(payload_json='{"mass_kg": 70}')) == {"mass_kg": 70}
    assert payload_of(Operation(payload_json="")) == {}
    assert payload_of(Operation(payload_json="[1]")) == {}
    assert payload_of(Operation(payload_json="{oops")) == {}


def test_rule_settings_refuse_bad_values_naming_the_parameter() -> None:
    pytest.importorskip("rclpy")
    pytest.importorskip("operation_dispatcher_interfaces")
    from operation_dispatcher_ros.business_logic_node import PARAMETERS, RuleSettings

    defaults = {name: default for name, (default, _descriptor) in PARAMETERS.items()}
    assert RuleSettings.from_values(defaults).rule == "approve_all"
    with pytest.raises(ValueError, match=r"^rule: 'approve_some' is not one of"):
        RuleSettings.from_values({**defaults, "rule": "approve_some"})
    with pytest.raises(ValueError, match=r"^deny_window_end: '25:00' is not a time"):
        RuleSettings.from_values({**defaults, "deny_window_end": "25:00"})
