"""The dispatcher's lifecycle from a test: lifecycle_msgs ChangeState / GetState over real services.

A test that used to start the node with ``autostart: False`` for "services up,
loop stopped" now gets that from the lifecycle: the node starts unconfigured,
:func:`configure` makes it inactive (store open, every service answering,
nothing dispatched) and :func:`activate` starts dispatching.
"""

from __future__ import annotations

from typing import Any

NODE = "dispatcher"
TRANSITION_TIMEOUT = 60.0
"""Seconds a transition may take: configure opens and recovers the store, deactivate lets a start finish."""


def change_state(client: Any, transition: str, node: str = NODE, timeout: float = TRANSITION_TIMEOUT) -> bool:
    """Ask ``node`` (relative to the client's namespace) for ``transition`` by label
    (configure, activate, deactivate, cleanup, shutdown); whether it succeeded."""
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    response = client.call(ChangeState, f"{node}/change_state", ChangeState.Request(transition=Transition(label=transition)), timeout=timeout)
    return bool(response.success)


def get_state(client: Any, node: str = NODE, timeout: float = 20.0) -> str:
    """The label of ``node``'s current lifecycle state (unconfigured, inactive, active, finalized)."""
    from lifecycle_msgs.srv import GetState

    return str(client.call(GetState, f"{node}/get_state", timeout=timeout).current_state.label)


def configure(client: Any, node: str = NODE) -> None:
    """Unconfigured -> inactive, asserting it worked."""
    from lifecycle_msgs.srv import GetState

    client.wait_for_service(GetState, f"{node}/get_state", 30.0)
    assert change_state(client, "configure", node), f"configure of {node} failed (see its log)"


def activate(client: Any, node: str = NODE) -> None:
    """Inactive -> active (dispatching), asserting it worked."""
    assert change_state(client, "activate", node), f"activate of {node} failed (see its log)"
