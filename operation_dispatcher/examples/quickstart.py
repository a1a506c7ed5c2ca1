# The quickstart of the original description, unchanged: python examples/quickstart.py
import asyncio
from operation_dispatcher import (
    OperationDispatcher,
    Operation,
    DispatchEvent,
    EventType,
)
def on_request(event: DispatchEvent) -> bool | None:
    # Decide on a *_REQUEST event.
    # Return True to approve, False to deny, None to ignore other events.
    if event.event_type is EventType.OPERATION_START_REQUESTED:
        return True
    return None
def on_notification(event: DispatchEvent) -> None:
    # Observe all lifecycle and state change events.
    # Typical use cases: logging, persistence, event streaming.
    print(f"{event.event_type} -> {event.operation_id}")
async def main():
    dispatcher = OperationDispatcher(
        resource_id="robot-1",
        on_request_callback=on_request,
        on_notification_callback=on_notification,
    )
    dispatcher.add(
        Operation(
            payload={"task": "pickup"},
            resource_id="robot-1",
            priority=10,
        )
    )
    task = asyncio.create_task(dispatcher.run())
    await asyncio.sleep(2)
    dispatcher.request_stop()
    await task
asyncio.run(main())
