"""Property-based fuzzing of what receives data from the outside: image messages and the
stereo pipeline. Only the documented errors may escape, and what comes out is well-formed.
"""

from __future__ import annotations

import array
import math
from typing import Any

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.encodings import ENCODINGS, image_to_array
from depth_ros.core.errors import CalibrationError, DepthRosError, InputError
from depth_ros.core.models import ModelConfig, build_model
from depth_ros.core.stereo import StereoOptions, StereoPipeline

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# mostly registered encodings, sometimes unknown ones
encodings = st.sampled_from(
    ENCODINGS.names() * 3 + ["", "yuv422", "RGB8", "32FC2", "bayer_rggb8", "16uc1"]
)
# mostly the exact size, sometimes a little off either way, sometimes far off
offsets = st.one_of(st.just(0), st.just(0), st.integers(-8, 8), st.integers(-64, 64))


def _as(kind: str, raw: bytes) -> Any:
    if kind == "bytes":
        return raw
    if kind == "bytearray":
        return bytearray(raw)
    if kind == "array":  # what rclpy gives for uint8[] fields
        return array.array("B", raw)
    if kind == "memoryview":
        return memoryview(raw)
    return np.frombuffer(raw, np.uint8)


@FUZZ
@given(
    encoding=encodings,
    height=st.integers(-1, 12),
    width=st.integers(-1, 12),
    step_extra=offsets,
    length_extra=offsets,
    is_bigendian=st.sampled_from([0, 1, False, True]),
    kind=st.sampled_from(["bytes", "bytearray", "array", "memoryview", "ndarray"]),
    seed=st.integers(0, 2**16),
)
def test_image_to_array_raises_only_input_error(
    encoding: str,
    height: int,
    width: int,
    step_extra: int,
    length_extra: int,
    is_bigendian: int,
    kind: str,
    seed: int,
) -> None:
    enc = ENCODINGS.get(encoding) if encoding in ENCODINGS else None
    bpp = enc.pixel_bytes if enc else 3
    step = max(width, 0) * bpp + step_extra
    length = max(step * height + length_extra, 0)
    raw = np.random.default_rng(seed).integers(0, 256, length, dtype=np.uint8).tobytes()
    try:
        out = image_to_array(encoding, height, width, step, _as(kind, raw), is_bigendian)
    except InputError as e:
        event(f"InputError: {str(e).split(' ')[0]}")
        return
    event("decoded")
    assert enc is not None
    assert height > 0
    assert width > 0
    assert step >= width * bpp
    want_shape = (height, width) if enc.channels == 1 else (height, width, enc.channels)
    assert out.shape == want_shape
    assert out.dtype == enc.dtype
    assert out.dtype.isnative or out.dtype.itemsize == 1
    # the first and the last pixel, decoded by hand from the wire bytes
    wire = enc.dtype.newbyteorder(">" if is_bigendian else "<")
    first = np.frombuffer(raw[:bpp], wire)
    last_at = step * (height - 1) + (width - 1) * bpp
    last = np.frombuffer(raw[last_at : last_at + bpp], wire)
    flat = out.reshape(height, width, -1)
    np.testing.assert_array_equal(flat[0, 0], first)
    np.testing.assert_array_equal(flat[-1, -1], last)


# --- the stereo pipeline ----------------------------------------------------------------

BAD_FOCALS = [0.0, -50.0, math.nan, math.inf, 1e-9]
BAD_BASELINES = [0.0, -0.1, math.nan, -0.0, 1e-12, 1e6]


