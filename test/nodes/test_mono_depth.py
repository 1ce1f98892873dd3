"""mono_depth in its own process over real DDS, with Depth Anything V2 ViT-S checkpoints in
the official layout (random weights: the official files are not reachable here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import Header

from nodes.helpers import node_process, spin_for, wait_for

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from core.test_depth_anything_v2 import official_state  # noqa: E402

from depth_ros.core.camera import PinholeCamera  # noqa: E402
from depth_ros.core.eval.samples import load_sample  # noqa: E402
from depth_ros.core.messages import image_to_numpy  # noqa: E402
from depth_ros.core.models import ModelConfig, build_model  # noqa: E402
from depth_ros.nodes.convert import camera_info_msg, numpy_to_image  # noqa: E402
from depth_ros.tools.collector import Collector  # noqa: E402

pytestmark = pytest.mark.ros
SIZE = 70  # network input: fast on CPU


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("w") / "depth_anything_v2_vits.pth"
    torch.save(official_state("vits"), path)
    return path


@pytest.fixture(scope="module")
def frame() -> tuple[np.ndarray, PinholeCamera]:
    import cv2

    s = load_sample("motorcycle")
    rgb = np.ascontiguousarray(cv2.resize(s.left, (185, 125), interpolation=cv2.INTER_AREA))
    return rgb, s.left_camera.scaled(185, 125)


def _publish(node, ns, rgb, camera, encoding="rgb8", compressed=False):  # type: ignore[no-untyped-def]
    from depth_ros.nodes.qos import qos_profile

    q = qos_profile("sensor_data", 5)
    topic = f"{ns}/image/compressed" if compressed else f"{ns}/image"
    img_pub = node.create_publisher(CompressedImage if compressed else Image, topic, q)
    info_pub = node.create_publisher(CameraInfo, f"{ns}/camera_info", q)
    assert wait_for(
        node,
        lambda: img_pub.get_subscription_count() > 0 and info_pub.get_subscription_count() > 0,
        60,
    ), "node did not subscribe"
    spin_for(node, 0.3)
    header = Header(stamp=node.get_clock().now().to_msg(), frame_id="camera_optical_frame")
    if compressed:
        import cv2

        _, jpg = cv2.imencode(".png", rgb[:, :, ::-1])
        msg = CompressedImage(header=header, format="png", data=jpg.tobytes())
    else:
        arr = rgb[:, :, ::-1] if encoding == "bgr8" else rgb
        msg = numpy_to_image(np.ascontiguousarray(arr), "rgb8", header)
        msg.encoding = encoding
    img_pub.publish(msg)
    info_pub.publish(camera_info_msg(camera, header))
    return header


@pytest.fixture(scope="module")
def relative_node(tmp_path_factory, weights) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("rel")
    params = {"model": "depth_anything_v2_vits", "weights": str(weights), "input_size": SIZE}
    with node_process("mono_depth", tmp, params, "/mono_rel") as log:
        yield log


def test_relative_model_publishes_relative_only(ros_node, relative_node, frame, weights):  # type: ignore[no-untyped-def]
    node = ros_node
    ns = "/mono_rel"
    rgb, camera = frame
    c = Collector(node, {f"{ns}/depth/relative": Image, f"{ns}/depth/color": Image})
    assert wait_for(node, c.publishers_matched, 60), relative_node.read_text()[-2000:]
    assert node.count_publishers(f"{ns}/depth") == 0  # relative: no metric depth
    header = _publish(node, ns, rgb, camera, encoding="bgr8")
    assert wait_for(
        node, lambda: c.count(f"{ns}/depth/relative") >= 1 and c.count(f"{ns}/depth/color") >= 1, 60
    ), relative_node.read_text()[-2000:]
    msg = c.received[f"{ns}/depth/relative"][-1].msg
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (
        header.stamp.sec,
        header.stamp.nanosec,
    )
    assert msg.encoding == "32FC1"
    assert (msg.height, msg.width) == rgb.shape[:2]
    model = build_model("depth_anything_v2_vits", ModelConfig(weights=weights, input_size=SIZE))
    np.testing.assert_allclose(image_to_numpy(msg), model.predict(rgb), rtol=1e-4, atol=1e-5)
    color = c.received[f"{ns}/depth/color"][-1].msg
    assert color.encoding == "rgb8"
    assert (color.height, color.width) == rgb.shape[:2]


def test_bad_input_publishes_nothing(ros_node, relative_node, frame):  # type: ignore[no-untyped-def]
    node = ros_node
    ns = "/mono_rel"
    rgb, camera = frame
    c = Collector(node, {f"{ns}/depth/relative": Image})
    assert wait_for(node, c.publishers_matched, 60)
    _publish(node, ns, rgb, camera, encoding="yuv422")
    _publish(node, ns, rgb, camera.scaled(92, 62))
    spin_for(node, 3.0)
    assert c.count(f"{ns}/depth/relative") == 0
    text = relative_node.read_text()
    assert "unsupported image encoding 'yuv422'" in text
    assert "camera_info is 92x62 but the image is 185x125" in text
    _publish(node, ns, rgb, camera)  # still alive and working
    assert wait_for(node, lambda: c.count(f"{ns}/depth/relative") == 1, 30)


def test_metric_model_depth_points_and_compressed(ros_node, tmp_path, frame):  # type: ignore[no-untyped-def]
    node = ros_node
    ns = "/mono_metric"
    rgb, camera = frame
    path = tmp_path / "depth_anything_v2_metric_hypersim_vits.pth"
    torch.save(official_state("vits", seed=3), path)
    params = {
        "model": "depth_anything_v2_metric_hypersim_vits",
        "weights": str(path),
        "input_size": SIZE,
        "image_transport": "compressed",
        "max_depth": 15.0,
    }
    with node_process("mono_depth", tmp_path, params, ns) as log:
        c = Collector(
            node,
            {
                f"{ns}/depth": Image,
                f"{ns}/depth/camera_info": CameraInfo,
                f"{ns}/points": PointCloud2,
            },
        )
        assert wait_for(node, c.publishers_matched, 60), log.read_text()[-2000:]
        assert node.count_publishers(f"{ns}/depth/relative") == 0
        _publish(node, ns, rgb, camera, compressed=True)
        assert wait_for(node, lambda: all(c.count(t) >= 1 for t in c.topics), 60), log.read_text()[
            -2000:
        ]
        _compressed_bomb_is_refused_before_decoding(node, ns, camera, log)
    depth = image_to_numpy(c.received[f"{ns}/depth"][-1].msg)
    info = c.received[f"{ns}/depth/camera_info"][-1].msg
    assert (info.width, info.height) == (depth.shape[1], depth.shape[0])
    finite = depth[np.isfinite(depth)]
    assert finite.size
    assert (finite > 0).all()
    assert (finite <= 15.0).all()
    model = build_model(
        "depth_anything_v2_metric_hypersim_vits", ModelConfig(weights=path, input_size=SIZE)
    )
    expected = model.predict(rgb)  # PNG is lossless: same pixels as published
    expected[expected > 15.0] = np.nan
    np.testing.assert_allclose(depth, expected, rtol=1e-4, atol=1e-5)
    cloud = c.received[f"{ns}/points"][-1].msg
    assert (cloud.height, cloud.width) == depth.shape
    pts = np.frombuffer(bytes(cloud.data), np.float32).reshape(*depth.shape, 4)
    np.testing.assert_allclose(pts[:, :, 2], depth, equal_nan=True)


@pytest.mark.parametrize("case", ["corrupt_weights", "unknown_model"])
def test_unusable_model_keeps_node_up(ros_node, tmp_path, case):  # type: ignore[no-untyped-def]
    node = ros_node
    params: dict[str, object] = {"input_size": SIZE}
    if case == "corrupt_weights":
        bad = tmp_path / "depth_anything_v2_vits.pth"
        bad.write_bytes(b"not a checkpoint")
        params.update(model="depth_anything_v2_vits", weights=str(bad))
        expect = str(bad)
    else:
        params.update(model="depth_anything_v9_giant")
        expect = "unknown model 'depth_anything_v9_giant'"
    ns = f"/mono_{case}"
    with node_process("mono_depth", tmp_path, params, ns) as log:
        assert wait_for(node, lambda: expect in log.read_text(), 60), log.read_text()
        spin_for(node, 1.0)
        assert node.count_publishers(f"{ns}/depth/relative") == 0
        assert "Traceback" not in log.read_text()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model_id", "size"),
    [
        ("midas_v21_small", 64),
        ("dpt_hybrid", 64),
        ("depth_anything_v2_metric_vkitti_vits", SIZE),
    ],
)
def test_other_families_through_the_node(ros_node, tmp_path, frame, model_id, size):  # type: ignore[no-untyped-def]
    """One model of each remaining family/kind, official-layout random weights, over DDS:
    the node's output equals the core's prediction on the same image."""
    from core.test_midas import official_state as midas_state

    from depth_ros.core.models import OutputKind, get_model

    node = ros_node
    rgb, camera = frame
    spec = get_model(model_id)
    path = tmp_path / (spec.weights_file or f"{model_id}.pth")
    state = (
        official_state("vits", seed=5)
        if model_id.startswith("depth_anything")
        else midas_state(model_id)
    )
    torch.save(state, path)
    metric = spec.output_kind is OutputKind.METRIC
    topic = "depth" if metric else "depth/relative"
    ns = f"/mono_{model_id}"
    params = {"model": model_id, "weights": str(path), "input_size": size}
    with node_process("mono_depth", tmp_path, params, ns) as log:
        c = Collector(node, {f"{ns}/{topic}": Image})
        assert wait_for(node, c.publishers_matched, 90), log.read_text()[-2000:]
        _publish(node, ns, rgb, camera)
        assert wait_for(node, lambda: c.count(f"{ns}/{topic}") >= 1, 90), log.read_text()[-2000:]
    got = image_to_numpy(c.received[f"{ns}/{topic}"][-1].msg)
    expected = build_model(model_id, ModelConfig(weights=path, input_size=size)).predict(rgb)
    if metric:
        expected = np.where(expected > 0, expected, np.nan)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def _png_bomb(width: int, height: int) -> bytes:
    """A valid grey PNG of zeros: a few hundred KB that decode to width x height x 3 bytes."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    comp = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte 0 + a row of zeros
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def _peak_rss_mb(namespace: str) -> float:
    """VmHWM of the node process started in ``namespace`` (found by its arguments)."""
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            if f"__ns:={namespace}".encode() in cmdline:
                status = (proc / "status").read_text()
                return int(status.split("VmHWM:")[1].split()[0]) / 1024
        except (OSError, IndexError, ValueError):
            continue
    raise AssertionError(f"no process in {namespace}")


