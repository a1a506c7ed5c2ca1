"""The dispatcher alone, for a real robot that serves the execute_operation
action (and, for pause / resume, the execute_operation/pause|resume Trigger
services) next to a business-logic node of your own.

    ros2 launch operation_dispatcher_ros dispatcher.launch.py namespace:=robot_1 \\
        params_file:=/path/to/my_dispatcher.yaml
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "operation_dispatcher_ros"


def generate_launch_description():
    return LaunchDescription(
        [
            DeclareLaunchArgument(
                "namespace",
                default_value="robot_1",
                description="Namespace of the dispatcher (and of the robot's action and the business logic it calls).",
            ),
            DeclareLaunchArgument(
                "params_file",
                default_value=PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "dispatcher.yaml"]),
                description="Parameter file of the dispatcher node (see config/dispatcher.yaml).",
            ),
            DeclareLaunchArgument(
                "log_level",
                default_value="info",
                description="Log level of the dispatcher: debug, info, warn, error or fatal.",
            ),
            Node(
                package=PACKAGE,
                executable="dispatcher_node",
                name="dispatcher",
                namespace=LaunchConfiguration("namespace"),
                parameters=[LaunchConfiguration("params_file")],
                arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
                output="screen",
                emulate_tty=True,
            ),
        ]
    )
