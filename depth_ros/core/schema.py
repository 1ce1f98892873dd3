"""The parameters of each node, declared once.

Nodes declare exactly ``node_params(node, model_id)``; the launch files, the config
profiles and the documentation are checked against the same function in the tests.
"""

from __future__ import annotations

from depth_ros.core.params import ParamSpec, merge
from depth_ros.core.stereo import POINT_FORMATS

QOS_CHOICES = ("sensor_data", "reliable")

MODEL_PARAMS = (
    ParamSpec("model", "sgbm", "Model ID (see `depth-ros predict --list`)", read_only=True),
    ParamSpec(
        "weights", "", "Weights file; empty = the model's default file name", read_only=True
    ),
    ParamSpec(
        "backend", "auto", "Inference backend; auto = chosen from the weights file",
        choices=("auto", "torch", "onnxruntime", "tensorrt"), read_only=True,
    ),
    ParamSpec("device", "cpu", "Device: cpu, cuda or cuda:N", read_only=True),
)

QOS_PARAMS = (
    ParamSpec(
        "input_qos", "sensor_data",
        "QoS of the input subscriptions: sensor_data (best effort, depth 5) or reliable",
        choices=QOS_CHOICES, read_only=True,
    ),
    ParamSpec(
        "output_qos", "reliable",
        "QoS of the publishers: reliable (matches every subscriber) or sensor_data",
        choices=QOS_CHOICES, read_only=True,
    ),
    ParamSpec("queue_size", 5, "Depth of the input queues", 1, 100, read_only=True),
    ParamSpec(
        "diagnostics_period", 1.0, "Seconds between /diagnostics messages", 0.1, 60.0,
        read_only=True,
    ),
)

OUTPUT_PARAMS = (
    ParamSpec(
        "points", "xyzrgb", "Point cloud fields: none (no cloud), xyz, or xyzrgb",
        choices=POINT_FORMATS,
    ),
    ParamSpec(
        "points_decimation", 1, "Keep every n-th row and column in the point cloud", 1, 16
    ),
    ParamSpec("min_depth", 0.0, "Depths below this are invalid (NaN), metres", 0.0, 1000.0),
    ParamSpec(
        "max_depth", 0.0, "Depths beyond this are invalid (NaN), metres; 0 = no limit",
        0.0, 10000.0,
    ),
)

SYNC_PARAMS = (
    ParamSpec(
        "approximate_sync", False,
        "Pair left and right images by nearest stamp instead of equal stamps", read_only=True,
    ),
    ParamSpec(
        "approximate_sync_tolerance_seconds", 0.01,
        "Largest stamp difference paired by approximate sync, seconds", 0.0, 1.0,
    ),
    ParamSpec(
        "rectify", False,
        "Inputs are raw: undistort and rectify them with camera_info D, K, R, P first",
    ),
)


def stereo_node_params(model_params: tuple[ParamSpec, ...] = ()) -> dict[str, ParamSpec]:
    """All parameters of ``stereo_depth`` for a model whose own parameters are given."""
    return merge(MODEL_PARAMS, QOS_PARAMS, OUTPUT_PARAMS, SYNC_PARAMS, model_params)
