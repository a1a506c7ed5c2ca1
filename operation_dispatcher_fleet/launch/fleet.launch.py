"""A simulated fleet: per robot a dispatcher and a sim robot in its namespace, and the fleet gateway.

    ros2 launch operation_dispatcher_fleet fleet.launch.py
    ros2 launch operation_dispatcher_fleet fleet.launch.py robots:=5
    ros2 launch operation_dispatcher_fleet fleet.launch.py robots:=amr_a,amr_b fleet_rules:=true max_running:=1

Each robot is the bring-up of ``operation_dispatcher_ros``'s sim_robot.launch.py
(its config files: config/dispatcher.yaml, then config/sim_robot.yaml) in
its own namespace, the robots' start poses ``spacing`` metres apart along x.
The business logic is the reference node in each namespace by default; with
``fleet_rules:=true`` one ``fleet_rules`` node serves every robot's
``handshake/*`` services instead and decides with fleet-wide state
(``max_running``, stations named in the payload: docs/fleet.md). The
gateway finds the dispatchers by itself and serves them all on
``http_port`` (REST, MCP at /mcp, the fleet dashboard at /).
"""

from launch import LaunchContext, LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

ROS_PACKAGE = "operation_dispatcher_ros"
FLEET_PACKAGE = "operation_dispatcher_fleet"


def robot_names(value: str) -> list[str]:
    """``robots`` as names: a count ("3" -> robot_1..robot_3) or a comma-separated list."""
    value = value.strip()
    if value.isdigit():
        if int(value) < 1:
            raise ValueError("robots: a count must be at least 1")
        return [f"robot_{i}" for i in range(1, int(value) + 1)]
    names = [name.strip().strip("/") for name in value.split(",") if name.strip()]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"robots: give a count or distinct comma-separated names; got {value!r}")
    return names


def _fleet(context: LaunchContext) -> list[Node]:
    names_of_arguments = ("robots", "fleet_rules", "max_running", "spacing", "http_port", "history_path", "params_file", "log_level")
    value = {name: LaunchConfiguration(name).perform(context) for name in names_of_arguments}
    names = robot_names(value["robots"])
    fleet_rules = value["fleet_rules"].lower() in ("true", "1", "yes")
    share = FindPackageShare(ROS_PACKAGE).perform(context)
    dispatcher_yaml, sim_yaml = f"{share}/config/dispatcher.yaml", value["params_file"] or f"{share}/config/sim_robot.yaml"
    log = ["--ros-args", "--log-level", value["log_level"]]

    def node(package: str, executable: str, name: str, namespace: str, parameters: list) -> Node:
        return Node(package=package, executable=executable, name=name, namespace=namespace, parameters=parameters,
                    arguments=log, output="screen", emulate_tty=True)

    nodes = []
    for i, robot in enumerate(names):
        nodes.append(node(ROS_PACKAGE, "dispatcher_node", "dispatcher", robot, [dispatcher_yaml, sim_yaml]))
        nodes.append(node(ROS_PACKAGE, "sim_robot_node", "sim_robot", robot, [sim_yaml, {"initial_x": float(value["spacing"]) * i}]))
        if not fleet_rules:
            nodes.append(node(ROS_PACKAGE, "business_logic_node", "business_logic", robot, [sim_yaml]))
    if fleet_rules:
        nodes.append(node(FLEET_PACKAGE, "fleet_rules_node", "fleet_rules", "", [{"robots": names, "max_running": int(value["max_running"])}]))
    gateway: dict = {"http_port": int(value["http_port"])}
    if value["history_path"]:
        gateway["history_path"] = value["history_path"]
    nodes.append(node(FLEET_PACKAGE, "fleet_gateway_node", "fleet_gateway", "", [gateway]))
    return nodes


def generate_launch_description():
    arguments = [
        DeclareLaunchArgument("robots", default_value="robot_1,robot_2,robot_3",
                              description="The robots: comma-separated names (each a namespace and resource id) or a count (robot_1..robot_N)."),
        DeclareLaunchArgument("fleet_rules", default_value="false",
                              description="true: one fleet_rules node decides every robot's handshakes (fleet-wide rules) instead of one business logic per robot."),
        DeclareLaunchArgument("max_running", default_value="0",
                              description="With fleet_rules: at most this many robots run an operation at once (0 = no limit)."),
        DeclareLaunchArgument("spacing", default_value="4.0", description="Metres between the robots' start poses along x."),
        DeclareLaunchArgument("http_port", default_value="8090", description="Port of the gateway's HTTP doors on 127.0.0.1."),
        DeclareLaunchArgument("history_path", default_value="", description="SQLite file of the fleet history; '' = the gateway's default."),
        DeclareLaunchArgument("params_file", default_value="",
                              description="Parameter file of every robot's nodes, on top of config/dispatcher.yaml for the dispatchers; "
                              "'' = operation_dispatcher_ros's config/sim_robot.yaml."),
        DeclareLaunchArgument("log_level", default_value="info", description="Log level of every node: debug, info, warn, error or fatal."),
    ]
    return LaunchDescription([*arguments, OpaqueFunction(function=_fleet)])