def _compressed_bomb_is_refused_before_decoding(node, ns, camera, log) -> None:  # type: ignore[no-untyped-def]
    """Issue 15: 12000 x 12000 pixels in ~150 KB of PNG grew the node by ~800 MB before the
    size check; the header's size is now checked against max_image_pixels first."""
    from depth_ros.nodes.qos import qos_profile

    data = _png_bomb(12000, 12000)
    assert len(data) < 400_000
    before = _peak_rss_mb(ns)
    pub = node.create_publisher(
        CompressedImage, f"{ns}/image/compressed", qos_profile("sensor_data", 5)
    )
    info = node.create_publisher(CameraInfo, f"{ns}/camera_info", qos_profile("sensor_data", 5))
    assert wait_for(node, lambda: pub.get_subscription_count() > 0, 30)
    spin_for(node, 0.3)
    header = Header(stamp=node.get_clock().now().to_msg(), frame_id="camera_optical_frame")
    pub.publish(CompressedImage(header=header, format="png", data=data))
    info.publish(camera_info_msg(camera.scaled(12000, 12000), header))
    assert wait_for(node, lambda: "max_image_pixels" in log.read_text(), 30), log.read_text()
    line = next(x for x in log.read_text().splitlines() if "max_image_pixels" in x)
    assert "12000x12000 = 144000000 pixels, more than max_image_pixels (50000000)" in line
    assert _peak_rss_mb(ns) - before < 100  # decoded, it would be 432 MB
