"""Build entry for colcon (ament_python): three console entry points, and the
launch files, parameter files and the Fast DDS profile (node_main.py) installed to share/ so
`ros2 launch` and the nodes find them."""

from glob import glob

from setuptools import find_packages, setup

package_name = "operation_dispatcher_ros"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(include=[package_name, f"{package_name}.*"]),
    python_requires=">=3.10",
    install_requires=["setuptools"],
    zip_safe=True,
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
        (f"share/{package_name}/launch", glob("launch/*.launch.py")),
        (f"share/{package_name}/config", glob("config/*.yaml") + glob("config/*.xml")),
    ],
    maintainer="operation_dispatcher developers",
    maintainer_email="dev@operation-dispatcher.invalid",
    description="ROS 2 nodes around the operation dispatcher.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "dispatcher_node = operation_dispatcher_ros.dispatcher_node:main",
            "business_logic_node = operation_dispatcher_ros.business_logic_node:main",
            "sim_robot_node = operation_dispatcher_ros.sim_robot_node:main",
            "event_recorder_node = operation_dispatcher_ros.event_recorder_node:main",
        ],
    },
)
