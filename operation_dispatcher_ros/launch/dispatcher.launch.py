"""The dispatcher alone, for a real robot that serves the execute_operation
action (and, for pause / resume, the execute_operation/pause|resume Trigger
services) next to a business-logic node of your own.

    ros2 launch operation_dispatcher_ros dispatcher.launch.py namespace:=robot_1 \\
        params_file:=/path/to/my_dispatcher.yaml
    ros2 launch operation_dispatcher_ros dispatcher.launch.py namespace:=robot_1 \\
        overrides_file:=/path/to/what_my_robot_changes.yaml

The node loads ``params_file`` (default: the shipped config/dispatcher.yaml,
every parameter at its default), then ``overrides_file`` on top of it (its
values win), the way rcl merges several ``--params-file``: a file of only
what differs is enough. sim_robot.launch.py includes this file and passes
its config/sim_robot.yaml as the overrides.
"""

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "operation_dispatcher_ros"


def _dispatcher(context: LaunchContext) -> list[Node]:
    """The node, with the overrides file only when one is given (rcl would refuse an empty path)."""
    files = [LaunchConfiguration("params_file").perform(context)]
    overrides = LaunchConfiguration("overrides_file").perform(context)
    if overrides:
        files.append(overrides)
    return [
        Node(
            package=PACKAGE,
            executable="dispatcher_node",
            name="dispatcher",
            namespace=LaunchConfiguration("namespace"),
            parameters=files,
            arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
            output="screen",
            emulate_tty=True,
        )
    ]


def generate_launch_description():
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "namespace",
                default_value="robot_1",
                description="Namespace of the dispatcher (and of the robot's action and the business logic it calls); "
                "also its resource_id and store file name unless a parameter file sets resource_id.",
            ),
            DeclareLaunchArgument(
                "params_file",
                default_value=PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "dispatcher.yaml"]),
                description="Parameter file of the dispatcher node (see config/dispatcher.yaml, every parameter at its default).",
            ),
            DeclareLaunchArgument(
                "overrides_file",
                default_value="",
                description="A second parameter file loaded on top of params_file (its values win), e.g. only what your "
                "robot changes; '' = none.",
            ),
            DeclareLaunchArgument(
                "log_level",
                default_value="info",
                description="Log level of the dispatcher: debug, info, warn, error or fatal.",
            ),
            OpaqueFunction(function=_dispatcher),
        ]
    )
