"""The dashboard in Debian's headless Chromium, driven by Playwright against a live server.

Screenshots go to ``test-artifacts/`` at the repository root.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import doors_testing
import pytest
from doors_testing import TOKEN, op, wait_until

start_server = doors_testing.start_server  # the fixture, shared by the door tests

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (apt-get install chromium)"),
]


@pytest.fixture
def page() -> Iterator[sync_api.Page]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(10_000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page
        browser.close()
        assert not errors, f"JavaScript errors on the page: {errors}"


def test_live_updates_and_buttons(start_server, page) -> None:  # type: ignore[no-untyped-def]
    live = start_server(token=TOKEN)
    dispatcher = live.dispatcher
    page.goto(f"{live.url}/#token={TOKEN}")
    expect(page.locator("#connection")).to_have_class(re.compile(r"\blive\b"))
    expect(page.locator("#status")).to_have_text("RUNNING")
    assert "token" not in page.url  # taken from the fragment, then removed
    page.evaluate("window.notReloaded = true")

    with live.client() as http:
        http.post("/operations/add", json=[op("first", payload={"task": "pickup", "deny_cancel": "robot is carrying a load"})])
        expect(page.locator('#current-body .id[data-id="first"]')).to_be_visible()
        dispatcher.report_progress("first", 0.4)
        expect(page.locator('#current-body [role="progressbar"]')).to_have_attribute("aria-valuenow", "40")

        http.post("/operations/add", json=[op("second", priority=3, payload={"task": "dropoff"}), op("third")])
        expect(page.locator('#queue tr[data-id="second"]')).to_be_visible()
        expect(page.locator('#events li[data-op="second"][data-type="OPERATION_ADDED"]')).to_be_visible()
        expect(page.locator("#queue-count")).to_have_text("2")

    page.click("#btn-pause")
    expect(page.locator("#status")).to_have_text("PAUSED")
    assert dispatcher.snapshot().paused
    page.click("#btn-resume")
    expect(page.locator("#status")).to_have_text("RUNNING")
    assert not dispatcher.snapshot().paused

    page.click('#queue tr[data-id="third"] button[data-action="op-cancel"]')
    expect(page.locator('#queue tr[data-id="third"]')).to_have_count(0)
    assert dispatcher.get("third").execution.state.value == "CANCELLED"

    page.click('#current-body button[data-action="op-cancel"]')
    expect(page.locator(".toast.error")).to_contain_text("robot is carrying a load")

    page.click('#current-body button[data-action="op-pause"]')
    expect(page.locator("#current-body .badge")).to_have_text("PAUSED")
    dispatcher.report_progress("first", 0.9)
    page.click('#current-body button[data-action="op-resume"]')
    expect(page.locator("#current-body .badge")).to_have_text("RUNNING")
    dispatcher.complete("first", outcome="delivered")
    expect(page.locator('#timeline .row .seg.COMPLETED')).to_have_count(1)
    expect(page.locator('#current-body .id[data-id="second"]')).to_be_visible()

    assert page.evaluate("window.notReloaded") is True
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)


def test_asks_for_the_token_when_it_has_none(start_server, page) -> None:  # type: ignore[no-untyped-def]
    live = start_server(token=TOKEN)
    page.goto(live.url)
    expect(page.locator("#token-dialog")).to_be_visible()
    page.fill("#token-input", TOKEN)
    page.click('#token-form button[type="submit"]')
    expect(page.locator("#connection")).to_have_class(re.compile(r"\blive\b"))
    expect(page.locator("#status")).to_have_text("RUNNING")


def test_stays_readable_with_hundreds_of_operations(start_server, page) -> None:  # type: ignore[no-untyped-def]
    live = start_server()
    dispatcher = live.dispatcher
    for i in range(60):
        dispatcher.add(op(f"done-{i:03d}", payload={"task": "transport"}))
        wait_until(lambda i=i: dispatcher.current() is not None and dispatcher.current().operation.id == f"done-{i:03d}")
        if i % 10 == 9:
            dispatcher.fail(f"done-{i:03d}", reason="gripper jammed")
        else:
            dispatcher.complete(f"done-{i:03d}", outcome="ok")
    dispatcher.add(op("active", payload={"task": "inspect"}))
    wait_until(lambda: dispatcher.current() is not None)
    dispatcher.report_progress("active", 0.65)
    dispatcher.pause("shift change")
    dispatcher.add([op(f"queued-{i:03d}", priority=i % 4, payload={"task": "pickup"}) for i in range(300)])

    page.goto(live.url)
    expect(page.locator("#queue-count")).to_have_text("300")
    expect(page.locator("#queue tr")).to_have_count(200)
    expect(page.locator("#queue-more")).to_have_text("… and 100 more queued")
    expect(page.locator("#timeline .row")).to_have_count(61)
    expect(page.locator("#paused-reason")).to_have_text("shift change")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard-busy.png"), full_page=True)


PAGE_BUDGET = 200_000
"""Bytes one refresh of the page may move, whatever the queue's length (issue 13)."""


