"""``depth-ros bag run`` end to end: sample bag → stereo_depth over DDS → output bag, whose
disparity equals the core run on the same frames and whose stamps are the input stamps."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import as_camera_info, as_disparity, as_image, as_stamped

from depth_ros.core import bags, messages, profiles
from depth_ros.core.camera import PinholeCamera
from depth_ros.core.models import ModelConfig, build_as, get_model
from depth_ros.core.models.opencv_stereo import OpenCVStereo
from depth_ros.core.stereo import StereoPipeline

pytestmark = pytest.mark.ros

STEREO_OUTPUTS = {
    "/disparity": bags.DISPARITY_IMAGE,
    "/depth": bags.IMAGE,
    "/depth/camera_info": bags.CAMERA_INFO,
    "/points": bags.POINT_CLOUD2,
}


def _cli(*args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "depth_ros.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def sample_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bag = tmp_path_factory.mktemp("bag_run") / "in_bag"
    made = _cli(
        "bag", "make", "--sample", "motorcycle", "--frames", "3", "--output", str(bag), "--quiet"
    )
    assert made.returncode == 0, made.stderr
    return bag


def _frames(bag: Path) -> dict[int, dict[str, object]]:
    frames: dict[int, dict[str, object]] = {}
    for topic, _, msg in bags.read_messages(bag):
        frames.setdefault(messages.stamp_to_ns(as_stamped(msg)), {})[topic] = msg
    return frames


def test_bag_run_stereo_matches_direct_run(sample_bag: Path, tmp_path: Path) -> None:
    out = tmp_path / "out_bag"
    run = _cli(
        "bag",
        "run",
        str(sample_bag),
        "--node",
        "stereo_depth",
        "--model",
        "sgbm",
        "--output",
        str(out),
        "--rate",
        "0",
    )
    assert run.returncode == 0, run.stderr
    assert "3 frames in, 3 out" in run.stderr

    inputs = _frames(sample_bag)
    assert len(inputs) == 3
    info = bags.bag_info(out)
    assert {t: (i.msgtype, i.count) for t, i in info.topics.items()} == {
        t: (m, 3) for t, m in STEREO_OUTPUTS.items()
    }
    # every output header is an input stamp, each input stamp got every output once, and
    # the bag timestamps are the header stamps (sim time)
    outputs: dict[str, dict[int, object]] = {t: {} for t in STEREO_OUTPUTS}
    for topic, timestamp, msg in bags.read_messages(out):
        stamp = messages.stamp_to_ns(as_stamped(msg))
        assert stamp in inputs, f"{topic} stamp {stamp} is no input stamp"
        assert timestamp == stamp
        assert stamp not in outputs[topic], f"{topic} stamp {stamp} twice"
        outputs[topic][stamp] = msg
    assert all(set(v) == set(inputs) for v in outputs.values())

    # the disparity equals the direct core run on the same frames, with the profile's
    # matcher settings (what --model sgbm loaded)
    profile = profiles.load_profile("sgbm").params
    own = {s.name for s in get_model("sgbm").params}
    model = build_as(
        "sgbm", OpenCVStereo, ModelConfig(params={k: v for k, v in profile.items() if k in own})
    )
    pipeline = StereoPipeline(model)
    for stamp, frame in inputs.items():
        left = messages.rgb_from_msg(as_image(frame["/left/image_rect"]))
        right = messages.rgb_from_msg(as_image(frame["/right/image_rect"]))
        lcam = PinholeCamera.from_msg(as_camera_info(frame["/left/camera_info"]))
        rcam = PinholeCamera.from_msg(as_camera_info(frame["/right/camera_info"]))
        direct = pipeline.process(left, right, lcam, rcam, cloud=False)
        msg = as_disparity(outputs["/disparity"][stamp])
        got = messages.disparity_from_msg(msg, direct.geometry.doffs)
        np.testing.assert_array_equal(np.isnan(got), np.isnan(direct.disparity))
        np.testing.assert_allclose(got, direct.disparity, rtol=0, atol=1e-4, equal_nan=True)
        depth = messages.float_image_to_numpy(as_image(outputs["/depth"][stamp]))
        np.testing.assert_allclose(depth, direct.depth, rtol=1e-6, equal_nan=True)
        assert msg.header.frame_id == lcam.frame_id


def test_bag_run_without_the_node_inputs(tmp_path: Path) -> None:
    bag = tmp_path / "mono_bag"
    with bags.BagWriter(bag) as writer:
        writer.write_image("/cam/image", 1_000_000_000, np.zeros((4, 6, 3), np.uint8), "cam")
    run = _cli(
        "bag",
        "run",
        str(bag),
        "--node",
        "stereo_depth",
        "--output",
        str(tmp_path / "out"),
        timeout=60,
    )
    assert run.returncode == 2
    assert "has no left/image_rect, left/camera_info, right/image_rect, right/camera_info" in (
        run.stderr
    )
    assert "it has: /cam/image" in run.stderr
    assert not (tmp_path / "out").exists()


def test_bag_run_rejects_bad_parameters_before_starting(sample_bag: Path, tmp_path: Path) -> None:
    run = _cli(
        "bag",
        "run",
        str(sample_bag),
        "-p",
        "disparity_range:=20",
        "--output",
        str(tmp_path / "out"),
        timeout=60,
    )
    assert run.returncode == 2
    assert "disparity_range must be 16 + a multiple of 16, got 20" in run.stderr
    params = tmp_path / "p.yaml"
    params.write_text("/**:\n  ros__parameters:\n    no_such: 1\n")
    run = _cli(
        "bag",
        "run",
        str(sample_bag),
        "--params",
        str(params),
        "--output",
        str(tmp_path / "out"),
        timeout=60,
    )
    assert run.returncode == 2
    assert "unknown parameter 'no_such'" in run.stderr
