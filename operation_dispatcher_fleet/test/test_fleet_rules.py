"""fleet_rules without ROS: slots, reservations, stations, and every way a slot is freed (or kept)."""

from __future__ import annotations

from typing import Any

import pytest

from operation_dispatcher import Decision
from operation_dispatcher_fleet.fleet_rules import (
    PAUSED,
    RESERVED,
    RUNNING,
    WAITER_PATIENCE,
    FleetRules,
    check_max_running,
    event_position,
    parse_station,
    robot_names,
)

INSTANCE = "0123456789ab"


def at(n: int, instance: str = INSTANCE) -> tuple[str, int]:
    return (instance, n)


class Fleet:
    """FleetRules with each robot's own event numbers, as its dispatcher would count them."""

    def __init__(self, max_running: int = 0, **kwargs: Any) -> None:
        self.now = 0.0  # the rules' clock (monotonic, s), moved by the test
        self.rules = FleetRules(max_running, clock=lambda: self.now, **kwargs)
        self.numbers: dict[str, int] = {}
        self.clock = 1000.0  # the dispatchers' stamps

    def _next(self, robot: str) -> tuple[str, int]:
        self.numbers[robot] = self.numbers.get(robot, 0) + 1
        return at(self.numbers[robot], f"inst-{robot}".replace("_", ""))

    def ask(self, robot: str, op: str, **payload: Any) -> Decision:
        return self.rules.decide_start(robot, op, payload, self._next(robot))

    def event(self, robot: str, event_type: str, op: str = "") -> str | None:
        self.clock += 0.1
        return self.rules.on_event(robot, f"OPERATION_{event_type}", op, self._next(robot), self.clock)

    def start(self, robot: str, op: str, **payload: Any) -> None:
        assert self.ask(robot, op, **payload).approved
        self.event(robot, "STARTED", op)

    def phases(self) -> dict[str, tuple[str, str]]:
        return {r: (h.operation_id, h.phase) for r, h in self.rules.holds.items()}


def test_an_approval_reserves_a_slot_at_once_so_two_askers_cannot_both_pass() -> None:
    fleet = Fleet(max_running=1)
    first = fleet.ask("robot_1", "a")
    second = fleet.ask("robot_2", "b")  # before robot_1's OPERATION_STARTED arrives
    assert first.approved and first.data == {"rule": "fleet", "slots_taken": 1, "max_running": 1}
    assert not second.approved and second.not_ready
    assert second.reason == "1 of 1 fleet slots taken (robot_1)"
    assert fleet.phases() == {"robot_1": ("a", RESERVED)}


def test_a_full_fleet_is_not_ready_naming_the_holders_never_a_denial() -> None:
    fleet = Fleet(max_running=2)
    fleet.start("robot_3", "c")
    fleet.start("robot_1", "a")
    waiting = fleet.ask("robot_2", "b")
    assert (waiting.approved, waiting.not_ready, waiting.retry_after) == (False, True, None)
    assert waiting.reason == "2 of 2 fleet slots taken (robot_1, robot_3)"
    assert waiting.data == {"rule": "fleet", "max_running": {"max_running": 2, "holders": ["robot_1", "robot_3"], "ahead": []}}
    assert fleet.phases() == {"robot_1": ("a", RUNNING), "robot_3": ("c", RUNNING)}


@pytest.mark.parametrize("end", ["COMPLETED", "FAILED", "CANCELLED"])
def test_each_end_of_the_held_operation_frees_its_slot(end: str) -> None:
    fleet = Fleet(max_running=1)
    fleet.start("robot_1", "a")
    assert not fleet.ask("robot_2", "b").approved
    assert fleet.event("robot_1", end, "a") == f"freed the slot of robot_1 running a: a {end.lower()}"
    assert fleet.ask("robot_2", "b").approved


def test_the_end_of_another_operation_of_the_robot_frees_nothing() -> None:
    fleet = Fleet(max_running=1)
    fleet.start("robot_1", "a")
    assert fleet.event("robot_1", "CANCELLED", "queued-one") is None  # a queued operation cancelled
    assert fleet.phases() == {"robot_1": ("a", RUNNING)}


