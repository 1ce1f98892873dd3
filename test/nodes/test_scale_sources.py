"""Every metric scale source through the mono_depth node over real DDS, on real data.

The node runs the test-only oracle relative model (test/plugins/oracle_model.py: the
ground truth's inverse depth under a fixed random affine map, plus noise); the test
process publishes the image, camera_info and the reference topic, and checks the
published metric ``depth`` against the ground truth and the fit on ``scale/fit``.

* fixed: the oracle's own map as ``scale.scale`` / ``scale.shift`` (TUM RGB-D frame)
* ground_plane: camera height and pitch/roll measured from the frame's floor (Redwood)
* sparse_depth: a simulated LiDAR (1 % of the pixels, 2 % noise) as a PointCloud2 in a
  rotated and shifted ``lidar`` frame (reference_to_camera_* parameters), and a
  half-resolution depth image in another frame with its own camera_info (TUM)
* stereo: a DisparityImage (d + doffs, as stereo_depth publishes) from the Middlebury
  Motorcycle ground truth
* failures: no reference, degenerate reference, good reference, then the reference
  stops: held for scale.hold_time, then no depth and the reason says stale

All nodes start together (module-scoped), one frame each.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from numpy.typing import NDArray
from rclpy.node import Node
from rclpy.publisher import Publisher
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField
from std_msgs.msg import Header
from stereo_msgs.msg import DisparityImage

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.eval.metrics import depth_metrics
from depth_ros.core.eval.samples import StereoSample, load_sample
from depth_ros.core.geometry import unproject
from depth_ros.core.messages import float_image_to_numpy
from depth_ros.nodes.convert import camera_info_msg, disparity_msg, numpy_to_image
from depth_ros.nodes.qos import qos_profile
from depth_ros.tools.collector import Collector
from nodes.helpers import NodeProcess, node_process, stamp_ns

pytestmark = pytest.mark.ros
PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
RGBD = (
    Path(__file__).resolve().parents[2]
    / ".."
    / "shared"
    / "data"
    / "open3d_rgbd_samples"
    / "TestData"
    / "RGBD"
)
TUM = RGBD / "other_formats" / "TUM_depth.png"
REDWOOD = RGBD / "depth" / "00000.png"
FRAME = "camera_optical_frame"
NOISE = 0.02
RESEND_S = 2.0  # a frame without its fit by then was lost while endpoints matched: again
F32 = NDArray[np.float32]

sys.path.insert(0, str(PLUGINS))
import oracle_model  # noqa: E402


def kinect(frame_id: str = FRAME) -> PinholeCamera:
    return PinholeCamera.from_intrinsics(640, 480, 525.0, 525.0, 319.5, 239.5, frame_id=frame_id)


def _read_depth(path: Path, per_metre: float) -> F32:
    import cv2

    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw is not None, path
    assert raw.dtype == np.uint16, path
    depth = raw.astype(np.float32) / np.float32(per_metre)
    depth[raw == 0] = np.nan
    return depth


def lidar_to_camera() -> NDArray[np.float64]:
    """A LiDAR frame (x forward, y left, z up) 10 cm above and 5 cm left of the camera,
    yawed by 5 degrees: the 4x4 transform of LiDAR points into the camera optical frame."""
    axes = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]])  # lidar → optical
    yaw = math.radians(5.0)
    rz = np.array(
        [[math.cos(yaw), -math.sin(yaw), 0.0], [math.sin(yaw), math.cos(yaw), 0.0], [0.0, 0.0, 1.0]]
    )
    t = np.eye(4)
    t[:3, :3] = axes @ rz
    t[:3, 3] = [-0.05, -0.10, 0.0]
    return t


def transform_params(t: NDArray[np.float64]) -> dict[str, float]:
    from scipy.spatial.transform import Rotation

    qx, qy, qz, qw = Rotation.from_matrix(t[:3, :3]).as_quat()
    return {
        "reference_to_camera_x": float(t[0, 3]),
        "reference_to_camera_y": float(t[1, 3]),
        "reference_to_camera_z": float(t[2, 3]),
        "reference_to_camera_qx": float(qx),
        "reference_to_camera_qy": float(qy),
        "reference_to_camera_qz": float(qz),
        "reference_to_camera_qw": float(qw),
    }


def floor_from_ground_truth(gt: F32, camera: PinholeCamera) -> tuple[float, float, float]:
    """(height, pitch, roll) of the camera above the floor seen in the bottom rows."""
    pts = unproject(gt, camera)[400:].reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
    centroid = pts.mean(axis=0)
    normal = np.linalg.svd(pts - centroid, full_matrices=False)[2][2]
    normal *= np.sign(normal[1])
    return float(normal @ centroid), math.asin(normal[2]), math.atan2(normal[0], normal[1])


class Case:
    """One mono_depth node under test: its namespace, ground truth, camera, parameters."""

    def __init__(
        self,
        ns: str,
        gt: F32,
        camera: PinholeCamera,
        params: dict[str, float | str | bool],
        sample: StereoSample | None = None,
    ) -> None:
        self.ns, self.gt, self.camera, self.params = ns, gt, camera, params
        self.sample = sample
        self.proc: NodeProcess | None = None

    def running(self) -> NodeProcess:
        assert self.proc is not None, f"{self.ns} was not started"
        return self.proc


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Case]]:
    if not TUM.exists() or not REDWOOD.exists():
        pytest.skip(
            f"real RGB-D frames absent ({TUM}, {REDWOOD}): ../shared holds them on dev machines"
        )
    tmp = tmp_path_factory.mktemp("scale")
    tum = _read_depth(TUM, 5000.0)
    redwood = _read_depth(REDWOOD, 1000.0)
    moto = load_sample("motorcycle")
    scale, shift = oracle_model.affine_map(tum, 1)
    height, pitch, roll = floor_from_ground_truth(redwood, kinect())
    assert 0.3 < height < 2.5
    all_cases = {
        "fixed": Case(
            "/sc_fixed",
            tum,
            kinect(),
            {"scale_source": "fixed", "seed": 1, "scale.scale": scale, "scale.shift": shift},
        ),
        "ground_plane": Case(
            "/sc_ground",
            redwood,
            kinect(),
            {
                "scale_source": "ground_plane",
                "seed": 2,
                "noise": 0.01,
                "scale.camera_height": height,
                "scale.use_pitch_roll": True,
                "scale.pitch": pitch,
                "scale.roll": roll,
            },
        ),
        "lidar": Case(
            "/sc_lidar",
            tum,
            kinect(),
            {"scale_source": "sparse_depth", "seed": 3, **transform_params(lidar_to_camera())},
        ),
        "depth": Case(
            "/sc_depth",
            tum,
            kinect(),
            {"scale_source": "sparse_depth", "seed": 4, "reference_to_camera_x": 0.0},
        ),
        "stereo": Case(
            "/sc_stereo",
            np.asarray(moto.depth),
            moto.left_camera,
            {"scale_source": "stereo", "seed": 5},
            sample=moto,
        ),
        "failures": Case(
            "/sc_fail",
            tum,
            kinect(),
            {
                "scale_source": "sparse_depth",
                "seed": 6,
                "scale.hold_time": 2.0,
                "scale.smoothing": 0.0,
                "scale.max_reference_age": 0.5,
            },
        ),
    }
    with ExitStack() as stack:
        for name, case in all_cases.items():
            gt_file = tmp / f"{name}_gt.npy"
            np.save(gt_file, case.gt)
            params = {
                "model": "test_oracle_relative",
                "gt_file": str(gt_file),
                "noise": NOISE,
                "diagnostics_period": 0.5,
                "points": "none",
                **case.params,
            }
            case.proc = stack.enter_context(
                node_process("mono_depth", tmp / f"{name}.log", params, case.ns, plugins=True)
            )
        yield all_cases


class Rig:
    """Publishers and collectors of one node under test."""

    def __init__(self, node: Node, case: Case, reference: dict[str, type] | None = None) -> None:
        self.node, self.case, ns = node, case, case.ns
        q = qos_profile("sensor_data", 5)
        self.image = node.create_publisher(Image, f"{ns}/image", q)
        self.info = node.create_publisher(CameraInfo, f"{ns}/camera_info", q)
        self.refs: dict[str, Publisher[Any]] = {
            t: node.create_publisher(m, f"{ns}/{t}", q) for t, m in (reference or {}).items()
        }
        self.out = Collector(
            node,
            {
                f"{ns}/depth": Image,
                f"{ns}/scale/fit": DiagnosticStatus,
                f"{ns}/depth/relative": Image,
            },
        )
        self.diags = Collector(node, {"/diagnostics": DiagnosticArray})
        pubs = [self.image, self.info, *self.refs.values()]
        case.running().wait(
            node,
            lambda: all(p.get_subscription_count() for p in pubs) and self.out.publishers_matched(),
            60,
            "the node's inputs and outputs",
        )
        self.rgb = np.zeros((*case.gt.shape, 3), np.uint8)  # the oracle ignores the pixels

    def header(self, stamp: float | None = None, frame_id: str = FRAME) -> Header:
        if stamp is None:
            return Header(stamp=self.node.get_clock().now().to_msg(), frame_id=frame_id)
        sec = math.floor(stamp)
        return Header(stamp=Time(sec=sec, nanosec=round((stamp - sec) * 1e9)), frame_id=frame_id)

    def reference(self, topic: str, msg: DisparityImage | Image | CameraInfo | PointCloud2) -> None:
        """Publish a reference message and wait until the node's diagnostics show it
        received it (before a frame, which pairs with the newest reference)."""
        self.refs[topic].publish(msg)
        stamp = f"{msg.header.stamp.sec}.{msg.header.stamp.nanosec:09d}"
        self.case.running().wait(
            self.node,
            lambda: any(_values(d).get(f"{topic} stamp") == stamp for d in self._node_statuses()),
            30,
            f"{topic} {stamp} in the diagnostics",
        )

    def frame(
        self, header: Header, expect_depth: bool = True
    ) -> tuple[DiagnosticStatus, F32 | None]:
        """Publish one frame (again every RESEND_S while its fit has not come: lost
        before the endpoints matched); its scale/fit, and with ``expect_depth`` its depth,
        waited for. Without, the depth is not looked at: its absence is checked against a
        later frame's output (:meth:`depth_stamps`)."""
        ns, stamp = self.case.ns, stamp_ns(header)
        deadline = time.monotonic() + 30
        while True:
            self.image.publish(numpy_to_image(self.rgb, "rgb8", header))
            self.info.publish(camera_info_msg(self.case.camera, header))
            fit = self._await_fit(stamp, min(time.monotonic() + RESEND_S, deadline))
            if fit is not None:
                break
            assert time.monotonic() < deadline, f"no fit of {stamp}: {self.case.running().report()}"
        if not expect_depth:
            return fit, None
        self.case.running().wait(
            self.node, lambda: stamp in self.depth_stamps(), 30, f"the depth of frame {stamp}"
        )
        depth = next(r.msg for r in self.out.received[f"{ns}/depth"] if r.stamp_ns == stamp)
        return fit, float_image_to_numpy(depth)

    def _await_fit(self, stamp: int, until: float) -> DiagnosticStatus | None:
        """Spin until the fit of ``stamp`` comes (it) or the monotonic time ``until``."""
        proc = self.case.running()
        while (fit := self._fit(stamp)) is None and time.monotonic() < until:
            assert proc.alive(), proc.report()
            rclpy.spin_once(self.node, timeout_sec=0.05)
        return fit

    def _fit(self, stamp: int) -> DiagnosticStatus | None:
        """The first scale/fit made for the frame of ``stamp`` (its ``frame_stamp``)."""
        key = f"{stamp // 1_000_000_000}.{stamp % 1_000_000_000:09d}"
        for r in self.out.received[f"{self.case.ns}/scale/fit"]:
            if _values(r.msg).get("frame_stamp") == key:
                fit: DiagnosticStatus = r.msg
                return fit
        return None

    def depth_stamps(self) -> list[int]:
        """The stamps of every depth received from the node, in order."""
        return self.out.stamps(f"{self.case.ns}/depth")

    def _node_statuses(self) -> list[DiagnosticStatus]:
        name = f"{self.case.ns}/mono_depth: depth"
        return [
            s for r in self.diags.received["/diagnostics"] for s in r.msg.status if s.name == name
        ]

    def diagnostic_of(self, fit: DiagnosticStatus) -> DiagnosticStatus:
        """The node's first /diagnostics status made after ``fit`` (its ``scale_fit`` is
        that fit's reason), waited for."""
        found: list[DiagnosticStatus] = []

        def made() -> bool:
            found[:] = [
                d for d in self._node_statuses() if _values(d).get("scale_fit") == fit.message
            ]
            return bool(found)

        self.case.running().wait(self.node, made, 10, f"diagnostics after the fit {fit.message!r}")
        return found[0]


