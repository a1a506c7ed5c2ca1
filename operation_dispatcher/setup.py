"""ament_python entry for colcon; the metadata lives in pyproject.toml."""

from setuptools import setup

package_name = "operation_dispatcher"

setup(
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
    ],
)