def test_the_next_start_request_of_the_same_robot_frees_its_slot_even_with_the_end_lost() -> None:
    fleet = Fleet(max_running=1)
    fleet.start("robot_1", "a")
    fleet.numbers["robot_1"] += 1  # its COMPLETED never arrives
    again = fleet.ask("robot_1", "a2")
    assert again.approved and fleet.phases() == {"robot_1": ("a2", RESERVED)}
    # ... and the same on the event stream, before its handshake arrives
    fleet.event("robot_1", "STARTED", "a2")
    fleet.numbers["robot_1"] += 1
    assert fleet.event("robot_1", "START_REQUESTED", "a3") == "freed the slot of robot_1 running a2: it asks to start a3, so a2 is settled"
    assert fleet.ask("robot_2", "b").approved


def test_the_start_request_event_of_the_approved_request_itself_keeps_the_reservation() -> None:
    rules = FleetRules(1)
    assert rules.decide_start("robot_1", "a", {}, at(7)).approved
    assert rules.on_event("robot_1", "OPERATION_START_REQUESTED", "a", at(7), 1.0) is None  # the topic lags the service
    assert rules.on_event("robot_1", "OPERATION_STARTED", "a", at(8), 1.1) is None
    assert rules.holds["robot_1"].phase == RUNNING


def test_pause_keeps_the_slot_and_resume_runs_on() -> None:
    fleet = Fleet(max_running=1)
    fleet.start("robot_1", "a")
    fleet.event("robot_1", "PAUSED", "a")
    assert fleet.phases() == {"robot_1": ("a", PAUSED)}
    assert fleet.ask("robot_2", "b").reason == "1 of 1 fleet slots taken (robot_1)"
    fleet.event("robot_1", "RESUMED", "a")
    assert fleet.phases() == {"robot_1": ("a", RUNNING)}


def test_no_limit_with_max_running_0() -> None:
    fleet = Fleet(max_running=0)
    for i in range(50):
        assert fleet.ask(f"robot_{i}", f"op{i}").approved
    assert len(fleet.rules.holders()) == 50


def test_a_lower_max_running_frees_nobody_and_holds_new_starts() -> None:
    fleet = Fleet(max_running=3)
    fleet.start("robot_1", "a")
    fleet.start("robot_2", "b")
    fleet.rules.max_running = 1
    assert fleet.ask("robot_3", "c").reason == "2 of 1 fleet slots taken (robot_1, robot_2)"
    fleet.event("robot_1", "COMPLETED", "a")
    assert not fleet.ask("robot_3", "c").approved
    fleet.event("robot_2", "COMPLETED", "b")
    assert fleet.ask("robot_3", "c").approved


# ------------------------------------------------------------------ the waiting line


def test_a_robot_that_finishes_does_not_take_its_slot_back_while_another_waits() -> None:
    fleet = Fleet(max_running=1)
    fleet.start("robot_1", "a1")
    assert fleet.ask("robot_2", "b1").reason == "1 of 1 fleet slots taken (robot_1)"
    fleet.now += 0.4
    fleet.event("robot_1", "COMPLETED", "a1")
    again = fleet.ask("robot_1", "a2")  # at once, before robot_2's next ask
    assert again.not_ready and again.reason == "0 of 1 fleet slots taken, the free ones kept for robot_2 (waiting longer)"
    assert again.data == {"rule": "fleet", "max_running": {"max_running": 1, "holders": [], "ahead": ["robot_2"]}}
    fleet.now += 0.4
    assert fleet.ask("robot_2", "b1").approved
    assert fleet.rules.waiting() == ["robot_1"]  # now robot_1 waits, first in line


