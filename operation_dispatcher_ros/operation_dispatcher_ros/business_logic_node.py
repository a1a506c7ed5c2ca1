"""Reference business logic: serves the dispatcher's handshakes with a rule chosen by parameter.

Services (operation_dispatcher_interfaces/srv/Handshake, relative names):
``handshake/start``, ``handshake/cancel``, ``handshake/pause``,
``handshake/resume``. Subscribes to ``battery_state`` (std_msgs/Float32,
0..1, sensor-data QoS so it matches reliable and best-effort publishers).

Rules (parameter ``rule``) decide START requests; cancel, pause and resume
are always approved:

- ``approve_all``: every start is approved.
- ``battery_threshold``: deny while the last battery reading is below
  ``battery_threshold``; answer *not ready* (ask again soon, no denial)
  while there is no reading yet (a robot still booting) or the last one is
  older than ``battery_max_age``.
- ``deny_first_n``: deny the first ``deny_count`` start requests, then
  approve (the count restarts when ``rule`` is set to ``deny_first_n``).
- ``deny_time_window``: deny inside the daily UTC window
  [``deny_window_start``, ``deny_window_end``) (wraps past midnight when the
  end is earlier; empty when both are equal).

Parameters (default, range; all may be changed at runtime, invalid values
are refused with a reason naming the parameter):

======================= ================ ================ ===================================
``rule``                "approve_all"    one of the four  which reference rule decides starts
``battery_threshold``   0.2              0.0 .. 1.0       lowest battery level to start with
``battery_max_age``     5.0              0.0 .. 3600.0    s; older readings count as unknown;
                                                          0 = any age
``deny_count``          3                0 .. 1000000     starts to deny for ``deny_first_n``
``deny_window_start``   "22:00"          HH:MM            window start, UTC
``deny_window_end``     "06:00"          HH:MM            window end, UTC
======================= ================ ================ ===================================

To write your own rules, subclass ``business_logic.BusinessLogicNode``
instead (see ``examples/custom_business_logic.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from std_msgs.msg import Float32

from .business_logic import BusinessLogicNode, DecisionLike
from .business_rules import (
    RULES,
    DailyWindow,
    battery_decision,
    deny_first_n_decision,
    parse_hh_mm,
    time_window_decision,
)
from .node_main import ConfigurationError, run_node


def _float(description: str, low: float, high: float) -> ParameterDescriptor:
    return ParameterDescriptor(
        description=description, floating_point_range=[FloatingPointRange(from_value=low, to_value=high)]
    )


PARAMETERS: dict[str, tuple[Any, ParameterDescriptor]] = {
    "rule": ("approve_all", ParameterDescriptor(description=f"Reference rule for START requests: {', '.join(RULES)}.")),
    "battery_threshold": (0.2, _float("battery_threshold rule: lowest battery level (0..1) to start with.", 0.0, 1.0)),
    "battery_max_age": (
        5.0,
        _float("battery_threshold rule: readings older than this (s) count as unknown (not ready); 0 = any age.", 0.0, 3600.0),
    ),
    "deny_count": (
        3,
        ParameterDescriptor(
            description="deny_first_n rule: number of START requests to deny before approving.",
            integer_range=[IntegerRange(from_value=0, to_value=1_000_000, step=1)],
        ),
    ),
    "deny_window_start": ("22:00", ParameterDescriptor(description="deny_time_window rule: window start, HH:MM UTC.")),
    "deny_window_end": ("06:00", ParameterDescriptor(description="deny_time_window rule: window end, HH:MM UTC.")),
}


@dataclass(frozen=True)
class RuleSettings:
    rule: str
    battery_threshold: float
    battery_max_age: float
    deny_count: int
    window: DailyWindow

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> RuleSettings:
        """Validate the parameter values together; ValueError naming the parameter otherwise."""
        if values["rule"] not in RULES:
            raise ValueError(f"rule: {values['rule']!r} is not one of {', '.join(RULES)}")
        times = {}
        for name in ("deny_window_start", "deny_window_end"):
            try:
                times[name] = parse_hh_mm(values[name])
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return cls(
            rule=values["rule"],
            battery_threshold=values["battery_threshold"],
            battery_max_age=values["battery_max_age"],
            deny_count=values["deny_count"],
            window=DailyWindow(times["deny_window_start"], times["deny_window_end"]),
        )


class ReferenceRulesNode(BusinessLogicNode):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("business_logic", **kwargs)
        for name, (default, descriptor) in PARAMETERS.items():
            self.declare_parameter(name, default, descriptor)
        try:
            self._settings = RuleSettings.from_values({name: self.get_parameter(name).value for name in PARAMETERS})
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        self._denied_starts = 0
        self._battery: tuple[float, float] | None = None  # (level, time.monotonic() of receipt)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.create_subscription(Float32, "battery_state", self._on_battery, qos_profile_sensor_data)
        self.get_logger().info(f"business logic ready, rule {self._settings.rule}")

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        values = {name: self.get_parameter(name).value for name in PARAMETERS}
        values.update({p.name: p.value for p in parameters if p.name in PARAMETERS})
        try:
            settings = RuleSettings.from_values(values)
        except ValueError as exc:
            return SetParametersResult(successful=False, reason=str(exc))
        if settings.rule == "deny_first_n" and any(p.name == "rule" for p in parameters):
            self._denied_starts = 0
        self._settings = settings
        return SetParametersResult(successful=True)

    def _on_battery(self, msg: Float32) -> None:
        if self._battery is None:  # a robot that boots late: the moment this node can decide
            self.get_logger().info(f"battery_state: first reading, level {msg.data:.2f}")
        self._battery = (msg.data, time.monotonic())

    def decide_start(self, event: Any, operation: Any) -> DecisionLike:
        settings = self._settings
        if settings.rule == "battery_threshold":
            if self._battery is None:
                return battery_decision(None, settings.battery_threshold)
            level, received = self._battery
            age = time.monotonic() - received
            return battery_decision(level, settings.battery_threshold, age=age, max_age=settings.battery_max_age)
        if settings.rule == "deny_first_n":
            decision = deny_first_n_decision(self._denied_starts, settings.deny_count)
            if not decision.approved:
                self._denied_starts += 1
            return decision
        if settings.rule == "deny_time_window":
            now = datetime.fromtimestamp(self.get_clock().now().nanoseconds / 1e9, tz=timezone.utc)
            return time_window_decision(settings.window, now)
        return True


def main(args: list[str] | None = None) -> int:
    return run_node(ReferenceRulesNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
