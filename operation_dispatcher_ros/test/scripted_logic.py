"""A business logic that answers from a script, run as its own process by the peer-values test.

    python scripted_logic.py --ros-args -r __ns:=/ns

Serves ``handshake/start``: the starts of operation "job" get ANSWERS one request after the other (a
request the dispatcher sends again gets the same answer: same event id), any other operation is
approved. Its own process with the package's Fast DDS profile, like the reference business logic: the
test process's own server lost its first replies for about 30 s in CI.
"""

from __future__ import annotations

import threading

from rclpy.node import Node

from operation_dispatcher_interfaces.srv import Handshake
from operation_dispatcher_ros.node_main import run_node

ANSWERS = [
    {"approved": False, "reason": "x" * 50_000},  # the issue saw 2 MB; 50 kB is cut alike and fits one UDP datagram
    {"approved": True, "data_json": '{"level": 1e999}'},
    {"approved": True, "data_json": '{"a":' * 39 + "{}" + "}" * 39},  # 40 deep, the limit is 32
    {"approved": True, "data_json": '{"checked": true}'},
]


class ScriptedLogic(Node):
    def __init__(self) -> None:
        super().__init__("scripted_logic")
        self._asked: list[str] = []
        self._lock = threading.Lock()
        self.create_service(Handshake, "handshake/start", self._answer)

    def _answer(self, request, response):
        with self._lock:
            if request.event.operation_id != "job":
                answer = {"approved": True}
            else:
                if request.event.id not in self._asked:
                    self._asked.append(request.event.id)
                answer = ANSWERS[min(self._asked.index(request.event.id), len(ANSWERS) - 1)]
        response.approved = answer["approved"]
        response.reason = answer.get("reason", "")
        response.data_json = answer.get("data_json", "")
        return response


def main() -> int:
    return run_node(ScriptedLogic, num_threads=1)  # the package's Fast DDS profile, like the nodes it stands in for


if __name__ == "__main__":
    raise SystemExit(main())