def _level(status: DiagnosticStatus) -> int:
    level = status.level
    return level[0] if isinstance(level, bytes) else int(level)


def _values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


def _check_fit(
    fit: DiagnosticStatus, depth: F32 | None, gt: F32, max_abs_rel: float, name: str
) -> dict[str, float]:
    v = _values(fit)
    assert fit.level == DiagnosticStatus.OK, (fit.message, v)
    assert fit.message == "ok"
    assert {"scale", "shift", "residual", "inliers", "points", "held", "source"} <= set(v)
    assert v["held"] == "False"
    assert depth is not None, "no depth published"
    assert depth.shape == gt.shape
    m = depth_metrics(depth, gt)
    print(
        f"\n{name}: AbsRel {m['abs_rel']:.4f} delta1 {m['delta1']:.4f} density "
        f"{m['density']:.3f}; fit scale {v['scale']} shift {v['shift']} residual "
        f"{v['residual']} inliers {v['inliers']}/{v['points']}"
    )
    assert m["abs_rel"] < max_abs_rel
    return {k: float(v[k]) for k in ("scale", "shift", "residual", "inliers", "points")}


def test_fixed(ros_node: Node, cases: dict[str, Case]) -> None:
    case = cases["fixed"]
    rig = Rig(ros_node, case)
    fit, depth = rig.frame(rig.header())
    got = _check_fit(fit, depth, case.gt, 0.03, "fixed")
    assert got["scale"] == pytest.approx(case.params["scale.scale"])
    assert got["shift"] == pytest.approx(case.params["scale.shift"])
    assert _values(fit)["source"] == "fixed"