def test_robots_are_served_in_the_order_they_first_asked() -> None:
    fleet = Fleet(max_running=1)
    fleet.start("robot_1", "a")
    for robot in ("robot_3", "robot_2", "robot_4"):
        assert not fleet.ask(robot, f"{robot}-op").approved
    fleet.event("robot_1", "COMPLETED", "a")
    assert fleet.ask("robot_2", "robot_2-op").reason == "0 of 1 fleet slots taken, the free ones kept for robot_3 (waiting longer)"
    assert not fleet.ask("robot_4", "robot_4-op").approved
    assert fleet.ask("robot_3", "robot_3-op").approved
    assert fleet.rules.waiting() == ["robot_2", "robot_4"]


def test_a_waiter_that_stops_asking_loses_its_place() -> None:
    fleet = Fleet(max_running=1)
    fleet.start("robot_1", "a")
    assert not fleet.ask("robot_2", "b").approved  # then its dispatcher is paused, or gone
    fleet.event("robot_1", "COMPLETED", "a")
    fleet.now += WAITER_PATIENCE / 2
    assert not fleet.ask("robot_1", "a2").approved  # robot_2 may still come
    fleet.now += WAITER_PATIENCE
    assert fleet.ask("robot_1", "a2").approved
    assert fleet.rules.waiting() == []


@pytest.mark.parametrize("event_type", ["CANCELLED", "DISPATCHER_STOPPED"])
def test_a_waiter_whose_start_can_no_longer_come_leaves_the_line(event_type: str) -> None:
    fleet = Fleet(max_running=1)
    fleet.start("robot_1", "a")
    assert not fleet.ask("robot_2", "b").approved
    fleet.event("robot_2", event_type, "b")
    fleet.event("robot_1", "COMPLETED", "a")
    assert fleet.ask("robot_1", "a2").approved


def test_a_waiter_held_back_by_its_station_keeps_no_slot() -> None:
    fleet = Fleet(max_running=2)
    fleet.start("robot_1", "a", station="dock_a")
    assert fleet.ask("robot_2", "b", station="dock_a").reason == "station dock_a in use by robot_1"
    assert fleet.ask("robot_3", "c").approved  # robot_2 could not take the free slot anyway


def test_a_free_station_is_kept_for_the_robot_that_waited_for_it() -> None:
    fleet = Fleet()
    fleet.start("robot_1", "a1", station="dock_a")
    assert not fleet.ask("robot_2", "b", station="dock_a").approved
    fleet.event("robot_1", "COMPLETED", "a1")
    again = fleet.ask("robot_1", "a2", station="dock_a")
    assert again.reason == "station dock_a kept for robot_2 (waiting longer)"
    assert again.data == {"rule": "fleet", "station": {"station": "dock_a", "holders": [], "ahead": ["robot_2"]}}
    assert fleet.ask("robot_3", "c", station="dock_b").approved  # another station: nobody waits for it
    assert fleet.ask("robot_2", "b", station="dock_a").approved


# ------------------------------------------------------------------ stations


def test_one_robot_at_a_time_at_a_station() -> None:
    fleet = Fleet()
    fleet.start("robot_1", "a", station="dock_a")
    waiting = fleet.ask("robot_2", "b", station="dock_a")
    assert waiting.not_ready and waiting.reason == "station dock_a in use by robot_1"
    assert waiting.data == {"rule": "fleet", "station": {"station": "dock_a", "holders": ["robot_1"], "ahead": []}}
    assert fleet.ask("robot_3", "c", station="dock_b").approved  # another station
    assert fleet.ask("robot_2", "d").approved  # no station at all
    fleet.event("robot_1", "COMPLETED", "a")
    approved = fleet.ask("robot_2", "b", station="dock_a")
    assert approved.approved and approved.data == {"rule": "fleet", "slots_taken": 2, "max_running": 0, "station": "dock_a"}


def test_a_station_reservation_counts_before_the_start_too() -> None:
    fleet = Fleet()
    assert fleet.ask("robot_1", "a", station="dock_a").approved
    assert fleet.ask("robot_2", "b", station="dock_a").reason == "station dock_a in use by robot_1"


