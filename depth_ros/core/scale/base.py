"""What every metric scale source is: the context it reads, the fit it returns, and the
bookkeeping they share (parameters, temporal smoothing, holding the last good fit).

A relative monocular prediction ``rel`` (affine-invariant inverse depth, larger = nearer)
becomes metric through an affine map in inverse-depth space::

    metric_inverse_depth = scale * rel + shift        depth = 1 / metric_inverse_depth

A source estimates ``(scale, shift)`` each frame from its reference (a constant, the floor,
a sparse metric depth, stereo disparity). Failure codes (``ScaleFit.code``):

* ``no_reference``   - the context has no reference data (or no camera height / camera)
* ``stale_reference`` - the reference is older than ``max_reference_age`` seconds
* ``too_few_points`` - fewer valid (or inlier) reference points than ``min_points``
* ``degenerate_fit`` - the points do not determine the map (all at one depth, no
  consistent affine relation, non-positive scale, no dominant floor plane)

After a failure a source keeps returning its last good fit (``ok=True``, ``held=True``,
``reason`` telling why) for at most ``hold_time`` seconds, then reports ``ok=False``.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.arrays import FloatArray
from depth_ros.core.camera import PinholeCamera, StereoGeometry
from depth_ros.core.errors import InputError
from depth_ros.core.params import ParamSpec, Value, defaults, merge, validate_all

FloatImage = NDArray[np.float32]

NO_REFERENCE = "no_reference"
STALE_REFERENCE = "stale_reference"
TOO_FEW_POINTS = "too_few_points"
DEGENERATE_FIT = "degenerate_fit"
FAILURE_CODES = (NO_REFERENCE, STALE_REFERENCE, TOO_FEW_POINTS, DEGENERATE_FIT)


@dataclass(frozen=True)
class ScaleContext:
    """Everything a source may use besides the prediction. Unused fields stay None.

    ``reference``: sparse metric depth (metres, NaN = none) aligned pixel-for-pixel with the
    prediction (see :mod:`depth_ros.core.projection` to get one from a depth image or a
    point cloud in another frame). ``disparity`` + ``stereo``: the stereo source's reference.
    ``gravity``: unit vector of "down" in the camera optical frame (x right, y down,
    z forward), e.g. from TF or :func:`gravity_from_pitch_roll`. ``stamp`` and
    ``reference_stamp`` are seconds on one clock.
    """

    camera: PinholeCamera | None = None
    reference: FloatImage | None = None
    disparity: FloatImage | None = None
    stereo: StereoGeometry | None = None
    camera_height: float | None = None
    gravity: tuple[float, float, float] | None = None
    stamp: float = 0.0
    reference_stamp: float | None = None


@dataclass(frozen=True)
class ScaleFit:
    """The affine map of inverse depth and how good it is.

    ``residual``: mean relative error |scale*rel + shift - 1/ref| / (1/ref) over the inliers
    (≈ AbsRel of the scaled depth on the reference points; for ``ground_plane`` the same
    against the fitted floor). ``inliers`` / ``points``: inlier and valid reference points.
    ``stamp``: when the fit was made; ``age``: seconds between that and the frame it is
    returned for (non-zero only when ``held``).
    """

    scale: float
    shift: float = 0.0
    residual: float = 0.0
    inliers: int = 0
    points: int = 0
    ok: bool = True
    code: str = ""
    reason: str = ""
    stamp: float = 0.0
    held: bool = False
    age: float = 0.0
    source: str = ""

    @classmethod
    def failed(cls, code: str, reason: str, stamp: float = 0.0, points: int = 0) -> ScaleFit:
        """A failed fit: NaN map, ``ok`` False, ``reason`` prefixed with its code."""
        return cls(
            scale=math.nan,
            shift=math.nan,
            residual=math.nan,
            inliers=0,
            points=points,
            ok=False,
            code=code,
            reason=f"{code}: {reason}",
            stamp=stamp,
        )


def apply(
    rel: FloatArray,
    fit: ScaleFit,
    min_depth: float = 0.0,
    max_depth: float = math.inf,
) -> FloatImage:
    """Metric depth (metres, float32, NaN invalid) = 1 / (scale * rel + shift).

    NaN where the inverse depth is not positive or finite, outside [min_depth, max_depth],
    and everywhere when the fit is not ok.
    """
    if rel.ndim != 2:
        raise InputError(f"relative prediction must be a 2-D (H, W) array, got shape {rel.shape}")
    if not fit.ok or not (math.isfinite(fit.scale) and math.isfinite(fit.shift)):
        return np.full(rel.shape, np.nan, dtype=np.float32)
    inv = rel.astype(np.float32) * np.float32(fit.scale)
    if fit.shift:
        inv += np.float32(fit.shift)
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.float32(1.0) / inv
    bad = ~(inv > 0) | ~np.isfinite(depth)
    if min_depth > 0.0:
        bad |= depth < min_depth
    if math.isfinite(max_depth):
        bad |= depth > max_depth
    depth[bad] = np.nan
    return depth


HOLD_PARAMS = (
    ParamSpec(
        "hold_time",
        1.0,
        "Seconds a source keeps its last good fit after fits fail, before it reports not ok",
        0.0,
        3600.0,
    ),
)
SMOOTHING_PARAMS = (
    ParamSpec(
        "smoothing",
        0.5,
        "Exponential smoothing of scale and shift: new = smoothing*previous + "
        "(1-smoothing)*fitted; 0 = use each frame's fit as is",
        0.0,
        0.99,
    ),
)


class ScaleSource(abc.ABC):
    """Base of all scale sources: parameters, smoothing and the hold logic.

    Subclasses set ``name`` and ``params`` and implement :meth:`_fit_frame`, which returns
    a fresh fit for one frame (ok or failed), without smoothing or holding.
    """

    name: ClassVar[str] = ""
    params: ClassVar[tuple[ParamSpec, ...]] = ()
    temporal: ClassVar[bool] = True  # smoothing and hold apply

    def __init__(self, params: Mapping[str, Value] | None = None) -> None:
        self._specs = merge(self.params)
        self._values: dict[str, Value] = defaults(self._specs)
        self._last_good: ScaleFit | None = None
        if params:
            self.update(params)

    # parameters ----------------------------------------------------------------------
    def update(self, params: Mapping[str, Value]) -> None:
        """Change parameters (validated against ``params``; ConfigError lists problems)."""
        validate_all(self._specs, params)
        for key, value in params.items():
            spec = self._specs[key]
            self._values[key] = float(value) if spec.type is float else value

    def param(self, name: str) -> Value:
        """The current value of parameter ``name``."""
        return self._values[name]

    def fparam(self, name: str) -> float:
        """Parameter ``name`` as a float."""
        return float(self._values[name])

    def iparam(self, name: str) -> int:
        """Parameter ``name`` as an int."""
        return int(self._values[name])

    def reset(self) -> None:
        """Forget the last good fit (e.g. after a jump back in time)."""
        self._last_good = None

    @property
    def last_good(self) -> ScaleFit | None:
        """The last successful fit (held while fits fail), None before the first."""
        return self._last_good

    # fitting -------------------------------------------------------------------------
    def fit(self, rel: FloatArray, context: ScaleContext) -> ScaleFit:
        """Fit the map for one frame, smoothed over time and held on failure."""
        if rel.ndim != 2:
            raise InputError(
                f"relative prediction must be a 2-D (H, W) array, got shape {rel.shape}"
            )
        fresh = replace(self._fit_frame(rel, context), source=self.name)
        if not self.temporal:
            return fresh
        return self._temporal(fresh, context.stamp)

    @abc.abstractmethod
    def _fit_frame(self, rel: FloatArray, context: ScaleContext) -> ScaleFit:
        """One frame's fit (ok or failed), stamped with ``context.stamp``."""

    def _temporal(self, fresh: ScaleFit, stamp: float) -> ScaleFit:
        last = self._last_good
        if last is not None and stamp < last.stamp:
            last = self._last_good = None  # time went backwards (bag loop): start over
        hold = self.fparam("hold_time") if "hold_time" in self._values else 0.0
        if fresh.ok:
            alpha = self.fparam("smoothing") if "smoothing" in self._values else 0.0
            if last is not None and alpha > 0.0 and stamp - last.stamp <= hold:
                fresh = replace(
                    fresh,
                    scale=alpha * last.scale + (1.0 - alpha) * fresh.scale,
                    shift=alpha * last.shift + (1.0 - alpha) * fresh.shift,
                )
            self._last_good = fresh
            return fresh
        if last is None:
            return fresh
        age = stamp - last.stamp
        if age <= hold:
            return replace(
                last,
                held=True,
                age=age,
                code=fresh.code,
                reason=f"holding last good fit ({age:.2f} s old): {fresh.reason}",
            )
        return replace(
            fresh,
            reason=f"{fresh.reason}; last good fit is {age:.2f} s old (hold_time {hold:g} s)",
        )


def check_same_shape(rel: FloatArray, other: FloatArray, what: str) -> None:
    """InputError unless ``other`` has the relative prediction's size (``what`` names it)."""
    if rel.shape != other.shape:
        raise InputError(
            f"{what} is {other.shape[1]}x{other.shape[0]} but the relative prediction is "
            f"{rel.shape[1]}x{rel.shape[0]}; expected the same size (project it first)"
        )


def gravity_from_pitch_roll(pitch: float, roll: float = 0.0) -> tuple[float, float, float]:
    """The "down" direction in the camera optical frame for a camera pitched down by
    ``pitch`` radians (positive = looking at the floor) and rolled by ``roll`` about its
    optical axis (positive = gravity turns towards image +x). Level camera: (0, 1, 0)."""
    cp = math.cos(pitch)
    return (math.sin(roll) * cp, math.cos(roll) * cp, math.sin(pitch))
