"""Simulated bring-up: dispatcher, reference business logic and simulated
robot, all three in one namespace.

    ros2 launch operation_dispatcher_ros sim_robot.launch.py
    ros2 launch operation_dispatcher_ros sim_robot.launch.py namespace:=robot_2 log_level:=debug
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "operation_dispatcher_ros"
NODES = (
    ("dispatcher_node", "dispatcher"),
    ("business_logic_node", "business_logic"),
    ("sim_robot_node", "sim_robot"),
)


def generate_launch_description():
    namespace = LaunchConfiguration("namespace")
    params_file = LaunchConfiguration("params_file")
    log_level = LaunchConfiguration("log_level")
    arguments = [
        DeclareLaunchArgument(
            "namespace",
            default_value="robot_1",
            description="Namespace of the three nodes and all their services, topics and the action.",
        ),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([FindPackageShare(PACKAGE), "config", "sim_robot.yaml"]),
            description="Parameter file for the dispatcher, business_logic and sim_robot nodes.",
        ),
        DeclareLaunchArgument(
            "log_level",
            default_value="info",
            description="Log level of the three nodes: debug, info, warn, error or fatal.",
        ),
    ]
    nodes = [
        Node(
            package=PACKAGE,
            executable=executable,
            name=name,
            namespace=namespace,
            parameters=[params_file],
            arguments=["--ros-args", "--log-level", log_level],
            output="screen",
            emulate_tty=True,
        )
        for executable, name in NODES
    ]
    return LaunchDescription(arguments + nodes)