@st.composite
def stereo_cases(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly well-formed inputs, with at most one fault each, so that both the error paths
    and the outputs are exercised."""
    fault = draw(st.sampled_from(["none"] * 4 + ["fx", "baseline", "info_size", "right_size"]))
    # tiny images (too small for some matchers) and larger ones
    h = draw(st.one_of(st.integers(1, 8), st.integers(15, 40)))
    w = draw(st.one_of(st.integers(1, 8), st.integers(17, 72)))
    fx = draw(st.sampled_from(BAD_FOCALS) if fault == "fx" else st.floats(1.0, 200.0))
    baseline = draw(st.sampled_from(BAD_BASELINES) if fault == "baseline" else st.floats(0.01, 0.5))
    cx = draw(st.floats(-5.0, 50.0))
    doffs = draw(st.floats(-10.0, 10.0))
    cw, ch = w, h
    if fault == "info_size":  # camera_info of another size than the images
        cw, ch = draw(st.sampled_from([(w + 1, h), (2 * w, 2 * h), (w, max(h - 1, 0))]))
    left_cam = PinholeCamera.from_intrinsics(cw, ch, fx, fx, cx, h / 2)
    right_cam = PinholeCamera.from_intrinsics(cw, ch, fx, fx, cx + doffs, h / 2, -fx * baseline)
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    left = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    shift = draw(st.integers(0, 12))
    right = (
        np.roll(left, -shift, axis=1)
        if draw(st.integers(0, 3))
        else rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    )
    if fault == "right_size":
        right = right[:, : max(w - 1, 1)] if w > 1 else right[: max(h - 1, 1), :]
    model = draw(st.sampled_from(["sgbm", "bm"]))
    params = {
        "pad_border": draw(st.booleans()),
        "disparity_range": draw(st.sampled_from([16, 32, 64])),
        "min_disparity": draw(st.sampled_from([0, 0, 3, -4])),
    }
    options = StereoOptions(
        min_depth=draw(st.sampled_from([0.0, 0.0, 0.5])),
        max_depth=draw(st.sampled_from([math.inf, math.inf, 20.0])),
        points=draw(st.sampled_from(["none", "xyz", "xyzrgb"])),
        decimation=draw(st.integers(1, 3)),
    )
    return dict(
        left=left,
        right=right,
        left_cam=left_cam,
        right_cam=right_cam,
        model=model,
        params=params,
        options=options,
    )


_MODELS: dict[tuple[str, tuple[tuple[str, Any], ...]], Any] = {}


def _model(model_id: str, params: dict[str, Any]) -> Any:
    key = (model_id, tuple(sorted(params.items())))
    if key not in _MODELS:
        _MODELS[key] = build_model(model_id, ModelConfig(params=params))
    return _MODELS[key]


@FUZZ
@given(case=stereo_cases())
def test_stereo_pipeline_raises_only_documented_errors(case: dict[str, Any]) -> None:
    pipe = StereoPipeline(_model(case["model"], case["params"]), case["options"])
    try:
        result = pipe.process(case["left"], case["right"], case["left_cam"], case["right_cam"])
    except (InputError, CalibrationError) as e:  # CalibrationError is an InputError
        error: DepthRosError = e
        event(f"{type(error).__name__}")
        return
    event(f"processed, valid depth {np.isfinite(result.depth).mean():.1f}")
    h, w = case["left"].shape[:2]
    depth = result.depth
    assert depth.shape == (h, w)
    assert depth.dtype == np.float32
    assert result.disparity.shape == (h, w)
    finite = np.isfinite(depth)
    assert (np.isnan(depth) | (finite & (depth > 0))).all()  # NaN or positive, never inf
    opts = case["options"]
    assert (depth[finite] >= opts.min_depth).all()
    assert (depth[finite] <= opts.max_depth).all()
    geo = result.geometry
    assert geo.baseline > 0
    assert geo.fx > 0
    if opts.points == "none":
        assert result.cloud is None
        return
    cloud = result.cloud
    assert cloud is not None
    d = opts.decimation
    assert (cloud.height, cloud.width) == depth[::d, ::d].shape
    assert cloud.point_step == (16 if opts.points == "xyzrgb" else 12)
    assert cloud.row_step == cloud.point_step * cloud.width
    assert len(cloud.data) == cloud.row_step * cloud.height
    z = cloud.as_array()[:, :, 2]
    kept = depth[::d, ::d]
    np.testing.assert_array_equal(np.isnan(z), np.isnan(kept))
    np.testing.assert_array_equal(z[np.isfinite(z)], kept[np.isfinite(kept)])
    assert cloud.is_dense == bool(np.isfinite(kept).all())