def test_ground_plane(ros_node: Node, cases: dict[str, Case]) -> None:
    case = cases["ground_plane"]
    rig = Rig(ros_node, case)
    fit, depth = rig.frame(rig.header())
    got = _check_fit(fit, depth, case.gt, 0.06, "ground_plane")
    scale, _ = oracle_model.affine_map(case.gt, 2)
    assert got["scale"] == pytest.approx(scale, rel=0.06)
    assert got["inliers"] > 100


def test_sparse_depth_lidar_points_in_another_frame(ros_node: Node, cases: dict[str, Case]) -> None:
    case = cases["lidar"]
    rig = Rig(ros_node, case, {"reference/points": PointCloud2})
    rng = np.random.default_rng(11)
    keep = (rng.random(case.gt.shape) < 0.01) & np.isfinite(case.gt)
    noisy = np.where(keep, case.gt * (1 + NOISE * rng.standard_normal(case.gt.shape)), np.nan)
    cam_pts = unproject(noisy.astype(np.float32), case.camera).reshape(-1, 3)
    cam_pts = cam_pts[np.isfinite(cam_pts).all(axis=1)]
    t = lidar_to_camera()
    lidar_pts = ((cam_pts - t[:3, 3]) @ t[:3, :3]).astype(np.float32)  # R^T (p - t)
    assert abs(lidar_pts[:, 0].mean()) > 1.0  # really in another frame: x forward
    header = rig.header(frame_id="lidar")
    cloud = PointCloud2(
        header=header,
        height=1,
        width=len(lidar_pts),
        is_bigendian=False,
        point_step=12,
        row_step=12 * len(lidar_pts),
        is_dense=True,
        data=lidar_pts.tobytes(),
        fields=[
            PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1)
            for i, n in enumerate("xyz")
        ],
    )
    rig.reference("reference/points", cloud)
    fit, depth = rig.frame(rig.header(stamp=header.stamp.sec + header.stamp.nanosec * 1e-9))
    got = _check_fit(fit, depth, case.gt, 0.04, "sparse_depth (LiDAR points)")
    scale, _shift = oracle_model.affine_map(case.gt, 3)
    assert got["scale"] == pytest.approx(scale, rel=0.05)
    assert got["points"] > 0.5 * len(lidar_pts)


