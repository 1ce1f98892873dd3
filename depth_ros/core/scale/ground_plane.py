"""``ground_plane``: metric scale from the camera's height above a flat floor.

Geometry. A floor point X = z * ray, ray = ((u - cx)/fx, (v - cy)/fy, 1), satisfies
g · X = h, with g the unit "down" vector in the camera optical frame and h the camera
height. Hence its metric inverse depth is linear in the ray::

    1/z = (g · ray) / h                                                     (1)

and, with the prediction's affine map 1/z = s * rel + b, on floor pixels::

    s * rel + b = (g · ray) / h                                             (2)

* Gravity known (``ScaleContext.gravity``, e.g. from TF, or the ``pitch``/``roll``
  parameters): (2) is a line in (rel, (g·ray)/h); over the lower image region the floor
  pixels agree with one line and everything standing on the floor (nearer than the floor
  would be) is an outlier, so the robust affine fit of
  :func:`~depth_ros.core.scale.robust.robust_affine_fit` gives s and b directly (b = 0 if
  ``fit_shift`` is false).
* Gravity unknown: from (2) the prediction on the floor is itself a plane in normalised
  image coordinates, rel = p x + q y + c, with p = g_x / (h s), q = g_y / (h s),
  c = (g_z / h - b) / s. RANSAC finds it (3-point samples, then least squares on the
  inliers). Three equations for s, b and the two degrees of freedom of g: one short. This
  case therefore ASSUMES b = 0 (prediction proportional to inverse depth), giving
  g = (p, q, c) / |(p, q, c)| and s = 1 / (h |(p, q, c)|) - the same as unprojecting
  1/rel, fitting a plane and scaling its distance to h. The fitted "down" must be within
  ``max_tilt`` of image +y. For models with a shift, supply gravity so it is fitted.

The fit uses the pixels of the bottom ``ground_region`` fraction of the image (every
``decimation``-th row and column).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.arrays import FloatArray
from depth_ros.core.camera import PinholeCamera
from depth_ros.core.params import ParamSpec, Value
from depth_ros.core.scale import register_scale_source
from depth_ros.core.scale.base import (
    DEGENERATE_FIT,
    HOLD_PARAMS,
    NO_REFERENCE,
    SMOOTHING_PARAMS,
    TOO_FEW_POINTS,
    ScaleContext,
    ScaleFit,
    ScaleSource,
    gravity_from_pitch_roll,
)
from depth_ros.core.scale.robust import ransac_scale

_EVAL_POINTS = 2000


@register_scale_source
class GroundPlaneScale(ScaleSource):
    """Scale from the floor: the camera height above a plane fitted to the prediction's lower image
    region (gravity from pitch/roll or TF)."""

    name = "ground_plane"
    params = (
        ParamSpec(
            "camera_height",
            0.0,
            "Height of the camera above the floor, m; 0 = take it from the context (TF)",
            0.0,
            100.0,
        ),
        ParamSpec(
            "use_pitch_roll",
            False,
            "Use the pitch and roll parameters as gravity when the context has none",
        ),
        ParamSpec("pitch", 0.0, "Camera pitch, rad, positive = looking down", -1.6, 1.6),
        ParamSpec("roll", 0.0, "Camera roll about its optical axis, rad", -3.2, 3.2),
        ParamSpec(
            "fit_shift",
            True,
            "With gravity known: fit a shift of inverse depth too (without gravity the shift "
            "is always assumed 0)",
        ),
        ParamSpec(
            "ground_region",
            0.4,
            "Bottom fraction of the image searched for the floor",
            0.05,
            1.0,
        ),
        ParamSpec("decimation", 4, "Use every n-th row and column of the region", 1, 64),
        ParamSpec("inlier_threshold", 0.05, "Largest relative error of a floor inlier", 0.001, 1.0),
        ParamSpec("min_points", 100, "Fewest floor inliers for a fit", 3, 1_000_000),
        ParamSpec(
            "min_inlier_ratio",
            0.25,
            "Smallest fraction of the region's pixels that must be floor inliers",
            0.0,
            1.0,
        ),
        ParamSpec("ransac_iterations", 200, "RANSAC hypotheses per frame", 1, 10000),
        ParamSpec(
            "max_tilt",
            1.2,
            "Without gravity: largest angle between the fitted floor normal and image +y, rad",
            0.0,
            3.2,
        ),
        *HOLD_PARAMS,
        *SMOOTHING_PARAMS,
    )

    def __init__(self, params: Mapping[str, Value] | None = None) -> None:
        super().__init__(params)
        self._rng = np.random.default_rng(0)

    def _fit_frame(self, rel: FloatArray, context: ScaleContext) -> ScaleFit:
        stamp = context.stamp
        height = context.camera_height
        if height is None or not height > 0:
            height = self.fparam("camera_height")
        if not height > 0:
            return ScaleFit.failed(
                NO_REFERENCE,
                "no camera height (parameter camera_height is 0 and the context has none)",
                stamp=stamp,
            )
        if context.camera is None:
            return ScaleFit.failed(NO_REFERENCE, "no camera_info", stamp=stamp)
        h_img, w_img = rel.shape
        cam = context.camera
        if (cam.width, cam.height) != (w_img, h_img):
            cam = cam.scaled(w_img, h_img)
        cam.validate()
        gravity = context.gravity
        if gravity is None and self.param("use_pitch_roll"):
            gravity = gravity_from_pitch_roll(self.fparam("pitch"), self.fparam("roll"))

        xn, yn, r = self._region(rel, cam)
        if gravity is not None:
            return self._fit_with_gravity(xn, yn, r, gravity, height, stamp)
        return self._fit_plane(xn, yn, r, height, stamp)

    def _region(
        self, rel: FloatArray, cam: PinholeCamera
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        h_img, w_img = rel.shape
        step = self.iparam("decimation")
        top = round(h_img * (1.0 - self.fparam("ground_region")))
        v = np.arange(min(top, h_img - 1), h_img, step, dtype=np.float64)
        u = np.arange(0, w_img, step, dtype=np.float64)
        block = rel[v.astype(np.intp)][:, u.astype(np.intp)].astype(np.float64)
        xn = np.broadcast_to(((u - cam.cx) / cam.fx)[None, :], block.shape)
        yn = np.broadcast_to(((v - cam.cy) / cam.fy)[:, None], block.shape)
        ok = np.isfinite(block)
        return xn[ok], yn[ok], block[ok]

    def _fit_with_gravity(
        self,
        xn: NDArray[np.float64],
        yn: NDArray[np.float64],
        r: NDArray[np.float64],
        gravity: tuple[float, float, float],
        height: float,
        stamp: float,
    ) -> ScaleFit:
        g = np.asarray(gravity, dtype=np.float64)
        norm = float(np.linalg.norm(g))
        if not (math.isfinite(norm) and norm > 0):
            return ScaleFit.failed(NO_REFERENCE, f"gravity vector {gravity} is zero", stamp)
        g /= norm
        t = (g[0] * xn + g[1] * yn + g[2]) / height  # floor inverse depth per pixel, eq. (1)
        below = t > 1e-6  # only rays below the horizon can hit the floor
        return ransac_scale(self, r[below], t[below], self._rng, stamp, "floor")

    def _fit_plane(
        self,
        xn: NDArray[np.float64],
        yn: NDArray[np.float64],
        r: NDArray[np.float64],
        height: float,
        stamp: float,
    ) -> ScaleFit:
        n = int(r.size)
        need = self.iparam("min_points")
        if n < need:
            return ScaleFit.failed(
                TOO_FEW_POINTS, f"{n} valid pixels in the floor region, need >= {need}", stamp, n
            )
        thr = self.fparam("inlier_threshold")
        a = np.stack([xn, yn, np.ones_like(xn)], axis=1)  # (n, 3)
        k = self.iparam("ransac_iterations")
        idx = self._rng.integers(0, n, size=(k, 3))
        mats = a[idx]  # (k, 3, 3)
        det = np.linalg.det(mats)
        good = np.abs(det) > 1e-9
        if not good.any():
            return ScaleFit.failed(DEGENERATE_FIT, "floor: all samples are collinear", stamp, n)
        coef = np.linalg.solve(mats[good], r[idx[good]][:, :, None])[:, :, 0]  # (k', 3)
        sub = self._rng.choice(n, _EVAL_POINTS, replace=False) if n > _EVAL_POINTS else None
        a_s = a if sub is None else a[sub]
        r_s = r if sub is None else r[sub]
        pred = coef @ a_s.T  # (k', m)
        with np.errstate(divide="ignore", invalid="ignore"):
            res = np.abs(pred - r_s[None, :]) / np.abs(pred)
        best = coef[int(np.argmax((res < thr).sum(axis=1)))]
        inl = np.zeros(n, dtype=bool)
        for _ in range(5):
            p = a @ best
            with np.errstate(divide="ignore", invalid="ignore"):
                new = (np.abs(p - r) / np.abs(p) < thr) & (p > 0)
            if int(new.sum()) < 3 or np.array_equal(new, inl):
                inl = new
                break
            inl = new
            best = np.linalg.lstsq(a[inl], r[inl], rcond=None)[0]
        count = int(inl.sum())
        if count < need:
            return ScaleFit.failed(
                DEGENERATE_FIT,
                f"floor: only {count} of {n} pixels fit a plane, need >= {need}",
                stamp,
                n,
            )
        if count < self.fparam("min_inlier_ratio") * n:
            return ScaleFit.failed(
                DEGENERATE_FIT,
                f"floor: no dominant plane ({count} of {n} pixels fit one)",
                stamp,
                n,
            )
        norm = float(np.linalg.norm(best))
        if not (math.isfinite(norm) and norm > 0):
            return ScaleFit.failed(DEGENERATE_FIT, "floor: the fitted plane is zero", stamp, n)
        down = best / norm
        tilt = math.acos(max(-1.0, min(1.0, float(down[1]))))
        if tilt > self.fparam("max_tilt"):
            return ScaleFit.failed(
                DEGENERATE_FIT,
                f"floor: fitted plane normal is {math.degrees(tilt):.0f} deg from image +y "
                f"(max_tilt {math.degrees(self.fparam('max_tilt')):.0f} deg); not a floor",
                stamp,
                n,
            )
        p = a[inl] @ best
        residual = float(np.mean(np.abs(p - r[inl]) / np.abs(p)))
        return ScaleFit(
            scale=1.0 / (height * norm),
            shift=0.0,
            residual=residual,
            inliers=count,
            points=n,
            stamp=stamp,
        )