def test_with_100000_queued_reads_only_what_it_shows_and_applies_events(start_server, page) -> None:  # type: ignore[no-untyped-def]
    dispatcher = doors_testing.make_dispatcher()
    added: list[int] = []
    dispatcher.subscribe(lambda e: added.append(1) if e.event_type == "OPERATION_ADDED" else None)
    dispatcher.add(op("active", priority=5, payload={"task": "inspect"}))
    for b in range(10):
        dispatcher.add([op(f"q-{b}-{i:05d}", priority=i % 3, payload={"task": "pickup"}) for i in range(10_000)])
    # The burst's events published before the server starts: a page opened during a burst
    # of 100,000 falls behind the stream, is disconnected and reads everything again.
    wait_until(lambda: len(added) == 100_001, timeout=60, what="the adds' events published")
    live = start_server(dispatcher=dispatcher)
    wait_until(lambda: dispatcher.current() is not None, what="active started")
    reads: list[tuple[str, int]] = []
    page.on("requestfinished", lambda r: reads.append((r.url, r.sizes()["responseBodySize"])))

    page.goto(live.url)
    expect(page.locator("#connection")).to_have_class(re.compile(r"\blive\b"))
    expect(page.locator("#queue tr")).to_have_count(200)
    expect(page.locator("#queue-more")).to_have_text("… and 99,800 more queued")
    expect(page.locator("#queue-count")).to_have_text("100000")
    loaded = sum(size for url, size in reads if "/dashboard/static/" not in url and not url.endswith("/"))
    assert 0 < loaded < PAGE_BUDGET, "\n".join(f"{size} {url}" for url, size in reads)

    reads.clear()
    with live.client() as http:
        http.post("/operations/add", json=[op("urgent", priority=9, payload={"task": "dropoff"})])
    expect(page.locator("#queue tr").first).to_have_attribute("data-id", "urgent")
    expect(page.locator("#queue-more")).to_have_text("… and 99,801 more queued")
    dispatcher.complete("active", outcome="done")
    expect(page.locator('#current-body .id[data-id="urgent"]')).to_be_visible()
    expect(page.locator('#queue tr[data-id="urgent"]')).to_have_count(0)
    expect(page.locator("#timeline .row .seg.COMPLETED")).to_have_count(1)
    expect(page.locator("#queue tr")).to_have_count(200)
    expect(page.locator("#queue-more")).to_have_text("… and 99,800 more queued")

    assert reads and all(size < PAGE_BUDGET for _, size in reads), reads
    assert sum(size for _, size in reads) < 2 * PAGE_BUDGET, reads  # three events: not three refreshes
    assert not [url for url, _ in reads if "state=QUEUED" in url and "limit=" not in url], "the whole queue was read"