def test_sparse_depth_depth_image_not_aligned(ros_node: Node, cases: dict[str, Case]) -> None:
    import cv2

    case = cases["depth"]
    rig = Rig(ros_node, case, {"reference/depth": Image, "reference/camera_info": CameraInfo})
    half = cv2.resize(np.nan_to_num(case.gt, nan=0.0), (320, 240), interpolation=cv2.INTER_NEAREST)
    mm = np.round(half * 1000.0).astype(np.uint16)  # 16UC1 millimetres, 0 = none
    header = rig.header(frame_id="depth_optical")
    rig.reference(
        "reference/camera_info", camera_info_msg(kinect("depth_optical").scaled(320, 240), header)
    )
    rig.reference("reference/depth", numpy_to_image(mm, "16UC1", header))
    fit, depth = rig.frame(rig.header(stamp=header.stamp.sec + header.stamp.nanosec * 1e-9))
    got = _check_fit(fit, depth, case.gt, 0.04, "sparse_depth (depth image)")
    assert got["scale"] == pytest.approx(oracle_model.affine_map(case.gt, 4)[0], rel=0.05)
    assert got["points"] > 1000


def test_stereo_disparity(ros_node: Node, cases: dict[str, Case]) -> None:
    case = cases["stereo"]
    s = case.sample
    assert s is not None
    rig = Rig(ros_node, case, {"reference/disparity": DisparityImage})
    header = rig.header(frame_id=s.left_camera.frame_id)
    msg = disparity_msg(np.asarray(s.disparity, np.float32), s.geometry, 0.0, 400.0, header)
    assert msg.min_disparity == pytest.approx(s.geometry.doffs)  # holds d + doffs
    rig.reference("reference/disparity", msg)
    fit, depth = rig.frame(header)
    got = _check_fit(fit, depth, case.gt, 0.03, "stereo (Motorcycle GT disparity)")
    assert got["scale"] == pytest.approx(oracle_model.affine_map(case.gt, 5)[0], rel=0.05)


