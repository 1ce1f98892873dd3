"""valid_roi: the valid region of an image (camera_info's ROI or an explicit rectangle),
and the stereo and mono pipelines giving no depth outside it."""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.errors import CalibrationError, ConfigError, InputError
from depth_ros.core.eval.samples import load_sample
from depth_ros.core.messages import encode_disparity
from depth_ros.core.models import ModelConfig, OutputKind, build_as
from depth_ros.core.models.opencv_stereo import OpenCVStereo
from depth_ros.core.mono_pipeline import MonoPipeline
from depth_ros.core.region import Region, camera_and_region, parse_valid_roi, roi_of_info
from depth_ros.core.schema import VALID_ROI, mono_node_params, stereo_node_params
from depth_ros.core.stereo import StereoPipeline


def _info(
    roi: tuple[int, int, int, int] = (0, 0, 0, 0), binning: int = 0, width: int = 640
) -> SimpleNamespace:
    fx, cx, cy = 600.0, 320.0, 240.0
    return SimpleNamespace(
        width=width,
        height=480,
        k=[fx, 0, cx, 0, fx, cy, 0, 0, 1],
        p=[fx, 0, cx, -fx * 0.1, 0, fx, cy, 0, 0, 0, 1, 0],
        d=[0.0] * 5,
        r=[1.0, 0, 0, 0, 1, 0, 0, 0, 1],
        distortion_model="plumb_bob",
        header=SimpleNamespace(frame_id="cam"),
        binning_x=binning,
        binning_y=binning,
        roi=SimpleNamespace(x_offset=roi[0], y_offset=roi[1], width=roi[2], height=roi[3]),
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("auto", "auto"),
        (" none ", "none"),
        ("10,20,30,40", Region(10, 20, 30, 40)),
        ("0, 0, 5, 6", Region(0, 0, 5, 6)),
    ],
)
def test_parse_valid_roi(text: str, expected: object) -> None:
    assert parse_valid_roi(text) == expected
    assert VALID_ROI.validate(text) is None


@pytest.mark.parametrize(
    "text", ["", "full", "1,2,3", "1,2,0,4", "1,2,3,0", "-1,2,3,4", "1.5,2,3,4"]
)
def test_bad_valid_roi_is_refused_with_the_format(text: str) -> None:
    with pytest.raises(ConfigError, match="x,y,width,height"):
        parse_valid_roi(text)
    reason = VALID_ROI.validate(text)
    assert reason is not None
    assert "auto | none | x,y,width,height" in reason


def test_nodes_declare_valid_roi_with_its_format() -> None:
    for specs in (stereo_node_params(), mono_node_params()):
        spec = specs["valid_roi"]
        assert spec.default == "auto"
        assert not spec.read_only
        assert "format auto | none | x,y,width,height" in spec.describe()


def test_region_intersection_and_blanking() -> None:
    r = Region(2, 1, 4, 3)
    assert r.intersect(Region(0, 0, 4, 10)) == Region(2, 1, 2, 3)
    assert r.intersect(Region(10, 10, 2, 2)).empty
    assert r.columns(3, 100) == Region(3, 1, 3, 3)
    assert Region.full(8, 6).is_whole(8, 6)
    a = np.arange(48, dtype=np.float32).reshape(6, 8)
    b = np.arange(48 * 3, dtype=np.float32).reshape(6, 8, 3)
    expected_a, expected_b = a.copy(), b.copy()
    inside = np.zeros((6, 8), bool)
    inside[1:4, 2:6] = True
    expected_a[~inside] = np.nan
    expected_b[~inside] = -1.0
    r.blank_outside(a, np.nan)
    r.blank_outside(b, -1.0)
    np.testing.assert_array_equal(a, expected_a)
    np.testing.assert_array_equal(b, expected_b)
    Region(0, 0, 0, 0).blank_outside(a, 0.0)
    assert not a.any()


def test_camera_info_roi_is_a_crop_or_a_valid_region() -> None:
    # the image has the ROI's size: a crop (REP 104), as before: principal point moved
    crop_info = _info(roi=(100, 50, 320, 240))
    cam, region = camera_and_region(crop_info, 320, 240)
    assert region is None
    assert cam == PinholeCamera.from_msg(crop_info)
    assert (cam.cx, cam.width) == (220.0, 320)
    # the image has the full size: the ROI marks its valid region, K and P unchanged
    cam, region = camera_and_region(_info(roi=(100, 50, 320, 240)), 640, 480)
    assert region == Region(100, 50, 320, 240)
    assert (cam.cx, cam.cy, cam.width, cam.height) == (320.0, 240.0, 640, 480)
    cam.validate(640, 480)
    # binning 2: the whole binned pixels inside the ROI
    cam, region = camera_and_region(_info(roi=(101, 51, 320, 240), binning=2), 320, 240)
    assert region == Region(51, 26, 159, 119)
    assert (cam.cx, cam.width) == (160.0, 320)
    # an empty ROI, or the whole image: no region
    assert camera_and_region(_info(), 640, 480)[1] is None
    assert camera_and_region(_info(roi=(0, 0, 640, 480)), 640, 480)[1] is None
    assert roi_of_info(_info(roi=(0, 0, 640, 480))) is None