def test_both_rules_named_when_both_wait() -> None:
    fleet = Fleet(max_running=1)
    fleet.start("robot_1", "a", station="dock_a")
    assert fleet.ask("robot_2", "b", station="dock_a").reason == "1 of 1 fleet slots taken (robot_1); station dock_a in use by robot_1"


def test_a_robot_asking_again_does_not_wait_for_its_own_station() -> None:
    fleet = Fleet(max_running=1)
    fleet.start("robot_1", "a", station="dock_a")
    assert fleet.ask("robot_1", "a2", station="dock_a").approved


def test_station_key_and_integer_stations() -> None:
    fleet = Fleet(station_key="dock")
    fleet.start("robot_1", "a", dock=3, station="ignored")
    assert fleet.ask("robot_2", "b", dock="3").reason == "station 3 in use by robot_1"
    assert fleet.ask("robot_3", "c", station="ignored").approved


@pytest.mark.parametrize("value", [["dock_a"], {"name": "dock_a"}, True, 2.5])
def test_a_station_that_is_no_name_is_denied(value: Any) -> None:
    fleet = Fleet()
    denied = fleet.ask("robot_1", "a", station=value)
    assert (denied.approved, denied.not_ready) == (False, False)
    assert denied.reason == f"payload 'station' must name a station as text (or an integer), got {value!r}"
    assert fleet.rules.holders() == []


def test_parse_station() -> None:
    assert parse_station({}, "station") is None
    assert parse_station({"station": None}, "station") is None
    assert parse_station({"station": ""}, "station") is None
    assert parse_station({"station": "dock_a"}, "station") == "dock_a"
    assert parse_station({"station": 7}, "station") == "7"


# ------------------------------------------------------------------ reservations that never start


@pytest.mark.parametrize("answer", ["START_DENIED", "START_DEFERRED"])
def test_a_reservation_the_dispatcher_answered_otherwise_is_freed(answer: str) -> None:
    """The approval came too late: the dispatcher applied its default_decision (deny)."""
    fleet = Fleet(max_running=1)
    assert fleet.ask("robot_1", "a").approved
    changed = fleet.event("robot_1", answer, "a")
    assert changed == f"freed the slot of robot_1 reserved a: its dispatcher answered the start of a otherwise (OPERATION_{answer})"
    assert fleet.ask("robot_2", "b").approved


def test_a_late_denial_of_an_earlier_request_keeps_the_new_reservation() -> None:
    rules = FleetRules(1)
    assert rules.decide_start("robot_1", "a", {}, at(10)).approved
    assert rules.on_event("robot_1", "OPERATION_START_DENIED", "a", at(9), 1.0) is None  # from request 8, arriving late
    assert rules.on_event("robot_1", "OPERATION_START_DEFERRED", "a", at(9), 1.0) is None
    assert rules.holders() == ["robot_1"]


def test_a_late_end_of_an_earlier_run_of_the_same_operation_keeps_the_slot() -> None:
    """Requeued after a failure, started again: the first run's FAILED arriving late frees nothing."""
    rules = FleetRules(1)
    assert rules.decide_start("robot_1", "a", {}, at(20)).approved
    assert rules.on_event("robot_1", "OPERATION_FAILED", "a", at(12), 1.0) is None
    assert rules.on_event("robot_1", "OPERATION_STARTED", "a", at(21), 2.0) is None
    assert rules.on_event("robot_1", "OPERATION_COMPLETED", "a", at(22), 3.0) is not None
    assert rules.holders() == []


@pytest.mark.parametrize("loop_event", ["DISPATCHER_STOPPED", "DISPATCHER_STARTED"])
def test_a_reservation_is_spent_with_the_dispatchers_run(loop_event: str) -> None:
    fleet = Fleet(max_running=1)
    assert fleet.ask("robot_1", "a").approved
    assert fleet.event("robot_1", loop_event) == f"freed the slot of robot_1 reserved a: OPERATION_{loop_event}: the approval of a is spent"
    assert fleet.rules.holders() == []


