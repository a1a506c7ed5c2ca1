"""Many dispatchers, one view.

- ``gateway_node``: the fleet gateway; finds every dispatcher on the ROS graph
  by its ``dispatcher_state`` topic and serves them all on one HTTP port
  (REST, MCP, the fleet dashboard), recording their events in the fleet history.
- ``placement``: which robot takes an operation added without one.
- ``history``: the fleet's event history, SQLite or PostgreSQL.
- ``fleet_rules_node``: one business logic deciding every robot's handshakes
  with fleet-wide state.
"""
