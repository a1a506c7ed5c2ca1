"""The queue on its own: order, release gate, dependencies, cancel.

    python examples/dispatch_queue.py
"""

from datetime import datetime, timedelta, timezone

from operation_dispatcher import Dependency, DispatchQueue, Operation

now = datetime.now(timezone.utc)
queue = DispatchQueue("robot-1")
queue.add(Operation(id="charge", resource_id="robot-1", priority=1))
queue.add(Operation(id="pickup-A", resource_id="robot-1", priority=5))
queue.add(Operation(id="dropoff-A", resource_id="robot-1", priority=9, dependencies=[Dependency(operation_id="pickup-A")]))
queue.add(Operation(id="night-run", resource_id="robot-1", priority=100, release_date=now + timedelta(hours=8)))
queue.add(Operation(id="inspect", resource_id="robot-1", priority=5))

print("dispatch order now:", [op.id for op in queue.ordered(now)])
print("  (night-run waits for its release date, dropoff-A for pickup-A to complete)")

queue.remove("inspect")
print("after cancelling inspect:", [op.id for op in queue.ordered(now)])

first = queue.pop(now)
print("next:", first.id)
queue.mark_completed(first.id)
print("after pickup-A completed:", [op.id for op in queue.ordered(now)])
print("next release at:", queue.next_release().isoformat())
print("in 8 hours the order is:", [op.id for op in queue.ordered(now + timedelta(hours=8))])
