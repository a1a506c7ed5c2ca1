"""The whole life cycle with callbacks: a business rule, a simulated runner, events.

The business logic denies the first start of the charge operation (to show
a denial, its cooldown and the retry) and lets the rest through; a simulated
robot runs each approved operation for a second and completes it.

    python examples/dispatcher.py
"""

import asyncio
import time

from _sim_runner import SimRunner

from operation_dispatcher import Decision, DenialPolicy, DispatchEvent, EventType, Operation, OperationDispatcher

T0 = time.monotonic()
denied_once: set[str] = set()


def on_request(event: DispatchEvent) -> Decision | None:
    if event.event_type is EventType.OPERATION_START_REQUESTED and event.operation_id == "charge" and "charge" not in denied_once:
        denied_once.add("charge")
        return Decision(approved=False, reason="charger occupied", data={"charger": "C1"})
    return None  # no opinion: the default (approve) applies


def on_notification(event: DispatchEvent) -> None:
    details = {k: v for k, v in event.metadata.items() if k in ("reason", "retry_count", "cooldown_seconds", "outcome")}
    print(f"{time.monotonic() - T0:5.2f}s  {event.event_type.value:<32} {event.operation_id or '':<10} {details or ''}")


async def main() -> None:
    runner = SimRunner(default_duration=1.0)
    dispatcher = OperationDispatcher(
        "robot-1",
        on_request_callback=on_request,
        on_notification_callback=on_notification,
        runner=runner,
        denial_policy=DenialPolicy(cooldown_seconds=0.5, max_retries=3),
    )
    runner.dispatcher = dispatcher
    dispatcher.add(
        [
            Operation(id="charge", resource_id="robot-1", priority=9),
            Operation(id="pickup", resource_id="robot-1", priority=5, payload={"station": "S1"}),
            Operation(id="dropoff", resource_id="robot-1", priority=1, payload={"station": "S7"}),
        ]
    )
    all_done = asyncio.Event()

    async def stop_when_all_done(event: DispatchEvent) -> None:
        if event.event_type is EventType.OPERATION_COMPLETED and len(dispatcher.history()) == 3:
            all_done.set()

    dispatcher.subscribe(stop_when_all_done)
    task = asyncio.create_task(dispatcher.run())
    await all_done.wait()
    dispatcher.request_stop()
    await task
    print("\nhistory, newest first:")
    for record in dispatcher.history():
        ex = record.execution
        print(f"  {record.operation.id:<8} {ex.state.value:<9} attempts={ex.attempts} denied={ex.retry_count}")


if __name__ == "__main__":
    asyncio.run(main())