def test_a_dispatcher_stop_keeps_the_slot_of_a_running_operation() -> None:
    """The robot may still be driving; a restarted dispatcher's recovery settles it (or its next start)."""
    fleet = Fleet(max_running=1)
    fleet.start("robot_1", "a")
    assert fleet.event("robot_1", "DISPATCHER_STOPPED") is None
    assert fleet.phases() == {"robot_1": ("a", RUNNING)}
    # the restarted dispatcher (a new instance, numbers from 1 again) fails it as interrupted
    assert fleet.rules.on_event("robot_1", "OPERATION_FAILED", "a", at(1, "newinstance"), 2000.0) is not None
    assert fleet.rules.holders() == []


def test_a_dispatcher_pause_keeps_a_reservation() -> None:
    """Paused between the approval and the start, it may still start the operation once resumed."""
    fleet = Fleet(max_running=1)
    assert fleet.ask("robot_1", "a").approved
    assert fleet.event("robot_1", "DISPATCHER_PAUSED") is None
    assert fleet.event("robot_1", "DISPATCHER_RESUMED") is None
    assert fleet.phases() == {"robot_1": ("a", RESERVED)}


def test_with_unknown_order_only_the_held_operations_end_frees() -> None:
    rules = FleetRules(1)
    assert rules.decide_start("robot_1", "a", {}, None).approved  # an event id not in the core's form
    for event_type in ("OPERATION_START_REQUESTED", "OPERATION_START_DEFERRED", "OPERATION_DISPATCHER_STOPPED"):
        assert rules.on_event("robot_1", event_type, "a", None, 1.0) is None
    assert rules.on_event("robot_1", "OPERATION_COMPLETED", "a", None, 2.0) is not None


def test_release_frees_whatever_the_robot_holds() -> None:
    fleet = Fleet(max_running=1)
    fleet.start("robot_1", "a")
    assert fleet.rules.release("robot_1", "its dispatcher is gone") == "freed the slot of robot_1 running a: its dispatcher is gone"
    assert fleet.rules.release("robot_1", "again") is None


# ------------------------------------------------------------------ nothing runs uncounted


@pytest.mark.parametrize(("event_type", "phase"), [("STARTED", RUNNING), ("RESUMED", RUNNING), ("PAUSED", PAUSED)])
def test_an_operation_seen_active_without_an_approval_is_counted(event_type: str, phase: str) -> None:
    """A fleet node restarted while robots run, or a dispatcher whose default_decision approved."""
    fleet = Fleet(max_running=1)
    assert fleet.event("robot_1", event_type, "a") == f"robot_1 {phase} a without a fleet approval: counted"
    assert fleet.ask("robot_2", "b").reason == "1 of 1 fleet slots taken (robot_1)"


def test_a_late_start_of_an_earlier_operation_does_not_replace_the_reservation() -> None:
    rules = FleetRules(2)
    assert rules.decide_start("robot_1", "b", {"station": "s"}, at(30)).approved
    assert rules.on_event("robot_1", "OPERATION_STARTED", "a", at(25), 1.0) is None
    assert rules.holds["robot_1"].operation_id == "b"


def test_a_running_operation_keeps_its_station_known_from_the_request() -> None:
    fleet = Fleet()
    fleet.start("robot_1", "a", station="dock_a")
    fleet.event("robot_1", "PAUSED", "a")
    fleet.event("robot_1", "RESUMED", "a")
    assert fleet.rules.holds["robot_1"].station == "dock_a"


# ------------------------------------------------------------------ dispatcher_state


def test_state_counts_what_already_runs_when_the_fleet_node_starts() -> None:
    rules = FleetRules(1)
    assert not rules.state_seen("robot_1")
    assert rules.on_state("robot_1", "a", 100.0) == "robot_1 runs a (its dispatcher_state): counted"
    assert rules.state_seen("robot_1")
    assert rules.on_state("robot_2", "", 100.0) is None
    assert rules.decide_start("robot_2", "b", {}, at(3)).reason == "1 of 1 fleet slots taken (robot_1)"


