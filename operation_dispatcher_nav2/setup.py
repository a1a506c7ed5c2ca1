"""Build entry for colcon (ament_python). The executor node's console entry point
``nav2_executor_node`` is installed under lib/operation_dispatcher_nav2 (setup.cfg), where
``ros2 run`` and launch files look for it; the launch files and parameter files go to
share/operation_dispatcher_nav2, where ``ros2 launch`` and FindPackageShare find them."""

from glob import glob

from setuptools import find_packages, setup

package_name = "operation_dispatcher_nav2"

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
        (f"share/{package_name}/config", glob("config/*.yaml")),
    ],
    maintainer="operation_dispatcher developers",
    maintainer_email="dev@operation-dispatcher.invalid",
    description="The Nav2 executor of the operation dispatcher.",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "nav2_executor_node = operation_dispatcher_nav2.nav2_executor_node:main",
        ],
    },
)
