"""Your own dispatch rules as a ROS node: heavy loads need a person at the dropoff.

Run it instead of business_logic_node (same node name, same handshake services):
    python3 custom_business_logic.py --ros-args -r __ns:=/robot_1
"""

from operation_dispatcher_ros.business_logic import BusinessLogicNode, payload_of
from operation_dispatcher_ros.node_main import run_node


class HeavyLoadsNeedAPerson(BusinessLogicNode):
    def decide_start(self, event, operation):
        if payload_of(operation).get("mass_kg", 0) > 50:
            return False, "loads over 50 kg need a person at the dropoff"
        return True

    def decide_cancel(self, event, operation):
        if payload_of(operation).get("cancellable") is False:
            return False, "this transport may not be cancelled"
        return None  # no objection: approved


if __name__ == "__main__":
    raise SystemExit(run_node(HeavyLoadsNeedAPerson))