def test_a_newer_state_without_the_operation_frees_a_slot_whose_end_was_lost() -> None:
    rules = FleetRules(1)
    assert rules.decide_start("robot_1", "a", {}, at(3)).approved
    rules.on_event("robot_1", "OPERATION_STARTED", "a", at(4), 100.0)
    assert rules.on_state("robot_1", "a", 100.5) is None  # still current
    assert rules.on_state("robot_1", "", 99.0) is None  # from before the start: stale
    assert rules.on_state("robot_1", "", 100.4) is None  # older than the one that showed it
    assert rules.on_state("robot_1", "", 101.0) == "freed the slot of robot_1 running a: its dispatcher_state no longer shows a"
    assert rules.holders() == []


def test_a_state_taken_while_the_start_is_written_frees_nothing() -> None:
    """A dispatcher with a store stamps the start, writes it, then applies it: a snapshot taken
    during the write is newer than the start and does not show the operation yet."""
    rules = FleetRules(1)
    assert rules.decide_start("robot_1", "a", {}, at(3)).approved
    rules.on_event("robot_1", "OPERATION_STARTED", "a", at(4), 100.0)
    assert rules.on_state("robot_1", "", 100.001) is None  # delivered after the STARTED event
    assert rules.holders() == ["robot_1"]
    assert rules.on_state("robot_1", "a", 100.002) is None
    assert rules.on_state("robot_1", "", 100.9) is not None  # after a snapshot that showed it: it ended


def test_a_state_older_than_the_robots_newest_event_is_stale() -> None:
    rules = FleetRules(1)
    rules.on_event("robot_1", "OPERATION_COMPLETED", "a", at(9), 200.0)
    assert rules.on_state("robot_1", "a", 199.0) is None  # published before the completion, delivered after it
    assert rules.holders() == []


def test_a_state_never_frees_a_reservation() -> None:
    """The snapshot may come from before the dispatcher had the approval."""
    rules = FleetRules(1)
    assert rules.decide_start("robot_1", "a", {}, at(3)).approved
    assert rules.on_state("robot_1", "", 500.0) is None
    assert rules.holders() == ["robot_1"]


def test_a_state_naming_another_operation_replaces_the_lost_one() -> None:
    rules = FleetRules(2)
    rules.on_event("robot_1", "OPERATION_STARTED", "a", at(4), 100.0)
    changed = rules.on_state("robot_1", "b", 150.0)
    assert changed == "freed the slot of robot_1 running a: its dispatcher_state no longer shows a; robot_1 runs b (its dispatcher_state): counted"
    assert rules.holds["robot_1"].operation_id == "b"


# ------------------------------------------------------------------ positions and parameters


def test_event_position_reads_the_cores_event_ids() -> None:
    assert event_position("3f2a9c0b1d4e-000000017", 17) == ("3f2a9c0b1d4e", 17)
    assert event_position("3f2a9c0b1d4e-000000018-unrecorded-2", 0) == ("3f2a9c0b1d4e", 18)
    assert event_position("3f2a9c0b1d4e-000001234567", 0) == ("3f2a9c0b1d4e", 1234567)
    assert event_position("", 5) is None
    assert event_position("ev-1x", 0) is None


def test_parameters_are_checked_naming_them() -> None:
    assert check_max_running(0) == 0 and check_max_running(7) == 7
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError, match=r"^max_running: an integer >= 0 is expected"):
            check_max_running(bad)
    with pytest.raises(ValueError, match=r"^station_key: a non-empty payload key"):
        FleetRules(1, station_key=" ")
    assert robot_names(["robot_1", "/fleet/robot_2/"]) == ["robot_1", "fleet/robot_2"]
    with pytest.raises(ValueError, match=r"^robots: name at least one robot namespace"):
        robot_names([])
    with pytest.raises(ValueError, match=r"^robots\[1\]: 'robot_1' is named twice"):
        robot_names(["robot_1", "/robot_1"])
    for bad in ("", "/", "1robot", "robot-1", "a//b"):
        with pytest.raises(ValueError, match=r"^robots\[0\]: .* is not a namespace"):
            robot_names([bad])
