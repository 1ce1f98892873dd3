"""depth_ros: ament_python package; also installs with plain pip (see README)."""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "depth_ros"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(exclude=["test", "test.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", [*glob("config/*.yaml"), "depth_ros/data/fastdds_shm.xml"]),
        (f"share/{PACKAGE}/rviz", glob("rviz/*.rviz")),
    ],
    package_data={PACKAGE: ["py.typed", "data/*"]},
    install_requires=["setuptools"],
    # colcon test runs pytest only when pytest is a declared test dependency
    extras_require={"test": ["pytest"]},
    zip_safe=True,
    maintainer="depth_ros maintainers",
    maintainer_email="depth_ros@example.org",
    description="Depth from monocular and stereo cameras for ROS 2",
    license="Apache-2.0",
    python_requires=">=3.10",
    entry_points={
        "console_scripts": [
            "depth-ros = depth_ros.cli.main:main",
            "stereo_depth = depth_ros.nodes.stereo_depth:main",
            "stereo_depth_lifecycle = depth_ros.nodes.stereo_depth:main_lifecycle",
            "mono_depth = depth_ros.nodes.mono_depth:main",
            "mono_depth_lifecycle = depth_ros.nodes.mono_depth:main_lifecycle",
            "fused_depth = depth_ros.nodes.fused_depth:main",
            "fused_depth_lifecycle = depth_ros.nodes.fused_depth:main_lifecycle",
            "register_depth = depth_ros.nodes.register_depth:main",
            "register_depth_lifecycle = depth_ros.nodes.register_depth:main_lifecycle",
        ],
    },
)
