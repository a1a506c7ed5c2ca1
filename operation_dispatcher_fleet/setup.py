"""Build entry for colcon (ament_python). The fleet's console entry points (``fleet_gateway_node``,
``fleet_rules_node``) are installed under lib/operation_dispatcher_fleet (setup.cfg), where
``ros2 run`` and launch files look for them; the launch and parameter files go to
share/operation_dispatcher_fleet, the fleet dashboard's page stays inside the Python package."""

from glob import glob

from setuptools import find_packages, setup

package_name = "operation_dispatcher_fleet"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(include=[package_name, f"{package_name}.*"]),
    package_data={package_name: ["dashboard/*"]},
    python_requires=">=3.10",
    install_requires=["setuptools"],
    zip_safe=False,
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
        (f"share/{package_name}/launch", glob("launch/*.launch.py")),
        (f"share/{package_name}/config", glob("config/*.yaml")),
    ],
    maintainer="operation_dispatcher developers",
    maintainer_email="dev@operation-dispatcher.invalid",
    description="Many dispatchers, one view: the fleet gateway (REST, MCP, dashboard, history) and fleet-wide business logic.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "fleet_gateway_node = operation_dispatcher_fleet.gateway_node:main",
            "fleet_rules_node = operation_dispatcher_fleet.fleet_rules_node:main",
        ],
    },
)
