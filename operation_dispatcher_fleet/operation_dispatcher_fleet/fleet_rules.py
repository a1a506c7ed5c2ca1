"""Fleet-wide start rules, without ROS: who may start now, given what every robot holds.

One business logic serves every robot's handshakes (``fleet_rules_node``)
and decides each START with this state. Two rules:

- ``max_running`` (0 = no limit): at most N robots hold an operation at a
  time. A robot *holds* a slot from the moment its start is approved (a
  reservation: two robots asking at the same moment cannot both pass, the
  first approval counts before its ``OPERATION_STARTED`` arrives) while the
  operation runs or is paused, until it ends.
- the station rule: an operation whose payload names a station (key
  ``station_key``, default ``"station"``: a string, or an integer taken as
  its text) starts only while no other robot holds an operation naming
  the same station.

Robots that wait are served in the order they first asked: an earlier
robot still waiting that could start counts as if it held the slot and the
station it asked for (one that is itself held back takes nothing), so a robot that has more work cannot take its own slot back at once
each time it finishes while another waits (without this, the robots that
asked first kept the fleet until their queues ran dry). A waiter that has
not asked again for :data:`WAITER_PATIENCE` seconds (its operation was
cancelled, its dispatcher paused or gone) loses its place, so nobody can
hold a free slot by having asked once; a dispatcher whose not-ready back-off
(``not_ready_max_seconds``, default 0.5 s) is longer than that loses its
place between asks, and still takes any slot nobody waits for.

A start that must wait is answered *not ready* (``Decision.later``), not
denied: a full fleet or a busy station is no reason to give up, and a
dispatcher counts denials and pauses itself after ``max_retries`` of them,
while a not-ready start stays queued with nothing counted and is asked
again within half a second (docs/business_logic.md). Its reason names the
rule: ``"2 of 2 fleet slots taken (robot_1, robot_3)"``, ``"station dock_a
in use by robot_2"``. A payload whose station is neither text nor an
integer is denied: no waiting makes it valid. Cancel, pause and resume are
not this module's business (the node approves them; a paused operation
keeps its slot).

How a slot is freed, and why a lost message cannot hold one forever. A
dispatcher runs one operation at a time and asks for the next start only
once the previous one is settled, so a robot holds at most one slot and
any of these ends it:

- the held operation's ``OPERATION_COMPLETED``, ``OPERATION_FAILED`` or
  ``OPERATION_CANCELLED`` (a recovered dispatcher's "interrupted" failure
  too);
- the same robot asking to start again (handshake or its
  ``OPERATION_START_REQUESTED`` event): the previous approval is spent, and
  whatever it started has ended, even if that event was lost;
- for a reservation that never started: the same operation's
  ``OPERATION_START_DENIED`` / ``OPERATION_START_DEFERRED`` after the
  approved request (the dispatcher did not get the answer in time and
  applied its ``default_decision``), or ``OPERATION_DISPATCHER_STOPPED`` /
  ``OPERATION_DISPATCHER_STARTED`` (an approval is spent with the run of the
  loop that asked for it). A dispatcher *paused* between the approval and
  the start keeps its reservation: it may still start that operation once
  resumed, so freeing it there could let one robot too many run;
- the robot's ``dispatcher_state`` (latched): a snapshot that names
  another current operation, or none, newer than one that showed the held
  operation current, says it ended (a dispatcher restarted without a store
  forgets its operation and sends no event for it). Newer than a snapshot
  that showed it, not merely newer than its start: a dispatcher with a
  store stamps the start, writes it, and only then applies it, and a
  snapshot taken during that write is newer than the start and does not
  show it yet;
- :meth:`FleetRules.release` by the node, for a dispatcher gone from the
  graph for longer than its ``release_lost_after`` (the robot may still be
  driving its last goal, so this is a choice: 0 keeps the slot until the
  dispatcher is back).

The other way round, nothing may run uncounted: an ``OPERATION_STARTED``,
``OPERATION_RESUMED`` or ``OPERATION_PAUSED`` (or a ``dispatcher_state``
naming a current operation) of a robot that holds nothing is counted at
once. That covers a fleet node restarted while robots run, and a dispatcher
whose ``default_decision`` approved when this node did not answer. It can
push the count above N; the rule then waits until enough slots are free.

Late messages. Events of one dispatcher arrive in order, but on a topic
that is not ordered with the handshake services, and a message may come
late. So each hold remembers the position of the request (or event) that
made it, and only an event *after* it may end it: an end of an earlier run
of the same operation (requeued after a failure), or the denial of an
earlier request, arriving after the new approval, is ignored. Where the
order is unknown (an event id not in the core's form), only the held
operation's end frees its slot. The position
is the dispatcher's event number, and its instance (the prefix of its event
ids, new with every dispatcher process: numbers restart in a dispatcher
without a store), read by :func:`event_position`. A ``dispatcher_state``
older than the newest event seen from its robot is stale and ignored.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from operation_dispatcher import Decision

RESERVED, RUNNING, PAUSED = "reserved", "running", "paused"
"""What a hold is: approved (not yet seen started), running, paused."""

ENDED = frozenset({"OPERATION_COMPLETED", "OPERATION_FAILED", "OPERATION_CANCELLED"})
ACTIVE = {"OPERATION_STARTED": RUNNING, "OPERATION_RESUMED": RUNNING, "OPERATION_PAUSED": PAUSED}
ANSWERED_OTHERWISE = frozenset({"OPERATION_START_DENIED", "OPERATION_START_DEFERRED"})
LOOP_ENDED = frozenset({"OPERATION_DISPATCHER_STOPPED", "OPERATION_DISPATCHER_STARTED"})
WAITER_PATIENCE = 2.0
"""Seconds a waiting robot keeps its place in line without asking again (4 x the dispatcher's
default not-ready back-off of at most 0.5 s)."""
REMEMBERED_STATIONS = 4096
"""Stations of recently approved operations, kept to name the station of one that is seen running again."""

_EVENT_ID = re.compile(r"^(?P<instance>[^-]+)-(?P<number>\d+)(?:-unrecorded-\d+)?$")

Position = tuple[str, int]
"""(dispatcher instance, event number) of a request or event; see :func:`event_position`."""


def event_position(event_id: str, sequence: int = 0) -> Position | None:
    """Where an event stands in its dispatcher's log: (instance, number), or None when unknown.

    The core names events ``<instance>-<number>`` (``-unrecorded-<k>`` after a
    start request sent unrecorded, whose number is that of the next event, and
    whose ``sequence`` is 0); the instance is new with every dispatcher process."""
    match = _EVENT_ID.match(event_id or "")
    if match is None:
        return None
    return match.group("instance"), sequence if sequence > 0 else int(match.group("number"))


def _after(position: Position | None, than: Position | None) -> bool | None:
    """Is ``position`` later than ``than``? None when either is unknown. Another instance (a
    restarted dispatcher) is later: the guard is for late messages of one run."""
    if position is None or than is None:
        return None
    return position[0] != than[0] or position[1] > than[1]


@dataclass
class Hold:
    """The one slot a robot holds."""

    operation_id: str
    station: str | None
    phase: str  # RESERVED, RUNNING or PAUSED
    position: Position | None  # of the request approved, or the event that made this hold
    shown_at: float | None = None  # stamp (s) of the newest dispatcher_state that showed it current

    def describe(self, robot: str) -> str:
        station = f" at station {self.station}" if self.station else ""
        return f"{robot} {self.phase} {self.operation_id}{station}"


@dataclass
class Waiter:
    """A robot answered not ready, in line for what it asked."""

    operation_id: str
    station: str | None
    asked: float  # the clock's time of its last ask


def parse_station(payload: Mapping[str, Any], key: str) -> str | None:
    """The station an operation's payload names: None when none (absent, null or ""); ValueError
    when it is neither text nor an integer."""
    value = payload.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"payload {key!r} must name a station as text (or an integer), got {value!r}")


class FleetRules:
    """The fleet-wide state and the start decisions made with it (see the module's docstring).

    Not thread-safe: one caller at a time (the node's single-threaded executor). Every method that
    changes a hold returns a sentence saying what changed (for the log), or None."""

    def __init__(
        self, max_running: int = 0, station_key: str = "station", *, patience: float = WAITER_PATIENCE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_running = check_max_running(max_running)
        if not isinstance(station_key, str) or not station_key.strip():
            raise ValueError(f"station_key: a non-empty payload key is expected, got {station_key!r}")
        self.station_key = station_key
        self.patience = patience
        self._clock = clock
        self._holds: dict[str, Hold] = {}
        self._line: OrderedDict[str, Waiter] = OrderedDict()  # robots waiting, the first to ask first
        self._stations: OrderedDict[tuple[str, str], str | None] = OrderedDict()  # (robot, operation) -> station
        self._newest_stamp: dict[str, float] = {}  # robot -> newest event stamp seen
        self._state_seen: set[str] = set()

    # ------------------------------------------------------------------ reading

    @property
    def holds(self) -> dict[str, Hold]:
        """Robot -> its hold (a copy)."""
        return dict(self._holds)

    def holders(self) -> list[str]:
        return sorted(self._holds)

    def waiting(self) -> list[str]:
        """Robots in line, the first first (those still patient)."""
        self._prune_line()
        return list(self._line)

    def state_seen(self, robot: str) -> bool:
        """Has a ``dispatcher_state`` of ``robot`` been taken in (see :meth:`on_state`)?"""
        return robot in self._state_seen

    # ------------------------------------------------------------------ deciding

    def decide_start(self, robot: str, operation_id: str, payload: Mapping[str, Any], position: Position | None = None) -> Decision:
        """May ``robot`` start ``operation_id`` now? An approval reserves the slot at once.

        The robot's own hold ends first: its dispatcher asks for a start only once
        the previous one is settled (see the module's docstring). Robots that wait
        are served first come, first served."""
        self._holds.pop(robot, None)
        try:
            station = parse_station(payload, self.station_key)
        except ValueError as exc:
            self._line.pop(robot, None)
            return Decision(approved=False, reason=str(exc), data={"rule": "station"})
        self._prune_line()
        promised = self._promised_before(robot)  # what the robots ahead in line would take first
        taken = self.holders()
        waits: list[str] = []
        data: dict[str, Any] = {}
        if self.max_running and len(taken) + len(promised) >= self.max_running:
            if len(taken) >= self.max_running:
                waits.append(f"{len(taken)} of {self.max_running} fleet slots taken ({', '.join(taken)})")
            else:
                waits.append(
                    f"{len(taken)} of {self.max_running} fleet slots taken, the free ones kept for "
                    f"{', '.join(promised)} (waiting longer)"
                )
            data["max_running"] = {"max_running": self.max_running, "holders": taken, "ahead": list(promised)}
        if station is not None:
            users = sorted(r for r, hold in self._holds.items() if hold.station == station)
            next_in_line = [r for r, s in promised.items() if s == station]
            if users:
                waits.append(f"station {station} in use by {', '.join(users)}")
            elif next_in_line:
                waits.append(f"station {station} kept for {', '.join(next_in_line)} (waiting longer)")
            if users or next_in_line:
                data["station"] = {"station": station, "holders": users, "ahead": next_in_line}
        if waits:
            waiter = self._line.setdefault(robot, Waiter(operation_id, station, self._clock()))
            waiter.operation_id, waiter.station, waiter.asked = operation_id, station, self._clock()
            return Decision.later("; ".join(waits), data={"rule": "fleet", **data})
        self._line.pop(robot, None)
        self._holds[robot] = Hold(operation_id, station, RESERVED, position)
        self._remember_station(robot, operation_id, station)
        approval: dict[str, Any] = {"rule": "fleet", "slots_taken": len(self._holds), "max_running": self.max_running}
        if station is not None:
            approval["station"] = station
        return Decision(approved=True, data=approval)

    def _promised_before(self, robot: str) -> dict[str, str | None]:
        """The robots ahead of ``robot`` in line that would start before it, each with its station:
        in line order, each that could start given the holds and those before it takes a slot
        and its station; one that could not (its station busy, no slot left) takes nothing."""
        slots = len(self._holds)
        stations = {hold.station for hold in self._holds.values() if hold.station is not None}
        promised: dict[str, str | None] = {}
        for other, waiter in self._line.items():
            if other == robot:
                break
            if (self.max_running and slots >= self.max_running) or waiter.station in stations:
                continue
            promised[other] = waiter.station
            slots += 1
            if waiter.station is not None:
                stations.add(waiter.station)
        return promised

    def _prune_line(self) -> None:
        oldest = self._clock() - self.patience
        for robot in [r for r, waiter in self._line.items() if waiter.asked < oldest]:
            del self._line[robot]

    # ------------------------------------------------------------------ following

    def on_event(
        self, robot: str, event_type: str, operation_id: str, position: Position | None = None, stamp: float | None = None
    ) -> str | None:
        """Take in one event of ``robot``'s dispatcher (its ``dispatch_events``)."""
        if stamp is not None:
            self._newest_stamp[robot] = max(stamp, self._newest_stamp.get(robot, stamp))
        waiter = self._line.get(robot)
        if waiter is not None and (event_type in LOOP_ENDED or (event_type in ENDED and operation_id == waiter.operation_id)):
            del self._line[robot]  # it no longer waits for that start
        hold = self._holds.get(robot)
        if event_type in ACTIVE:
            return self._active(robot, hold, ACTIVE[event_type], operation_id, position, stamp)
        if hold is None:
            return None
        later = _after(position, hold.position)
        if later is False:
            return None  # a late event from before the hold
        ours = operation_id == hold.operation_id
        if event_type in ENDED and ours:  # the one end that frees also when the order is unknown
            return self._free(robot, f"{operation_id} {event_type.removeprefix('OPERATION_').lower()}")
        if later is None:
            return None  # the others free only when known to come after the hold
        if event_type == "OPERATION_START_REQUESTED":
            return self._free(robot, f"it asks to start {operation_id}, so {hold.operation_id} is settled")
        if hold.phase == RESERVED and event_type in ANSWERED_OTHERWISE and ours:
            return self._free(robot, f"its dispatcher answered the start of {operation_id} otherwise ({event_type})")
        if hold.phase == RESERVED and event_type in LOOP_ENDED:
            return self._free(robot, f"{event_type}: the approval of {hold.operation_id} is spent")
        return None

    def _active(
        self, robot: str, hold: Hold | None, phase: str, operation_id: str, position: Position | None, stamp: float | None
    ) -> str | None:
        if hold is not None and _after(position, hold.position) is False:
            return None  # late: from before the request this hold was approved for
        self._line.pop(robot, None)  # it runs: it waits for nothing
        if hold is not None and hold.operation_id == operation_id:
            hold.phase = phase
            return None
        station = self._stations.get((robot, operation_id))
        self._holds[robot] = Hold(operation_id, station, phase, position)
        replaced = f" (instead of {hold.operation_id})" if hold is not None else ""
        return f"{robot} {phase} {operation_id} without a fleet approval{replaced}: counted"

    def on_state(self, robot: str, current_operation_id: str, stamp: float) -> str | None:
        """Take in ``robot``'s ``dispatcher_state``: its current (RUNNING or PAUSED) operation, or "".

        Stale (older than the newest event of the robot seen): ignored. Else a held operation
        that an older snapshot showed current and this one does not, or a started one while
        this shows another current, is freed, and a current operation held by nobody is
        counted. A reservation is left alone: the snapshot may come from before the
        dispatcher had the approval (see the module's docstring)."""
        self._state_seen.add(robot)
        if stamp < self._newest_stamp.get(robot, stamp):
            return None
        hold = self._holds.get(robot)
        freed = None
        if hold is not None and hold.operation_id == current_operation_id:
            hold.shown_at = stamp if hold.shown_at is None else max(hold.shown_at, stamp)
            if hold.phase == RESERVED:
                hold.phase = RUNNING  # a state shows it only once it started (PAUSED follows from its event)
            return None
        # Not current any more: after a snapshot that showed it, or (a started hold, so the state is
        # newer than its start: not stale) another operation is current, which one at a time means it ended.
        if hold is not None and (
            (hold.shown_at is not None and stamp > hold.shown_at) or (hold.phase != RESERVED and current_operation_id)
        ):
            freed = self._free(robot, f"its dispatcher_state no longer shows {hold.operation_id}")
            hold = None
        if hold is None and current_operation_id:
            self._line.pop(robot, None)
            station = self._stations.get((robot, current_operation_id))
            self._holds[robot] = Hold(current_operation_id, station, RUNNING, None, stamp)
            counted = f"{robot} runs {current_operation_id} (its dispatcher_state): counted"
            return f"{freed}; {counted}" if freed else counted
        return freed

    def release(self, robot: str, why: str) -> str | None:
        """Free ``robot``'s slot, whatever it holds (a dispatcher gone from the graph)."""
        return self._free(robot, why) if robot in self._holds else None

    def _free(self, robot: str, why: str) -> str:
        hold = self._holds.pop(robot)
        return f"freed the slot of {hold.describe(robot)}: {why}"

    def _remember_station(self, robot: str, operation_id: str, station: str | None) -> None:
        self._stations[(robot, operation_id)] = station
        self._stations.move_to_end((robot, operation_id))
        if len(self._stations) > REMEMBERED_STATIONS:
            self._stations.popitem(last=False)


def check_max_running(value: Any) -> int:
    """``max_running`` as an int >= 0; ValueError naming it otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"max_running: an integer >= 0 is expected (0 = no limit), got {value!r}")
    return value


def robot_names(values: Iterable[Any]) -> list[str]:
    """The ``robots`` parameter checked: namespaces (``robot_1``, ``/fleet/robot_2``) as names without
    the outer slashes, at least one, none twice; ValueError naming the parameter otherwise."""
    names: list[str] = []
    for i, value in enumerate(values):
        name = value.strip("/") if isinstance(value, str) else None
        if not name or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(/[A-Za-z_][A-Za-z0-9_]*)*", name):
            raise ValueError(
                f"robots[{i}]: {value!r} is not a namespace (letters, digits and _ per part, parts separated by /, "
                "not starting with a digit)"
            )
        if name in names:
            raise ValueError(f"robots[{i}]: {name!r} is named twice")
        names.append(name)
    if not names:
        raise ValueError("robots: name at least one robot namespace, e.g. robots:='[robot_1, robot_2]'")
    return names
