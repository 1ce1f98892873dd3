"""Property-based fuzzing of the stereo and mono message callbacks, in-process.

A real rclpy node hosts each DepthComponent (configured as the executable would); its
publishers are replaced by spies. ``handle`` is then called with Image/CameraInfo
messages whose fields are random or a valid frame with one field broken. Properties:
only DepthRosError escapes; when it does, nothing at all was published (no half-written
output sets); when nothing is raised, every output has the input's size and header and
depth holds positive metres or NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from depth_ros.core.arrays import has_dtype
from depth_ros.core.camera import PinholeCamera
from depth_ros.core.errors import DepthRosError
from depth_ros.core.messages import image_to_numpy
from depth_ros.core.models import OutputKind, get_model
from depth_ros.core.params import Value
from depth_ros.nodes.convert import camera_info_msg, numpy_to_image

pytestmark = pytest.mark.ros

ENCODINGS = [
    "rgb8",
    "bgr8",
    "mono8",
    "mono16",
    "rgba8",
    "bgra8",
    "16UC1",
    "32FC1",
    "8UC3",
    "yuv422",
    "bayer_rggb8",
    "",
    "RGB8",
    "jpeg",
]
PIXEL_BYTES = {
    "rgb8": 3,
    "bgr8": 3,
    "mono8": 1,
    "mono16": 2,
    "rgba8": 4,
    "bgra8": 4,
    "16UC1": 2,
    "32FC1": 4,
    "8UC3": 3,
}
FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -1.0, 1e-12, 1e12, 50.0, float("nan"), float("inf")]),
)
SETTINGS = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Spy:
    """Stands in for a publisher: records what would have gone out (serialized messages,
    which the nodes build in place, are read back with rclpy's deserializer)."""

    def __init__(self, log: list[tuple[str, Any]], name: str, msg_type: type) -> None:
        self.log = log
        self.name = name
        self.msg_type = msg_type

    def publish(self, msg: Any) -> None:
        if isinstance(msg, bytes):
            from rclpy.serialization import deserialize_message

            msg = deserialize_message(msg, self.msg_type)
        self.log.append((self.name, msg))

    def get_subscription_count(self) -> int:
        return 1  # everything is wanted: clouds and colour images are built too


class StubMono:
    """A mono model without weights: a smooth positive map of the input's size."""

    def predict(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        h, w = rgb.shape[:2]
        y, x = np.mgrid[0:h, 0:w]
        return np.asarray(1.0 + x / max(w, 1) + y / max(h, 1), np.float32)

    def update(self, params: Mapping[str, Value]) -> None:
        pass


@pytest.fixture(scope="module")
def rclpy_context() -> Iterator[None]:
    import rclpy

    rclpy.init()
    try:
        yield
    finally:
        rclpy.try_shutdown()


def _component(cls: type, name: str, overrides: dict[str, Any]) -> tuple[Any, list[Any]]:
    import rclpy
    from rclpy.parameter import Parameter

    node = rclpy.create_node(
        name, parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()]
    )
    comp = cls(node)
    assert comp.configure(), comp.log.last_error
    published: list[tuple[str, Any]] = []
    comp.pubs = {k: Spy(published, k, p.msg_type) for k, p in comp.create_publishers(1).items()}
    return comp, published


@pytest.fixture(scope="module")
def stereo(rclpy_context: None) -> Iterator[tuple[Any, list[Any]]]:
    from depth_ros.nodes.stereo_depth import StereoDepth

    comp, published = _component(StereoDepth, "fuzz_stereo", {"disparity_range": 16})
    yield comp, published
    comp.node.destroy_node()


@pytest.fixture(scope="module")
def mono(rclpy_context: None) -> Iterator[tuple[Any, list[Any]]]:
    import depth_ros.nodes.base as base
    from depth_ros.nodes.mono_depth import MonoDepth

    model = "depth_anything_v2_metric_hypersim_vits"
    assert get_model(model).output_kind is OutputKind.METRIC
    with pytest.MonkeyPatch.context() as patch:  # no weights needed for the callbacks
        patch.setattr(base, "build_model", lambda *a, **k: StubMono())
        comp, published = _component(MonoDepth, "fuzz_mono", {"model": model})
    yield comp, published
    comp.node.destroy_node()


# -- strategies ------------------------------------------------------------------------


def _header(frame: str = "cam") -> Header:
    h = Header(frame_id=frame)
    h.stamp.sec, h.stamp.nanosec = 1_700_000_000, 123
    return h


def _camera(w: int, h: int, tx: float = 0.0) -> PinholeCamera:
    f = 0.8 * w
    return PinholeCamera.from_intrinsics(w, h, f, f, w / 2, h / 2, tx=-f * 0.1 if tx else 0.0)


@st.composite
def random_image(draw: st.DrawFn) -> Image:
    msg = Image()
    msg.header = _header()
    msg.height = draw(st.integers(0, 24))
    msg.width = draw(st.integers(0, 40))
    msg.encoding = draw(st.sampled_from(ENCODINGS))
    row = msg.width * PIXEL_BYTES.get(msg.encoding, 3)
    msg.step = draw(st.one_of(st.just(row), st.integers(0, 2 * row + 8)))
    msg.is_bigendian = draw(st.sampled_from([0, 1]))
    need = msg.step * msg.height
    n = draw(st.one_of(st.just(need), st.integers(0, need + 16)))
    msg.data = draw(st.binary(min_size=n, max_size=n))
    return msg


@st.composite
def random_info(draw: st.DrawFn, width: int | None = None, height: int | None = None) -> CameraInfo:
    msg = CameraInfo()
    msg.header = _header()
    msg.width = width if width is not None else draw(st.integers(0, 64))
    msg.height = height if height is not None else draw(st.integers(0, 64))
    msg.k = draw(st.lists(FLOATS, min_size=9, max_size=9))
    msg.p = draw(st.lists(FLOATS, min_size=12, max_size=12))
    msg.r = draw(st.lists(FLOATS, min_size=9, max_size=9))
    msg.d = draw(st.lists(FLOATS, max_size=8))
    msg.distortion_model = draw(st.sampled_from(["plumb_bob", "", "equidistant", "weird"]))
    return msg


def _valid_stereo(w: int, h: int, seed: int) -> list[Any]:
    rng = np.random.default_rng(seed)
    left = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    right = np.roll(left, -2, axis=1)
    header = _header()
    return [
        numpy_to_image(left, "rgb8", header),
        camera_info_msg(_camera(w, h), header),
        numpy_to_image(right, "rgb8", header),
        camera_info_msg(_camera(w, h, 1), header),
    ]


CI_FIELDS = ("width", "height", "k", "p", "d", "r", "distortion_model")
IMAGE_FIELDS = ("width", "height", "step", "encoding", "data", "is_bigendian")


@st.composite
def mutated_stereo(draw: st.DrawFn) -> list[Any]:
    """A valid pair with one field of one message replaced by a random value."""
    w, h = draw(st.integers(24, 64)), draw(st.integers(8, 32))
    msgs = _valid_stereo(w, h, draw(st.integers(0, 1000)))
    index = draw(st.integers(0, 3))
    msg = msgs[index]
    if index in (0, 2):
        field = draw(st.sampled_from(IMAGE_FIELDS))
        other = draw(random_image())
    else:
        field = draw(st.sampled_from(CI_FIELDS))
        other = draw(random_info())
    if field in ("k", "p") and draw(st.booleans()):  # one bad entry in good intrinsics
        values = list(getattr(msg, field))
        values[draw(st.integers(0, len(values) - 1))] = draw(FLOATS)
        setattr(msg, field, values)
    else:
        setattr(msg, field, getattr(other, field))
    return msgs


# -- properties -------------------------------------------------------------------------


def _call(comp: Any, published: list[Any], msgs: list[Any]) -> bool:
    """handle(msgs): True when it published, False on DepthRosError (then nothing out)."""
    published.clear()
    error: DepthRosError | None = None
    try:
        comp.handle(msgs)
    except DepthRosError as exc:
        error = exc
    if error is None:
        return True
    assert str(error), "an error without a message"
    assert published == [], f"published {[n for n, _ in published]} then failed: {error}"
    return False


def _check_outputs(published: list[Any], image: Image, names: set[str]) -> None:
    got = {name: msg for name, msg in published}
    assert names <= set(got), f"published {sorted(got)}, expected {sorted(names)}"
    for name, msg in published:
        header = msg.header
        assert (header.stamp.sec, header.stamp.nanosec) == (1_700_000_000, 123), name
        assert header.frame_id == image.header.frame_id, name
    depth_msg = got["depth"]
    assert (depth_msg.height, depth_msg.width) == (image.height, image.width)
    depth = image_to_numpy(depth_msg)
    assert has_dtype(depth, np.float32)
    finite = depth[np.isfinite(depth)]
    assert not np.isinf(depth).any(), "depth holds inf (must be NaN)"
    assert (finite > 0).all(), "depth holds zero or negative metres"


@SETTINGS
@given(
    st.one_of(
        mutated_stereo(),
        st.tuples(random_image(), random_info(), random_image(), random_info()).map(list),
    )
)
def test_stereo_handle_only_raises_depth_ros_errors(stereo: Any, msgs: list[Any]) -> None:
    comp, published = stereo
    if _call(comp, published, msgs):
        _check_outputs(published, msgs[0], {"disparity", "depth", "depth_info", "points"})
        disparity = next(m for n, m in published if n == "disparity")
        assert math.isfinite(disparity.f)
        assert math.isfinite(disparity.t)


def test_stereo_valid_frame_publishes(stereo: Any) -> None:
    """The property above is not vacuous: an untouched frame goes through."""
    comp, published = stereo
    msgs = _valid_stereo(48, 24, 0)
    assert _call(comp, published, msgs)
    _check_outputs(published, msgs[0], {"disparity", "depth", "depth_info", "points"})


@st.composite
def mutated_mono(draw: st.DrawFn) -> list[Any]:
    w, h = draw(st.integers(8, 48)), draw(st.integers(8, 32))
    rng = np.random.default_rng(draw(st.integers(0, 1000)))
    header = _header()
    msgs = [
        numpy_to_image(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), "rgb8", header),
        camera_info_msg(_camera(w, h), header),
    ]
    if draw(st.booleans()):
        field = draw(st.sampled_from(IMAGE_FIELDS))
        setattr(msgs[0], field, getattr(draw(random_image()), field))
    else:
        field = draw(st.sampled_from(CI_FIELDS))
        setattr(msgs[1], field, getattr(draw(random_info()), field))
    return msgs


