"""The Nav2 executor of the operation dispatcher: operations carried out on a robot's Nav2 stack.

Graph-free logic, unit-tested without ROS: ``route`` (payload to poses, what
to send Nav2 next, progress and status from Nav2's feedback) and
``nav2_errors`` (how a Nav2 goal that ended badly reads as a FAILED reason).
"""
