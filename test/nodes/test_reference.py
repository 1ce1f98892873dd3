"""ReferenceTracker: ground_plane takes camera height and gravity from TF (a stand-in
buffer here: tf2_ros is not installable on the pip-wheel stack)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.errors import CalibrationError
from depth_ros.core.scale import gravity_from_pitch_roll
from depth_ros.nodes.reference import ReferenceTracker


class FakeBuffer:
    """lookup_transform(target, source, time) for base_footprint ← camera_optical_frame:
    camera 0.8 m up, pitched down by 20 degrees."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def lookup_transform(self, target: str, source: str, when: object) -> object:
        self.calls.append((target, source))
        if target != "base_footprint":
            raise LookupError(f"{target} is not in the tree")
        # base ← optical: level optical frame, then -20 degrees about optical x
        a = math.radians(20)
        # quaternion of R = R_level @ R_x(-a), computed from the matrix (w, x, y, z)
        import numpy as np
        from scipy.spatial.transform import Rotation

        level = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]], dtype=float)
        pitch = np.array([[1, 0, 0], [0, math.cos(a), math.sin(a)], [0, -math.sin(a), math.cos(a)]])
        x, y, z, w = Rotation.from_matrix(level @ pitch).as_quat()
        return SimpleNamespace(
            transform=SimpleNamespace(
                rotation=SimpleNamespace(x=x, y=y, z=z, w=w),
                translation=SimpleNamespace(x=0.2, y=0.0, z=0.8),
            )
        )


def _tracker(ros_node: object, base: str) -> tuple[ReferenceTracker, FakeBuffer]:
    params = {
        "use_tf": False,
        "base_frame": base,
        **{
            f"reference_to_camera_{k}": v
            for k, v in dict(x=0.0, y=0.0, z=0.0, qx=0.0, qy=0.0, qz=0.0, qw=1.0).items()
        },
    }
    tracker = ReferenceTracker(ros_node, "ground_plane", params)  # type: ignore[arg-type]
    buffer = FakeBuffer()
    tracker._tf, tracker._tf_buffer = object(), buffer
    return tracker, buffer


def test_ground_plane_height_and_gravity_from_tf(ros_node: object) -> None:
    tracker, buffer = _tracker(ros_node, "base_footprint")
    camera = PinholeCamera.from_intrinsics(
        64, 48, 50, 50, 31.5, 23.5, frame_id="camera_optical_frame"
    )
    ctx = tracker.context(camera, (48, 64), 1.0)
    assert buffer.calls == [("base_footprint", "camera_optical_frame")]
    assert ctx.camera_height == pytest.approx(0.8)
    assert ctx.gravity is not None
    for got, want in zip(ctx.gravity, gravity_from_pitch_roll(math.radians(20)), strict=True):
        assert got == pytest.approx(want, abs=1e-9)


def test_missing_transform_is_a_calibration_error(ros_node: object) -> None:
    tracker, _ = _tracker(ros_node, "odom")
    camera = PinholeCamera.from_intrinsics(64, 48, 50, 50, 31.5, 23.5, frame_id="cam")
    with pytest.raises(CalibrationError, match="no transform cam → odom"):
        tracker.context(camera, (48, 64), 1.0)


def test_without_base_frame_the_parameters_apply(ros_node: object) -> None:
    tracker, buffer = _tracker(ros_node, "")
    camera = PinholeCamera.from_intrinsics(64, 48, 50, 50, 31.5, 23.5, frame_id="cam")
    ctx = tracker.context(camera, (48, 64), 1.0)
    assert ctx.camera_height is None
    assert ctx.gravity is None
    assert buffer.calls == []
