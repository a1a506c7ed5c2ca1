"""Simulated Nav2 bring-up: the nodes of nav2_robot.launch.py (dispatcher,
reference business logic, Nav2 executor) with the simulated robot standing
in for Nav2 (``serve: nav2``: it serves navigate_to_pose and
navigate_through_poses), all in one namespace, so the whole chain
dispatcher -> nav2_executor -> "Nav2" runs without Nav2.

    ros2 launch operation_dispatcher_nav2 sim_nav2.launch.py
    ros2 launch operation_dispatcher_nav2 sim_nav2.launch.py namespace:=robot_2 log_level:=debug

Layered like nav2_bringup: nav2_robot.launch.py is included with this file's
``params_file`` (config/sim_nav2.yaml) as its own; the sim robot loads
operation_dispatcher_ros's config/sim_robot.yaml (every parameter, with its
meaning) and then ``params_file`` on top of it.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

PACKAGE = "operation_dispatcher_nav2"
ROS_PACKAGE = "operation_dispatcher_ros"


def generate_launch_description():
    share = FindPackageShare(PACKAGE)
    params_file = LaunchConfiguration("params_file")
    use_sim_time = LaunchConfiguration("use_sim_time")
    table = [  # name, default, description
        ("namespace", "robot_1", "Namespace of the four nodes, their services, topics and actions; also the dispatcher's "
         "resource_id and store file name unless a parameter file sets resource_id."),
        ("params_file", PathJoinSubstitution([share, "config", "sim_nav2.yaml"]), "nav2_robot.launch.py's params_file "
         "(business logic; what the simulation changes for the dispatcher and the executor), and the sim robot's parameters "
         "on top of operation_dispatcher_ros's config/sim_robot.yaml; see config/sim_nav2.yaml."),
        ("use_sim_time", "false", "true: every node follows /clock (nothing here publishes it); false: wall time."),
        ("log_level", "info", "Log level of the four nodes: debug, info, warn, error or fatal."),
    ]  # fmt: skip
    arguments = [DeclareLaunchArgument(name, default_value=default, description=text) for name, default, text in table]
    nav2_robot = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([share, "launch", "nav2_robot.launch.py"])),
        launch_arguments={name: LaunchConfiguration(name) for name in ("namespace", "params_file", "use_sim_time", "log_level")}.items(),
    )
    sim_robot = Node(
        package=ROS_PACKAGE,
        executable="sim_robot_node",
        name="sim_robot",
        namespace=LaunchConfiguration("namespace"),
        parameters=[PathJoinSubstitution([FindPackageShare(ROS_PACKAGE), "config", "sim_robot.yaml"]), params_file, {"use_sim_time": use_sim_time}],
        arguments=["--ros-args", "--log-level", LaunchConfiguration("log_level")],
        output="screen",
        emulate_tty=True,
    )
    return LaunchDescription([*arguments, GroupAction([nav2_robot], scoped=True), sim_robot])
