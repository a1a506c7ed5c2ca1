"""Build entry for colcon (ament_python) and pip.

colcon reads this file without pyproject.toml (it runs ``setup.py develop``
from its build folder), so the name, packages and requirements are stated
here; pyproject.toml holds the rest for pip.
"""

from setuptools import find_packages, setup

package_name = "operation_dispatcher"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(include=[package_name, f"{package_name}.*"]),
    package_data={package_name: ["py.typed", "dashboard/static/*"]},
    python_requires=">=3.10",
    install_requires=["pydantic>=2.5,<3"],
    zip_safe=False,
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{package_name}"]),
        (f"share/{package_name}", ["package.xml"]),
    ],
)
