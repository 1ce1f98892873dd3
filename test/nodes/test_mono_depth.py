"""mono_depth in its own process over real DDS, with Depth Anything V2 ViT-S checkpoints in
the official layout (random weights: the official files are not reachable here)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from numpy.typing import NDArray
from rclpy.node import Node
from rclpy.publisher import Publisher
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from std_msgs.msg import Header

from depth_ros.core.models import build_as, build_mono
from depth_ros.core.models._focal import FocalScaled
from depth_ros.core.models.base import run_mono
from depth_ros.core.models.loading import MonoNetworkModel
from nodes.helpers import NodeProcess, node_process, publish_until, send_until, stamp_ns

if TYPE_CHECKING:
    import torch
else:
    torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from core.test_depth_anything_v2 import official_state

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.eval.samples import load_sample
from depth_ros.core.messages import float_image_to_numpy
from depth_ros.core.models import ModelConfig
from depth_ros.nodes.convert import camera_info_msg, numpy_to_image
from depth_ros.tools.collector import Collector

pytestmark = pytest.mark.ros
SIZE = 70  # network input: fast on CPU


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("w") / "depth_anything_v2_vits.pth"
    torch.save(official_state("vits"), path)
    return path


Frame = tuple[NDArray[np.uint8], PinholeCamera]


@pytest.fixture(scope="module")
def frame() -> Frame:
    import cv2

    s = load_sample("motorcycle")
    rgb = np.ascontiguousarray(
        cv2.resize(s.left, (185, 125), interpolation=cv2.INTER_AREA), np.uint8
    )
    return rgb, s.left_camera.scaled(185, 125)


class Inputs:
    """The image (or its ``compressed`` transport) and camera_info publishers of ``ns``,
    subscribed by the node."""

    def __init__(self, node: Node, proc: NodeProcess, ns: str, compressed: bool = False) -> None:
        from depth_ros.nodes.qos import qos_profile

        self.node, self.proc, self.compressed = node, proc, compressed
        q = qos_profile("sensor_data", 5)
        topic = f"{ns}/image/compressed" if compressed else f"{ns}/image"
        self.image: Publisher[Any] = node.create_publisher(
            CompressedImage if compressed else Image, topic, q
        )
        self.info: Publisher[Any] = node.create_publisher(CameraInfo, f"{ns}/camera_info", q)
        proc.wait(
            node,
            lambda: (
                self.image.get_subscription_count() > 0 and self.info.get_subscription_count() > 0
            ),
            60,
            "the inputs",
        )

    def publish(
        self, rgb: NDArray[np.uint8], camera: PinholeCamera, encoding: str = "rgb8"
    ) -> Header:
        """One image (``encoding``: the claimed one) and its camera_info; their header."""
        header = Header(stamp=self.node.get_clock().now().to_msg(), frame_id="camera_optical_frame")
        if self.compressed:
            import cv2

            _, png = cv2.imencode(".png", rgb[:, :, ::-1])
            self.image.publish(CompressedImage(header=header, format="png", data=png.tobytes()))
        else:
            arr = rgb[:, :, ::-1] if encoding == "bgr8" else rgb
            msg = numpy_to_image(np.ascontiguousarray(arr), "rgb8", header)
            msg.encoding = encoding
            self.image.publish(msg)
        self.info.publish(camera_info_msg(camera, header))
        return header

    def send(
        self,
        c: Collector,
        topics: list[str],
        rgb: NDArray[np.uint8],
        camera: PinholeCamera,
        encoding: str = "rgb8",
        every: float = 2.0,
        timeout: float = 60.0,
    ) -> int:
        """:meth:`publish` (again every ``every`` s while unanswered) until every one of
        ``topics`` brings the frame; its stamp."""
        return send_until(
            self.node,
            [self.proc],
            lambda: self.publish(rgb, camera, encoding),
            lambda stamp: all(stamp in c.stamps(t) for t in topics),
            timeout,
            every,
            what=", ".join(topics),
        )


@pytest.fixture(scope="module")
def relative_node(tmp_path_factory: pytest.TempPathFactory, weights: Path) -> Iterator[NodeProcess]:
    tmp = tmp_path_factory.mktemp("rel")
    params = {"model": "depth_anything_v2_vits", "weights": str(weights), "input_size": SIZE}
    with node_process("mono_depth", tmp / "mono_depth.log", params, "/mono_rel") as proc:
        yield proc


def test_relative_model_publishes_relative_only(
    ros_node: Node, relative_node: NodeProcess, frame: Frame, weights: Path
) -> None:
    node = ros_node
    ns = "/mono_rel"
    rgb, camera = frame
    c = Collector(node, {f"{ns}/depth/relative": Image, f"{ns}/depth/color": Image})
    relative_node.wait(node, c.publishers_matched, 60, "the outputs")
    assert node.count_publishers(f"{ns}/depth") == 0  # relative: no metric depth
    inputs = Inputs(node, relative_node, ns)
    stamp = inputs.send(c, [f"{ns}/depth/relative", f"{ns}/depth/color"], rgb, camera, "bgr8")
    msg = c.message(f"{ns}/depth/relative", stamp)
    assert msg.encoding == "32FC1"
    assert (msg.height, msg.width) == rgb.shape[:2]
    model = build_as(
        "depth_anything_v2_vits", MonoNetworkModel, ModelConfig(weights=weights, input_size=SIZE)
    )
    np.testing.assert_allclose(float_image_to_numpy(msg), model.predict(rgb), rtol=1e-4, atol=1e-5)
    color = c.message(f"{ns}/depth/color", stamp)
    assert color.encoding == "rgb8"
    assert (color.height, color.width) == rgb.shape[:2]


def _logged(proc: NodeProcess, needle: str) -> bool:
    return needle in proc.text(None)


def test_bad_input_publishes_nothing(
    ros_node: Node, relative_node: NodeProcess, frame: Frame
) -> None:
    node, proc = ros_node, relative_node
    ns = "/mono_rel"
    rgb, camera = frame
    topic = f"{ns}/depth/relative"
    c = Collector(node, {topic: Image})
    proc.wait(node, c.publishers_matched, 60, "the outputs")
    inputs = Inputs(node, proc, ns)
    inputs.send(c, [topic], rgb, camera)  # the endpoints answer
    before = c.count(topic)
    bad = []
    for kw, needle in (  # each refused (logged) before the next
        ({"encoding": "yuv422"}, "unsupported image encoding 'yuv422'"),
        ({"camera": camera.scaled(92, 62)}, "camera_info is 92x62 but the image is 185x125"),
    ):
        args: dict[str, Any] = {"rgb": rgb, "camera": camera, **kw}
        bad.append(stamp_ns(inputs.publish(**args)))
        proc.wait(node, partial(_logged, proc, needle), 30, repr(needle))
    inputs.send(c, [topic], rgb, camera)  # still alive and working; nothing from the bad
    assert c.count(topic) == before + 1
    assert not set(bad) & set(c.stamps(topic))


def test_metric_model_depth_points_and_compressed(
    ros_node: Node, tmp_path: Path, frame: Frame
) -> None:
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
    with node_process("mono_depth", tmp_path / "mono_depth.log", params, ns) as proc:
        c = Collector(
            node,
            {
                f"{ns}/depth": Image,
                f"{ns}/depth/camera_info": CameraInfo,
                f"{ns}/points": PointCloud2,
            },
        )
        proc.wait(node, c.publishers_matched, 60, "the outputs")
        assert node.count_publishers(f"{ns}/depth/relative") == 0
        stamp = Inputs(node, proc, ns, compressed=True).send(c, list(c.topics), rgb, camera)
        _compressed_bomb_is_refused_before_decoding(node, proc, ns, camera)
    depth = float_image_to_numpy(c.message(f"{ns}/depth", stamp))
    info = c.message(f"{ns}/depth/camera_info", stamp)
    assert (info.width, info.height) == (depth.shape[1], depth.shape[0])
    finite = depth[np.isfinite(depth)]
    assert finite.size
    assert (finite > 0).all()
    assert (finite <= 15.0).all()
    model = build_as(
        "depth_anything_v2_metric_hypersim_vits",
        FocalScaled,
        ModelConfig(weights=path, input_size=SIZE),
    )
    expected = model.predict(rgb)  # PNG is lossless: same pixels as published
    expected[expected > 15.0] = np.nan
    np.testing.assert_allclose(depth, expected, rtol=1e-4, atol=1e-5)
    cloud = c.message(f"{ns}/points", stamp)
    assert (cloud.height, cloud.width) == depth.shape
    pts = np.frombuffer(bytes(cloud.data), np.float32).reshape(*depth.shape, 4)
    np.testing.assert_allclose(pts[:, :, 2], depth, equal_nan=True)


@pytest.mark.parametrize("case", ["corrupt_weights", "unknown_model"])
def test_unusable_model_keeps_node_up(ros_node: Node, tmp_path: Path, case: str) -> None:
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
    with node_process("mono_depth", tmp_path / "mono_depth.log", params, ns) as proc:
        proc.wait(node, partial(_logged, proc, expect), 60, repr(expect))
        # logged when configure gave up: it creates no output publisher after that
        assert node.count_publishers(f"{ns}/depth/relative") == 0
        assert "Traceback" not in proc.text(None)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("model_id", "size"),
    [
        ("midas_v21_small", 64),
        ("dpt_hybrid", 64),
        ("depth_anything_v2_metric_vkitti_vits", SIZE),
    ],
)
def test_other_families_through_the_node(
    ros_node: Node, tmp_path: Path, frame: Frame, model_id: str, size: int
) -> None:
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
    with node_process("mono_depth", tmp_path / "mono_depth.log", params, ns) as proc:
        c = Collector(node, {f"{ns}/{topic}": Image})
        proc.wait(node, c.publishers_matched, 90, "the output")
        stamp = Inputs(node, proc, ns).send(c, [f"{ns}/{topic}"], rgb, camera)
    got = float_image_to_numpy(c.message(f"{ns}/{topic}", stamp))
    mono = build_mono(model_id, ModelConfig(weights=path, input_size=size))
    expected = run_mono(mono, rgb, None).depth
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


def _compressed_bomb_is_refused_before_decoding(
    node: Node, proc: NodeProcess, ns: str, camera: PinholeCamera
) -> None:
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
    proc.wait(node, lambda: pub.get_subscription_count() > 0, 30, "the compressed input")

    def publish() -> None:
        header = Header(stamp=node.get_clock().now().to_msg(), frame_id="camera_optical_frame")
        pub.publish(CompressedImage(header=header, format="png", data=data))
        info.publish(camera_info_msg(camera.scaled(12000, 12000), header))

    # again while unanswered (lost as the endpoints matched); refused each time, logged once
    publish_until(
        node, [proc], publish, partial(_logged, proc, "max_image_pixels"), 30, what="the refusal"
    )
    line = next(x for x in proc.text(None).splitlines() if "max_image_pixels" in x)
    assert "12000x12000 = 144000000 pixels, more than max_image_pixels (50000000)" in line
    assert _peak_rss_mb(ns) - before < 100  # decoded, it would be 432 MB
