"""The dispatcher on a robot that navigates with Nav2: dispatcher, reference
business logic and Nav2 executor in one namespace, next to the robot's own
Nav2, which its own bringup launches (nav2_bringup's bringup_launch.py with
the same namespace).

    ros2 launch nav2_bringup bringup_launch.py namespace:=robot_1 use_namespace:=true ...
    ros2 launch operation_dispatcher_nav2 nav2_robot.launch.py namespace:=robot_1
    ros2 launch operation_dispatcher_nav2 nav2_robot.launch.py namespace:=robot_1 \\
        params_file:=/path/to/changes.yaml use_sim_time:=true business_logic:=false

Layered like nav2_bringup: the dispatcher comes from operation_dispatcher_ros's
dispatcher.launch.py (included), which loads ``dispatcher_params_file`` and
then ``params_file`` on top of it; the executor loads
``executor_params_file`` (config/nav2_executor.yaml, every parameter at its
default) and then ``params_file``; the business logic reads ``params_file``
alone. sim_nav2.launch.py includes this file.

``use_sim_time`` is set on every node of this file, the included dispatcher
too (launch_ros's SetParameter, in this file's scope).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node, SetParameter
from launch_ros.substitutions import FindPackageShare

PACKAGE = "operation_dispatcher_nav2"
ROS_PACKAGE = "operation_dispatcher_ros"


def _arguments(share: FindPackageShare) -> list[DeclareLaunchArgument]:
    ros_config = PathJoinSubstitution([FindPackageShare(ROS_PACKAGE), "config", "dispatcher.yaml"])
    table = [  # name, default, description
        ("namespace", "robot_1", "Namespace of the three nodes, their services, topics and the action; Nav2's navigate_to_pose "
         "and navigate_through_poses are looked for in it. Also the dispatcher's resource_id and store file name unless a "
         "parameter file sets resource_id."),
        ("params_file", PathJoinSubstitution([share, "config", "nav2_robot.yaml"]), "Parameter file of the business_logic node, "
         "and what the robot changes for the dispatcher (on top of dispatcher_params_file) and the nav2_executor (on top of "
         "executor_params_file); see config/nav2_robot.yaml."),
        ("dispatcher_params_file", ros_config, "The dispatcher's base parameter file, loaded before params_file "
         "(operation_dispatcher_ros's config/dispatcher.yaml)."),
        ("executor_params_file", PathJoinSubstitution([share, "config", "nav2_executor.yaml"]), "The nav2_executor's base "
         "parameter file, loaded before params_file (see config/nav2_executor.yaml)."),
        ("use_sim_time", "false", "true: every node of this file follows /clock (as Nav2 does in simulation); false: wall time."),
        ("business_logic", "true", "Start the reference business_logic node; false when a business logic of your own serves "
         "handshake/* (with two, the dispatcher decides nothing)."),
        ("log_level", "info", "Log level of the three nodes: debug, info, warn, error or fatal."),
    ]  # fmt: skip
    return [DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in table]


def _node(executable: str, name: str, package: str, parameters: list, condition: IfCondition | None = None) -> Node:
    return Node(
        package=package,
        executable=executable,
        name=name,
        namespace=LaunchConfiguration("namespace"),
        parameters=parameters,
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
        condition=condition,
        output="screen",
        emulate_tty=True,
    )


def generate_launch_description():
    share = FindPackageShare(PACKAGE)
    params_file = LaunchConfiguration("params_file")
    # The include's arguments are set in order, each read when it is set: overrides_file takes this
    # file's params_file before params_file is set to the dispatcher's base file. The scope keeps
    # that change of params_file from this file's own nodes below.
    dispatcher = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([FindPackageShare(ROS_PACKAGE), "launch", "dispatcher.launch.py"])),
        launch_arguments={"overrides_file": params_file, "params_file": LaunchConfiguration("dispatcher_params_file")}.items(),
    )
    nodes = GroupAction(
        [
            SetParameter(name="use_sim_time", value=LaunchConfiguration("use_sim_time")),
            GroupAction([dispatcher], scoped=True),
            _node("business_logic_node", "business_logic", ROS_PACKAGE, [params_file], IfCondition(LaunchConfiguration("business_logic"))),
            _node("nav2_executor_node", "nav2_executor", PACKAGE, [LaunchConfiguration("executor_params_file"), params_file]),
        ],
        scoped=True,
    )
    return LaunchDescription([*_arguments(share), nodes])
