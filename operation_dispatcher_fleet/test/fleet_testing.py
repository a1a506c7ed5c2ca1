"""Bringing up a fleet in a test: robots (dispatcher, business logic, sim robot) and the gateway, as real processes.

Every robot is ``<prefix>_<i>``: its namespace and its resource id. The
gateway serves on a free loopback port and records to a SQLite file of the
test (or the PostgreSQL DSN it is given).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import ros_testing

GATEWAY_UP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_robot(
    processes: Any, namespace: str, *, x: float = 0.0, y: float = 0.0, dispatcher: dict[str, Any] | None = None,
    business_logic: dict[str, Any] | None = None, sim_robot: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The three nodes of one simulated robot in ``namespace`` (not waited for: the gateway's view is)."""
    return {
        "sim_robot": processes.start(
            "sim_robot_node", namespace, {**ros_testing.FAST_SIM_ROBOT_PARAMS, "initial_x": x, "initial_y": y, **(sim_robot or {})}
        ),
        "business_logic": processes.start(
            "business_logic_node", namespace, {**ros_testing.FAST_BUSINESS_LOGIC_PARAMS, **(business_logic or {})}
        ),
        "dispatcher": start_dispatcher(processes, namespace, dispatcher),
    }


def start_dispatcher(processes: Any, namespace: str, params: dict[str, Any] | None = None) -> Any:
    return processes.start("dispatcher_node", namespace, {**ros_testing.FAST_DISPATCHER_PARAMS, **(params or {})})


class Gateway:
    """A running ``fleet_gateway_node`` and an HTTP client onto it."""

    def __init__(self, processes: Any, tmp_path: Path, params: dict[str, Any] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        defaults = {"http_port": self.port, "history_path": str(tmp_path / "fleet_history.db"), "discovery_period": 0.2}
        self.process = processes.start("fleet_gateway_node", "", {**defaults, **(params or {})}, package="operation_dispatcher_fleet")
        self.processes = processes
        self.http = httpx.Client(base_url=self.url, timeout=30.0)

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    def post(self, path: str, body: Any = None, expect: int = 200) -> Any:
        response = self.http.post(path, json=body)
        assert response.status_code == expect, f"POST {path}: {response.status_code} {response.text}"
        return response.json()

    def robots(self) -> dict[str, dict[str, Any]]:
        return {r["resource_id"]: r for r in self.get("/robots")}

    def wait_robots(self, condition: Callable[[dict[str, dict[str, Any]]], bool], timeout: float = GATEWAY_UP_TIMEOUT, what: str = "") -> Any:
        """Poll ``GET /robots`` until ``condition(robots by id)`` holds; the robots then."""
        deadline = time.monotonic() + timeout
        robots: dict[str, dict[str, Any]] = {}
        while time.monotonic() < deadline:
            try:
                robots = self.robots()
            except httpx.TransportError:  # not serving yet
                robots = {}
            if condition(robots):
                return robots
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what or 'the robots'}; GET /robots: {robots}\n{self.processes.logs()}")

    def wait_ready(self, names: list[str], timeout: float = GATEWAY_UP_TIMEOUT) -> dict[str, dict[str, Any]]:
        """Until every robot in ``names`` is online, its /diagnostics heard, its dispatcher RUNNING."""
        return self.wait_robots(
            lambda rs: all(
                n in rs and rs[n]["online"] and rs[n]["health"]["level"] != "STALE" and (rs[n]["state"] or {}).get("status") == "RUNNING"
                for n in names
            ),
            timeout,
            f"robots {names} online, heard from and RUNNING",
        )

    def close(self) -> None:
        self.http.close()