def test_failures_no_reference_degenerate_then_stale(
    ros_node: Node, cases: dict[str, Case]
) -> None:
    case = cases["failures"]
    rig = Rig(ros_node, case, {"reference/depth": Image})
    t0 = float(math.floor(time.time()))
    no_depth: list[int] = []  # frames that must give no depth (checked at the end)

    # 1. no reference yet: no depth, ERROR fit and diagnostics saying why
    header = rig.header(t0)
    fit, _ = rig.frame(header, expect_depth=False)
    no_depth.append(stamp_ns(header))
    assert fit.level == DiagnosticStatus.ERROR
    assert fit.message.startswith("no_reference")
    diag = rig.diagnostic_of(fit)
    assert diag is not None
    assert _level(diag) == 2  # no depth published: ERROR
    assert "no_reference" in diag.message, diag.message

    # 2. a reference that cannot determine the map (everything at 2 m): degenerate
    flat = np.full(case.gt.shape, 2000, np.uint16)
    rig.reference("reference/depth", numpy_to_image(flat, "16UC1", rig.header(t0 + 0.1)))
    header = rig.header(t0 + 0.1)
    fit, _ = rig.frame(header, expect_depth=False)
    no_depth.append(stamp_ns(header))
    assert fit.level == DiagnosticStatus.ERROR
    assert fit.message.startswith("degenerate_fit"), fit.message

    # 3. the real reference: metric depth
    mm = np.round(np.nan_to_num(case.gt, nan=0.0) * 1000.0).astype(np.uint16)
    rig.reference("reference/depth", numpy_to_image(mm, "16UC1", rig.header(t0 + 0.2)))
    fit, depth = rig.frame(rig.header(t0 + 0.2))
    good = _check_fit(fit, depth, case.gt, 0.04, "sparse_depth (dense aligned)")

    # 4. the reference stops: 1 s later it is stale, the last fit is held (hold_time 2 s)
    fit, depth = rig.frame(rig.header(t0 + 1.2))
    v = _values(fit)
    assert fit.level == DiagnosticStatus.WARN
    assert v["held"] == "True"
    assert float(v["age"]) == pytest.approx(1.0, abs=1e-3)
    assert "stale_reference" in fit.message
    assert float(v["scale"]) == pytest.approx(good["scale"])
    assert depth is not None
    assert depth_metrics(depth, case.gt)["abs_rel"] < 0.04

    # 5. beyond hold_time: no depth, the reason says stale
    header = rig.header(t0 + 3.5)
    fit, _ = rig.frame(header, expect_depth=False)
    no_depth.append(stamp_ns(header))
    assert fit.level == DiagnosticStatus.ERROR
    assert fit.message.startswith("stale_reference"), fit.message
    assert "last good fit is 3.30 s old" in fit.message
    diag = rig.diagnostic_of(fit)
    assert diag is not None
    assert _level(diag) == 2
    assert "stale_reference" in diag.message, diag.message

    # 6. a fresh reference, a frame with depth: once that depth is here, every depth the
    # node published before it would have been too (in order, one publisher): frames 1, 2
    # and 5 gave none
    rig.reference("reference/depth", numpy_to_image(mm, "16UC1", rig.header(t0 + 3.6)))
    fit, depth = rig.frame(rig.header(t0 + 3.6))
    assert depth is not None
    assert not set(no_depth) & set(rig.depth_stamps()), (no_depth, rig.depth_stamps())
