"""ROS 2 glue around the operation dispatcher core (like py_trees_ros around py_trees).

Nodes: ``dispatcher_node`` (wraps the core), ``business_logic_node`` (answers
the handshakes), ``sim_robot_node`` (a simulated mobile robot that serves
the execute action) and ``event_recorder_node`` (every event once, in order,
to a file). Message <-> model conversion lives in ``conversions``.
"""
