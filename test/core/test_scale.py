"""Metric scale sources: synthetic scenes with known answers, real RGB-D frames, failures."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.errors import CalibrationError, ConfigError, InputError
from depth_ros.core.eval.metrics import depth_metrics
from depth_ros.core.params import ParamSpec
from depth_ros.core.scale import (
    DEGENERATE_FIT,
    NO_REFERENCE,
    STALE_REFERENCE,
    TOO_FEW_POINTS,
    ScaleContext,
    ScaleFit,
    apply,
    build_scale_source,
    gravity_from_pitch_roll,
    scale_source_names,
    scale_source_params,
)

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
RGBD = SHARED / "data" / "open3d_rgbd_samples" / "TestData" / "RGBD"
KINECT = PinholeCamera.from_intrinsics(640, 480, 525.0, 525.0, 319.5, 239.5)


def fake_relative(
    depth: np.ndarray, scale: float, shift: float, noise: float, seed: int = 0
) -> np.ndarray:
    """A relative prediction: metric inverse depth = scale * rel + shift, plus noise."""
    rng = np.random.default_rng(seed)
    inv = 1.0 / depth
    rel = (inv - shift) / scale
    rel = rel * (1.0 + noise * rng.standard_normal(depth.shape))
    return rel.astype(np.float32)


def sparse_sample(depth: np.ndarray, fraction: float, noise: float, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    keep = (rng.random(depth.shape) < fraction) & np.isfinite(depth)
    out = np.full(depth.shape, np.nan, dtype=np.float32)
    out[keep] = depth[keep] * (1.0 + noise * rng.standard_normal(int(keep.sum())))
    return out


def _tum_depth() -> np.ndarray:
    import cv2

    path = RGBD / "other_formats" / "TUM_depth.png"
    if not path.exists():
        pytest.skip(f"shared data not found: {path}")
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw is not None
    depth = raw.astype(np.float32) / 5000.0
    depth[raw == 0] = np.nan
    return depth


# registry and interface ---------------------------------------------------------------


def test_registry_lists_sources_with_param_specs() -> None:
    assert {"fixed", "ground_plane", "sparse_depth", "stereo"} <= set(scale_source_names())
    for name in scale_source_names():
        specs = scale_source_params(name)
        assert all(isinstance(s, ParamSpec) for s in specs)
        for s in specs:
            assert s.validate(s.default) is None, (name, s.name)
    with pytest.raises(ConfigError, match="unknown scale source 'nope'"):
        build_scale_source("nope")
    with pytest.raises(ConfigError, match="min_points"):
        build_scale_source("sparse_depth", {"min_points": 0})


def test_fixed_and_apply_by_hand() -> None:
    src = build_scale_source("fixed", {"scale": 2.0, "shift": 0.5})
    rel = np.array([[0.25, 1.0], [-0.25, np.nan]], dtype=np.float32)
    fit = src.fit(rel, ScaleContext())
    assert fit.ok
    assert fit.source == "fixed"
    depth = apply(rel, fit)
    # 1 / (2 * 0.25 + 0.5) = 1, 1 / 2.5 = 0.4, 2*-0.25+0.5 = 0 -> NaN
    np.testing.assert_allclose(depth, [[1.0, 0.4], [np.nan, np.nan]], equal_nan=True)
    np.testing.assert_allclose(apply(rel, fit, max_depth=0.5), [[np.nan, 0.4], [np.nan] * 2])
    assert np.isnan(apply(rel, ScaleFit.failed(NO_REFERENCE, "x"))).all()
    with pytest.raises(InputError, match="2-D"):
        src.fit(np.zeros(3, dtype=np.float32), ScaleContext())


# sparse_depth ----------------------------------------------------------------------------


def _scene(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:120, 0:160]
    depth = 1.0 + 4.0 * (x / 160.0) + 0.5 * np.sin(y / 9.0) + 0.05 * rng.random((120, 160))
    return np.asarray(depth, np.float32)


def test_sparse_depth_recovers_affine_map_despite_outliers() -> None:
    gt = _scene()
    rel = fake_relative(gt, scale=3.0, shift=0.2, noise=0.0)
    ref = sparse_sample(gt, 0.05, 0.01)
    rng = np.random.default_rng(5)
    idx = np.flatnonzero(np.isfinite(ref))
    bad = rng.choice(idx, idx.size // 4, replace=False)
    ref.reshape(-1)[bad] = rng.uniform(0.3, 20.0, bad.size)  # 25 % gross outliers
    fit = build_scale_source("sparse_depth").fit(rel, ScaleContext(reference=ref, stamp=1.0))
    assert fit.ok, fit.reason
    assert fit.scale == pytest.approx(3.0, rel=0.02)
    assert fit.shift == pytest.approx(0.2, abs=0.01)
    assert fit.inliers >= 0.7 * fit.points
    assert fit.residual < 0.02
    m = depth_metrics(apply(rel, fit), gt)
    assert m["abs_rel"] < 0.01
    # plain least squares on the same points is pulled away by the outliers
    from depth_ros.core.align import align_lstsq_inverse

    plain, _ = align_lstsq_inverse(rel, ref)
    assert depth_metrics(plain, gt)["abs_rel"] > 3 * m["abs_rel"]


def test_sparse_depth_scale_only() -> None:
    gt = _scene()
    rel = fake_relative(gt, scale=0.5, shift=0.0, noise=0.0)
    src = build_scale_source("sparse_depth", {"fit_shift": False})
    fit = src.fit(rel, ScaleContext(reference=sparse_sample(gt, 0.02, 0.0)))
    assert fit.ok
    assert fit.shift == 0.0
    assert fit.scale == pytest.approx(0.5, rel=1e-4)


def test_sparse_depth_failures() -> None:
    gt = _scene()
    rel = fake_relative(gt, 3.0, 0.2, 0.0)
    src = build_scale_source("sparse_depth", {"hold_time": 0.0})
    fit = src.fit(rel, ScaleContext())
    assert not fit.ok
    assert fit.code == NO_REFERENCE
    few = sparse_sample(gt, 0.001, 0.0)  # ~19 points < 50
    fit = src.fit(rel, ScaleContext(reference=few))
    assert fit.code == TOO_FEW_POINTS
    assert "need >= 50" in fit.reason
    flat = np.full_like(gt, np.nan)
    flat[::4, ::4] = 2.0  # every reference point at the same depth
    fit = src.fit(rel, ScaleContext(reference=flat))
    assert fit.code == DEGENERATE_FIT
    assert "same depth" in fit.reason
    const = np.full_like(rel, 0.3)
    fit = src.fit(const, ScaleContext(reference=sparse_sample(gt, 0.05, 0.0)))
    assert fit.code == DEGENERATE_FIT
    fit = src.fit(rel, ScaleContext(reference=gt, stamp=10.0, reference_stamp=9.0))
    assert fit.code == STALE_REFERENCE
    assert "max_reference_age" in fit.reason
    with pytest.raises(InputError, match="same size"):
        src.fit(rel, ScaleContext(reference=gt[:, :10]))


def test_hold_last_good_fit_then_expire() -> None:
    gt = _scene()
    rel = fake_relative(gt, 3.0, 0.2, 0.0)
    src = build_scale_source("sparse_depth", {"hold_time": 1.0, "smoothing": 0.0})
    good = src.fit(rel, ScaleContext(reference=sparse_sample(gt, 0.05, 0.0), stamp=5.0))
    assert good.ok
    assert not good.held
    held = src.fit(rel, ScaleContext(stamp=5.6))
    assert held.ok
    assert held.held
    assert held.scale == good.scale
    assert held.age == pytest.approx(0.6)
    assert held.code == NO_REFERENCE
    assert "holding" in held.reason
    gone = src.fit(rel, ScaleContext(stamp=6.5))
    assert not gone.ok
    assert gone.code == NO_REFERENCE
    assert "hold_time" in gone.reason
    # time jumping back (bag loop) forgets the old fit
    back = src.fit(rel, ScaleContext(stamp=1.0))
    assert not back.ok
    assert src.last_good is None


def test_exponential_smoothing_of_parameters() -> None:
    gt = _scene()
    ref = sparse_sample(gt, 0.05, 0.0)
    src = build_scale_source("sparse_depth", {"smoothing": 0.75, "fit_shift": False})
    first = src.fit(fake_relative(gt, 2.0, 0.0, 0.0), ScaleContext(reference=ref, stamp=0.0))
    second = src.fit(fake_relative(gt, 4.0, 0.0, 0.0), ScaleContext(reference=ref, stamp=0.1))
    assert first.scale == pytest.approx(2.0, rel=1e-4)
    assert second.scale == pytest.approx(0.75 * 2.0 + 0.25 * 4.0, rel=1e-4)


def test_sparse_depth_on_real_tum_frame() -> None:
    gt = _tum_depth()
    rel = fake_relative(gt, scale=0.8, shift=-0.05, noise=0.02, seed=2)
    ref = sparse_sample(gt, 0.01, 0.02)  # simulated LiDAR: 1 % of pixels, 2 % noise
    fit = build_scale_source("sparse_depth").fit(rel, ScaleContext(reference=ref))
    assert fit.ok, fit.reason
    m = depth_metrics(apply(rel, fit), gt)
    assert m["abs_rel"] < 0.03
    assert m["delta1"] > 0.99
    assert fit.scale == pytest.approx(0.8, rel=0.05)


# stereo --------------------------------------------------------------------------------


def test_stereo_source_on_motorcycle_ground_truth_disparity() -> None:
    from depth_ros.core.eval.samples import motorcycle

    s = motorcycle()
    gt = s.depth
    rel = fake_relative(gt, scale=0.05, shift=0.1, noise=0.01)
    fit = build_scale_source("stereo").fit(
        rel, ScaleContext(disparity=s.disparity, stereo=s.geometry)
    )
    assert fit.ok, fit.reason
    assert fit.scale == pytest.approx(0.05, rel=0.03)
    assert depth_metrics(apply(rel, fit), gt)["abs_rel"] < 0.02
    with pytest.raises(CalibrationError, match="stereo geometry"):
        build_scale_source("stereo").fit(rel, ScaleContext(disparity=s.disparity))
    fit = build_scale_source("stereo").fit(rel, ScaleContext())
    assert fit.code == NO_REFERENCE


# ground_plane --------------------------------------------------------------------------


def _floor_scene(height: float, pitch: float) -> tuple[np.ndarray, PinholeCamera]:
    """Floor at ``height`` below a camera pitched down by ``pitch``, a wall 6 m ahead,
    and a box standing on the floor in the lower middle of the image."""
    cam = PinholeCamera.from_intrinsics(160, 120, 120.0, 120.0, 79.5, 59.5)
    v, u = np.mgrid[0:120, 0:160].astype(np.float64)
    ray = np.stack([(u - 79.5) / 120.0, (v - 59.5) / 120.0, np.ones_like(u)], axis=-1)
    g = np.array(gravity_from_pitch_roll(pitch))
    gd = ray @ g
    floor = np.where(gd > 1e-6, height / np.where(gd > 1e-6, gd, 1.0), np.inf)
    # wall: horizontal distance 6 m; forward (level) axis in camera frame
    fwd = np.array([0.0, -math.sin(pitch), math.cos(pitch)])
    fd = ray @ fwd
    wall = np.where(fd > 0, 6.0 / fd, np.inf)
    depth = np.minimum(floor, wall)
    box = (u > 60) & (u < 100) & (v > 85) & (v < 110)
    depth[box] = np.minimum(depth[box], 0.8 * depth[box].min())
    return depth.astype(np.float32), cam


def test_ground_plane_with_gravity_fits_scale_and_shift() -> None:
    gt, cam = _floor_scene(1.3, 0.25)
    rel = fake_relative(gt, scale=0.2, shift=0.05, noise=0.003)
    src = build_scale_source("ground_plane")
    ctx = ScaleContext(camera=cam, camera_height=1.3, gravity=gravity_from_pitch_roll(0.25))
    fit = src.fit(rel, ctx)
    assert fit.ok, fit.reason
    assert fit.scale == pytest.approx(0.2, rel=0.03)
    assert fit.shift == pytest.approx(0.05, abs=0.01)
    assert fit.inliers < fit.points  # the box is rejected
    assert depth_metrics(apply(rel, fit), gt)["abs_rel"] < 0.02
    # the same through the pitch parameter instead of the context
    src = build_scale_source(
        "ground_plane", {"use_pitch_roll": True, "pitch": 0.25, "camera_height": 1.3}
    )
    fit2 = src.fit(rel, ScaleContext(camera=cam))
    assert fit2.scale == pytest.approx(fit.scale, rel=1e-3)


def test_ground_plane_without_gravity_assumes_zero_shift() -> None:
    gt, cam = _floor_scene(1.1, 0.15)
    rel = fake_relative(gt, scale=0.3, shift=0.0, noise=0.003)
    fit = build_scale_source("ground_plane").fit(rel, ScaleContext(camera=cam, camera_height=1.1))
    assert fit.ok, fit.reason
    assert fit.shift == 0.0
    assert fit.scale == pytest.approx(0.3, rel=0.03)
    # camera at twice the height: scale halves (same picture, twice as large a world)
    fit2 = build_scale_source("ground_plane").fit(rel, ScaleContext(camera=cam, camera_height=2.2))
    assert fit2.scale == pytest.approx(fit.scale / 2.0, rel=1e-6)


def test_ground_plane_failures() -> None:
    gt, cam = _floor_scene(1.3, 0.25)
    rel = fake_relative(gt, 0.2, 0.0, 0.0)
    src = build_scale_source("ground_plane", {"hold_time": 0.0})
    assert src.fit(rel, ScaleContext(camera=cam)).code == NO_REFERENCE
    assert src.fit(rel, ScaleContext(camera_height=1.0)).code == NO_REFERENCE
    # a wall filling the image: no floor in the lower region
    wall = np.full_like(gt, 3.0)
    wall_rel = fake_relative(wall, 0.2, 0.0, 0.001)
    fit = src.fit(wall_rel, ScaleContext(camera=cam, camera_height=1.0))
    assert not fit.ok
    assert fit.code == DEGENERATE_FIT
    fit = src.fit(wall_rel, ScaleContext(camera=cam, camera_height=1.0, gravity=(0.0, 1.0, 0.0)))
    assert not fit.ok
    assert fit.code == DEGENERATE_FIT
    nan_rel = np.full_like(rel, np.nan)
    fit = src.fit(nan_rel, ScaleContext(camera=cam, camera_height=1.0))
    assert fit.code == TOO_FEW_POINTS


def test_ground_plane_on_real_redwood_frame() -> None:
    """Camera height and "down" measured from the frame's own floor (ground truth), then
    the source must scale a fake relative prediction to that floor."""
    import cv2

    path = RGBD / "depth" / "00000.png"
    if not path.exists():
        pytest.skip(f"shared data not found: {path}")
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert raw is not None
    gt = raw.astype(np.float32) / 1000.0
    gt[raw == 0] = np.nan
    from depth_ros.core.geometry import unproject

    pts = unproject(gt, KINECT)[400:, :, :].reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
    # floor from ground truth: least squares plane n.X = h on the bottom rows
    centroid = pts.mean(axis=0)
    normal = np.linalg.svd(pts - centroid, full_matrices=False)[2][2]
    normal *= np.sign(normal[1])
    height = float(normal @ centroid)
    assert 0.3 < height < 2.5
    rel = fake_relative(gt, scale=0.4, shift=0.1, noise=0.01)
    fit = build_scale_source("ground_plane").fit(
        rel, ScaleContext(camera=KINECT, camera_height=height, gravity=tuple(normal))
    )
    assert fit.ok, fit.reason
    m = depth_metrics(apply(rel, fit), gt)
    assert m["abs_rel"] < 0.05
    assert fit.scale == pytest.approx(0.4, rel=0.05)