@SETTINGS
@given(st.one_of(mutated_mono(), st.tuples(random_image(), random_info()).map(list)))
def test_mono_handle_only_raises_depth_ros_errors(mono: Any, msgs: list[Any]) -> None:
    comp, published = mono
    if _call(comp, published, msgs):
        _check_outputs(published, msgs[0], {"depth", "depth_info", "points", "color"})


def test_mono_valid_frame_publishes(mono: Any) -> None:
    comp, published = mono
    header = _header()
    image = numpy_to_image(np.full((16, 24, 3), 80, np.uint8), "rgb8", header)
    assert _call(comp, published, [image, camera_info_msg(_camera(24, 16), header)])
    _check_outputs(published, image, {"depth", "depth_info", "points", "color"})


def test_stereo_rectified_cloud_is_coloured_from_the_rectified_image(rclpy_context: None) -> None:
    """With ``rectify`` the colours cannot be written ahead of the matcher: the published
    cloud carries the colours of the rectified left image, not of the raw one."""
    import dataclasses

    from depth_ros.core.messages import read_points
    from depth_ros.core.pointcloud import unpack_rgb
    from depth_ros.nodes.stereo_depth import StereoDepth

    comp, published = _component(
        StereoDepth, "rectified_colours", {"disparity_range": 16, "rectify": True}
    )
    try:
        w, h = 64, 32
        msgs = _valid_stereo(w, h, 3)
        left = image_to_numpy(msgs[0])
        assert has_dtype(left, np.uint8)
        for i in (1, 3):  # strong barrel distortion on both cameras
            cam = dataclasses.replace(PinholeCamera.from_msg(msgs[i]), d=(-0.4, 0.1, 0, 0, 0))
            msgs[i] = camera_info_msg(cam, msgs[i].header)
        rectified = PinholeCamera.from_msg(msgs[1]).rectify(left)
        assert not np.array_equal(rectified, left)
        assert _call(comp, published, msgs)
        cloud = next(m for n, m in published if n == "points")
        np.testing.assert_array_equal(unpack_rgb(read_points(cloud)["rgb"]), rectified)
    finally:
        comp.node.destroy_node()
