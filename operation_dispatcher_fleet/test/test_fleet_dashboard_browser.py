"""The fleet dashboard in Debian's headless Chromium, driven by Playwright, over real robots and a real gateway.

Every robot (dispatcher, business logic, sim robot) and the gateway are real
processes on the test's own ROS domain; operations are added over the
gateway's REST door (httpx), as another system would, and the page is
watched as a person would watch it. Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fleet_testing import Gateway, start_robot

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TOKEN = "fleet-secret-token"
LOST_TIMEOUT = 15_000
"""ms a killed dispatcher may take to show as lost: lost_after (3 s), a discovery look, a state push."""

pytestmark = [
    pytest.mark.ros,
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)"),
]


@pytest.fixture
def page() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(10_000)
        expect.set_options(timeout=10_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page
        browser.close()
        assert not errors, f"JavaScript errors on the page: {errors}"


def robot_card(page: Any, name: str) -> Any:
    return page.locator(f'#robots li[data-robot="{name}"]')


def test_robots_goals_progress_events_and_a_lost_robot(ros_processes: Any, ros_namespace: str, tmp_path: Path, page: Any) -> None:
    names = [f"{ros_namespace}_r{i}" for i in (1, 2, 3)]
    first, mover, doomed = names
    procs = {
        name: start_robot(ros_processes, name, x=4.0 * i, sim_robot={"speed": 1.0} if name == mover else None)
        for i, name in enumerate(names)
    }
    gw = Gateway(ros_processes, tmp_path)
    try:
        gw.wait_ready(names)
        page.goto(gw.url)
        expect(page.locator("#connection")).to_have_class(re.compile(r"\blive\b"))
        for name in names:
            expect(robot_card(page, name).locator(".badge")).to_have_text("RUNNING")
            expect(robot_card(page, name).locator(".health")).to_have_text("OK")
            expect(page.locator(f'#map .robot-marker[data-robot="{name}"][data-online="true"]')).to_have_count(1)
        expect(page.locator('#totals [data-total="robots"] b')).to_have_text("3 / 3")

        # A route on one robot: its goals on the map, its progress on its card, its events in the log.
        gw.post(f"/robots/{mover}/operations/add", [
            {"id": "tour", "payload": {"waypoints": [{"x": 4.0, "y": 3.0}, {"x": 7.0, "y": 3.0}]}},
            {"id": "next", "payload": {"pickup": {"x": 2.0, "y": -2.0}, "dropoff": {"x": 0.0, "y": -3.0}}},
        ], expect=201)
        expect(page.locator(f'#map .goal.current[data-robot="{mover}"][data-op="tour"]')).to_have_count(1)
        expect(page.locator(f'#map .goal.queued[data-robot="{mover}"][data-op="next"]')).to_have_count(1)
        expect(page.locator(f'#events li[data-robot="{mover}"][data-op="tour"][data-type="OPERATION_STARTED"]')).to_be_visible()
        bar = robot_card(page, mover).locator('[role="progressbar"]')
        expect(bar).to_have_attribute("data-op", "tour")
        expect(bar).to_have_attribute("aria-valuenow", re.compile(r"^[1-9]\d*$"))
        expect(robot_card(page, mover).locator(".queue")).to_have_text("1 queued")

        # A refusal is shown with its reason (the answer is the gateway's error shape, faked here:
        # the reference business logic approves every cancel).
        denied = {"error": {"code": "DENIED", "message": "cancel denied for 'tour': robot is carrying a load",
                            "details": {"reason": "robot is carrying a load", "data": {}}}}
        page.route("**/operations/tour/cancel", lambda route: route.fulfill(status=409, json=denied))
        robot_card(page, mover).locator('button[data-action="cancel"]').click()
        expect(page.locator(".toast.error")).to_contain_text(f"{mover}: DENIED: robot is carrying a load")

        # Strings from the server are text: a pause reason that looks like HTML stays text.
        reason = '<img src=x onerror="window.injected=1">'
        gw.post(f"/robots/{first}/dispatcher/pause", {"reason": reason})
        expect(robot_card(page, first).locator(".badge")).to_have_text("PAUSED")
        expect(robot_card(page, first).locator(".note")).to_contain_text(f"paused: {reason}")
        expect(page.locator(f'#events li[data-robot="{first}"][data-type="OPERATION_DISPATCHER_PAUSED"] .detail')).to_have_text(reason)
        assert page.locator("#robots img, #events img").count() == 0
        assert page.evaluate("window.injected") is None
        robot_card(page, first).locator('button[data-action="resume"]').click()
        expect(robot_card(page, first).locator(".badge")).to_have_text("RUNNING")

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "fleet-dashboard.png"), full_page=True)

        # A killed dispatcher: its robot marked lost on its card, on the map and in the totals.
        os.kill(procs[doomed]["dispatcher"].pid, signal.SIGKILL)
        expect(robot_card(page, doomed)).to_have_attribute("data-online", "false", timeout=LOST_TIMEOUT)
        expect(robot_card(page, doomed).locator(".lost-tag")).to_be_visible()
        expect(robot_card(page, doomed).locator(".health")).to_have_text("STALE")
        expect(page.locator(f'#map .robot-marker.lost[data-robot="{doomed}"]')).to_have_count(1)
        expect(page.locator('#totals [data-total="lost"] b')).to_have_text("1")
        for name in (first, mover):
            expect(robot_card(page, name)).to_have_attribute("data-online", "true")

        # The route done: COMPLETED in the log, its goal gone from the map, the next one started.
        expect(page.locator(f'#events li[data-robot="{mover}"][data-op="tour"][data-type="OPERATION_COMPLETED"]')).to_be_visible(timeout=20_000)
        expect(page.locator('#map .goal[data-op="tour"]')).to_have_count(0)
        expect(page.locator(f'#map .goal.current[data-robot="{mover}"][data-op="next"]')).to_have_count(1)
        page.screenshot(path=str(ARTIFACTS / "fleet-dashboard-lost.png"), full_page=True)
    finally:
        gw.close()


def test_asks_for_the_token_and_works_once_it_is_entered(ros_processes: Any, ros_namespace: str, tmp_path: Path, page: Any) -> None:
    name = f"{ros_namespace}_r1"
    start_robot(ros_processes, name)
    gw = Gateway(ros_processes, tmp_path, {"http_token": TOKEN})
    gw.http.headers["Authorization"] = f"Bearer {TOKEN}"
    try:
        gw.wait_ready([name])
        page.goto(gw.url)
        expect(page.locator("#token-dialog")).to_be_visible()
        expect(page.locator("#connection")).to_have_text("token needed")
        page.fill("#token-input", TOKEN)
        page.click('#token-form button[type="submit"]')
        expect(page.locator("#connection")).to_have_class(re.compile(r"\blive\b"))
        expect(robot_card(page, name).locator(".badge")).to_have_text("RUNNING")
        assert page.evaluate("localStorage.getItem('operation_dispatcher_fleet.token')") == TOKEN

        # The token is sent on the robot's own routes too: its goal is read and drawn.
        gw.post(f"/robots/{name}/dispatcher/pause", {"reason": "hold"})
        gw.post(f"/robots/{name}/operations/add", [{"id": "held", "payload": {"goal": {"x": 3.0, "y": 1.0}}}], expect=201)
        expect(page.locator(f'#map .goal.queued[data-robot="{name}"][data-op="held"]')).to_have_count(1)
        page.reload()  # the tab keeps the token
        expect(page.locator("#connection")).to_have_class(re.compile(r"\blive\b"))
        expect(page.locator("#token-dialog")).to_be_hidden()
    finally:
        gw.close()