def test_none_explicit_and_raw() -> None:
    info = _info(roi=(100, 50, 320, 240))
    # none: the ROI is a crop, so a full-size image does not fit its camera_info
    cam, region = camera_and_region(info, 640, 480, "none")
    assert region is None
    with pytest.raises(CalibrationError, match="camera_info is 320x240 but the image is 640x480"):
        cam.validate(640, 480)
    # explicit rectangle: in pixels of the delivered image
    cam, region = camera_and_region(_info(), 640, 480, "10,20,600,400")
    assert region == Region(10, 20, 600, 400)
    assert camera_and_region(_info(), 640, 480, "0,0,640,480")[1] is None
    with pytest.raises(InputError, match="does not lie inside the 640x480 image"):
        camera_and_region(_info(), 640, 480, "100,0,600,480")
    # raw (rectify:=true): camera_info's ROI is one of the raw image: no region from it
    assert camera_and_region(info, 320, 240, raw=True)[1] is None


def test_stereo_outside_the_region_no_disparity_depth_or_points() -> None:
    s = load_sample("motorcycle")
    pipe = StereoPipeline(build_as("sgbm", OpenCVStereo))
    whole = pipe.process(s.left, s.right, s.left_camera, s.right_camera, confidence=True)
    region = Region(60, 40, 500, 300)
    result = pipe.process(
        s.left, s.right, s.left_camera, s.right_camera, confidence=True, valid_region=region
    )
    assert result.region == region
    inside = np.zeros(s.left.shape[:2], bool)
    inside[40:340, 60:560] = True
    assert np.isnan(result.disparity[~inside]).all()
    assert np.isnan(result.depth[~inside]).all()
    assert result.confidence is not None
    assert whole.confidence is not None
    assert (result.confidence[~inside] == 0).all()
    # inside, the same as without a region (the matcher saw the whole image)
    np.testing.assert_array_equal(result.disparity[inside], whole.disparity[inside])
    np.testing.assert_array_equal(result.depth[inside], whole.depth[inside])
    np.testing.assert_array_equal(result.confidence[inside], whole.confidence[inside])
    assert result.cloud is not None
    z = result.cloud.as_array()[:, :, 2]
    assert np.isnan(z[~inside]).all()
    assert np.isfinite(z[inside]).mean() > 0.8
    enc = encode_disparity(result.disparity, result.geometry, 0.0, 63.0, region=result.region)
    x, y, w, h = enc.valid_window
    assert (x, y) >= (60, 40)
    assert x + w <= 560
    assert y + h <= 340


def test_stereo_region_within_the_matched_columns() -> None:
    """Without pad_border SGBM matches no column left of min_disparity + range: the
    region (and so valid_window) starts there."""
    s = load_sample("motorcycle")
    model = build_as("sgbm", OpenCVStereo, ModelConfig(params={"pad_border": False}))
    pipe = StereoPipeline(model)
    width, height = s.left.shape[1], s.left.shape[0]
    assert pipe.region(width, height) == Region(64, 0, width - 64, height)
    assert pipe.region(width, height, Region(10, 5, 100, 50)) == Region(64, 5, 46, 50)
    assert StereoPipeline(build_as("sgbm", OpenCVStereo)).region(width, height) is None  # padded
    result = pipe.process(s.left, s.right, s.left_camera, s.right_camera)
    enc = encode_disparity(result.disparity, result.geometry, 0.0, 63.0, region=result.region)
    assert enc.valid_window[0] == 64
    assert np.isnan(result.disparity[:, :64]).all()


class _Metric:
    """A stand-in metric network with confidence and normals everywhere."""

    def infer(self, rgb: np.ndarray, camera: PinholeCamera | None) -> Any:
        from depth_ros.core.models.base import MonoOutput

        h, w = rgb.shape[:2]
        normals = np.zeros((h, w, 3), np.float32)
        normals[..., 2] = -1.0
        return MonoOutput(np.full((h, w), 2.0, np.float32), np.ones((h, w), np.float32), normals)

    def update(self, params: Mapping[str, Any]) -> None:
        pass


def test_mono_outside_the_region_no_depth() -> None:
    camera = PinholeCamera.from_intrinsics(40, 30, 50.0, 50.0, 20.0, 15.0)
    rgb = np.zeros((30, 40, 3), np.uint8)
    region = Region(5, 4, 20, 10)
    pipe = MonoPipeline(_Metric(), OutputKind.METRIC)
    result = pipe.process(rgb, camera, valid_region=region)
    inside = np.zeros((30, 40), bool)
    inside[4:14, 5:25] = True
    assert result.depth is not None
    assert result.confidence is not None
    assert result.normals is not None
    assert result.cloud is not None
    assert np.isnan(result.depth[~inside]).all()
    assert (result.depth[inside] == 2.0).all()
    assert (result.confidence[~inside] == 0).all()
    assert (result.confidence[inside] == 1).all()
    assert np.isnan(result.normals[~inside]).all()
    z = result.cloud.as_array()[:, :, 2]
    np.testing.assert_array_equal(np.isfinite(z), inside)
    plain = pipe.process(rgb, camera)
    assert plain.depth is not None
    assert np.isfinite(plain.depth).all()
