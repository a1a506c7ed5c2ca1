"""Simulated bring-up: dispatcher, reference business logic and simulated
robot, all three in one namespace.

    ros2 launch operation_dispatcher_ros sim_robot.launch.py
    ros2 launch operation_dispatcher_ros sim_robot.launch.py namespace:=robot_2 log_level:=debug

Layered like nav2_bringup: the dispatcher comes from dispatcher.launch.py
(included), which loads ``dispatcher_params_file`` (config/dispatcher.yaml)
and then ``params_file`` on top of it; config/sim_robot.yaml therefore holds
only what the simulation changes for the dispatcher, plus the parameters
of the business logic and the simulated robot, which read it alone.
"""

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription, OpaqueFunction
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "operation_dispatcher_ros"
NODES = (
    ("business_logic_node", "business_logic"),
    ("sim_robot_node", "sim_robot"),
)


def _dispatcher(context: LaunchContext, share: FindPackageShare) -> list[GroupAction]:
    """dispatcher.launch.py with this bring-up's files, in a scope of its own.

    Its launch arguments reuse the name ``params_file`` for another file, so
    they are given as values (not substitutions that a previous argument of
    the include could change) and kept from leaking into this file's nodes.
    """
    value = {name: LaunchConfiguration(name).perform(context) for name in ("namespace", "params_file", "dispatcher_params_file", "log_level")}
    include = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([share, "launch", "dispatcher.launch.py"])),
        launch_arguments={
            "namespace": value["namespace"],
            "params_file": value["dispatcher_params_file"],
            "overrides_file": value["params_file"],
            "log_level": value["log_level"],
        }.items(),
    )
    return [GroupAction([include], scoped=True)]


def generate_launch_description():
    share = FindPackageShare(PACKAGE)
    namespace = LaunchConfiguration("namespace")
    params_file = LaunchConfiguration("params_file")
    log_level = LaunchConfiguration("log_level")
    arguments = [
        DeclareLaunchArgument(
            "namespace",
            default_value="robot_1",
            description="Namespace of the three nodes and all their services, topics and the action; also the "
            "dispatcher's resource_id and store file name unless a parameter file sets resource_id.",
        ),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([share, "config", "sim_robot.yaml"]),
            description="Parameter file of the business_logic and sim_robot nodes, and the dispatcher's overrides "
            "on top of dispatcher_params_file (see config/sim_robot.yaml).",
        ),
        DeclareLaunchArgument(
            "dispatcher_params_file",
            default_value=PathJoinSubstitution([share, "config", "dispatcher.yaml"]),
            description="The dispatcher's base parameter file, loaded before params_file (see config/dispatcher.yaml).",
        ),
        DeclareLaunchArgument(
            "log_level",
            default_value="info",
            description="Log level of the three nodes: debug, info, warn, error or fatal.",
        ),
    ]
    dispatcher = OpaqueFunction(function=_dispatcher, args=[share])
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
    return LaunchDescription([*arguments, dispatcher, *nodes])
