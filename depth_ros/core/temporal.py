"""A model-independent temporal filter for monocular depth on a stream: exponential
smoothing in inverse depth with per-pixel motion gating, so a robot can trade lag for
stability.

Per pixel, with ``prev`` the filtered inverse depth of the previous frame and ``new``
this frame's::

    change = |new - prev| / max(|new|, |prev|)
    out    = new                              where change > motion_threshold (moving)
           = prev + alpha * (new - prev)      elsewhere (static: smoothed)

``alpha`` is the weight of the new frame (1 = no smoothing; smaller = steadier and more
lag). Gating takes a moving object's new value at once instead of smearing it over
frames. A relative (affine-invariant) model's output has its own scale and shift in
every frame, so for relative output (``align=True``) the history is first mapped onto
the new frame by a least-squares scale and shift (refitted once on the pixels that agree
within the motion threshold): the output stays in the new frame's affine frame, and the
gate compares like with like. Inverse depth is the space of relative models' output
(used as is) and the one where depth noise is closest to uniform; metric depth is
inverted, filtered and inverted back. Pixels that are NaN (or, for depth, not > 0) in
the new frame stay invalid and restart from their next valid value.

The history is dropped (the frame is passed through) on a time jump, the stamp going
backwards (bag loop, replay) or a gap longer than ``reset_gap_seconds``, and when the
image size changes. Pure numpy, vectorised; no ROS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.arrays import FloatArray
from depth_ros.core.errors import ConfigError
from depth_ros.core.params import ParamSpec, Value

TEMPORAL_PARAMS = (
    ParamSpec(
        "temporal_filter",
        False,
        "Smooth the prediction over frames (exponential, in inverse depth) except where it "
        "changes by more than temporal_motion_threshold (moving objects are not smeared)",
    ),
    ParamSpec(
        "temporal_alpha",
        0.5,
        "Weight of the new frame in the temporal filter: 1 = no smoothing, smaller = "
        "steadier with more lag (about 1/alpha frames)",
        0.0,
        1.0,
    ),
    ParamSpec(
        "temporal_motion_threshold",
        0.15,
        "Relative change of inverse depth above which a pixel takes the new frame's value "
        "(motion gate); larger = smoother, more smearing of moving objects",
        0.0,
        10.0,
    ),
    ParamSpec(
        "temporal_reset_gap_seconds",
        0.5,
        "Restart the temporal filter, and a video model's temporal window, when consecutive "
        "frame stamps are further apart than this (or go backwards), seconds; 0 = only when "
        "they go backwards",
        0.0,
        3600.0,
    ),
)
_SPECS = {s.name: s for s in TEMPORAL_PARAMS}


@dataclass(frozen=True)
class TemporalOptions:
    """Parameters of :class:`TemporalFilter` (the ``temporal_*`` node parameters)."""

    alpha: float = 0.5
    motion_threshold: float = 0.15
    reset_gap_seconds: float = 0.5

    def __post_init__(self) -> None:
        for name, value in (
            ("temporal_alpha", self.alpha),
            ("temporal_motion_threshold", self.motion_threshold),
            ("temporal_reset_gap_seconds", self.reset_gap_seconds),
        ):
            why = _SPECS[name].validate(float(value))
            if why:
                raise ConfigError(why)

    @classmethod
    def from_params(cls, params: Mapping[str, Value]) -> TemporalOptions:
        """The options from ``temporal_*`` node parameters (defaults for the absent ones)."""
        d = cls()
        return cls(
            alpha=float(params.get("temporal_alpha", d.alpha)),
            motion_threshold=float(params.get("temporal_motion_threshold", d.motion_threshold)),
            reset_gap_seconds=float(params.get("temporal_reset_gap_seconds", d.reset_gap_seconds)),
        )


def time_jumped(previous: float | None, stamp: float | None, reset_gap_seconds: float) -> bool:
    """Whether a stream broke between two frame stamps (seconds): time went backwards, or
    the gap is longer than ``reset_gap_seconds`` (0: only backwards). Unknown stamps
    (None) never break it."""
    if stamp is None or previous is None:
        return False
    gap = stamp - previous
    return gap < 0 or (reset_gap_seconds > 0 and gap > reset_gap_seconds)


class TemporalFilter:
    """Exponential smoothing in inverse depth with motion gating (module docstring)."""

    def __init__(self, options: TemporalOptions | None = None) -> None:
        self.options = options or TemporalOptions()
        self._state: NDArray[np.float32] | None = None  # filtered inverse depth
        self._stamp: float | None = None
        self.resets = 0  # times the history was dropped (diagnostics, tests)
        self.last_moving_fraction = 0.0  # share of valid pixels the gate let through

    def reset(self) -> None:
        """Forget the history (the next frame starts it again)."""
        self._state = None
        self._stamp = None

    def _jumped(self, stamp: float | None) -> bool:
        return time_jumped(self._stamp, stamp, self.options.reset_gap_seconds)

    def _align(self, prev: NDArray[np.float32], new: NDArray[np.float32]) -> NDArray[np.float32]:
        """The history ``prev`` mapped by s·prev + t onto ``new``: least squares of new on
        prev (prev, the filtered history, is the low-noise regressor, so the fit is close
        to unbiased),
        on a pixel grid, refitted once on the pixels within the motion threshold; prev
        unchanged if the fit is degenerate."""
        step = max(1, int(np.sqrt(prev.size / 20000)))  # ~20k samples
        a = prev[::step, ::step].ravel().astype(np.float64)
        b = new[::step, ::step].ravel().astype(np.float64)
        ok = np.isfinite(a) & np.isfinite(b)
        s, t = 1.0, 0.0
        for _ in range(2):
            if ok.sum() < 10 or np.ptp(a[ok]) <= 0:
                return prev
            s, t = (float(v) for v in np.polyfit(a[ok], b[ok], 1))
            fitted = s * a + t
            with np.errstate(invalid="ignore", divide="ignore"):
                close = np.abs(fitted - b) <= self.options.motion_threshold * np.maximum(
                    np.abs(fitted), np.abs(b)
                )
            ok &= close
        if not (np.isfinite(s) and np.isfinite(t)):
            return prev
        return (prev * np.float32(s) + np.float32(t)).astype(np.float32)

    def filter_inverse(
        self, inv: FloatArray, stamp: float | None = None, align: bool = False
    ) -> NDArray[np.float32]:
        """One frame of inverse depth (H, W), NaN invalid → the filtered frame.
        ``align``: relative output, map the history onto this frame's scale and shift
        first (module docstring)."""
        new = np.asarray(inv, dtype=np.float32)
        if new.ndim != 2:
            raise ValueError(f"expected an (H, W) map, got shape {new.shape}")
        prev = self._state
        if prev is not None and (prev.shape != new.shape or self._jumped(stamp)):
            self.resets += 1
            prev = None
        self._stamp = stamp if stamp is not None else self._stamp
        if prev is None:
            self._state = new.copy()
            self.last_moving_fraction = 0.0
            return self._state.copy()
        o = self.options
        if align:
            prev = self._align(prev, new)
        diff = np.abs(new - prev)
        scale = np.maximum(np.abs(new), np.abs(prev))
        with np.errstate(invalid="ignore", divide="ignore"):
            moving = diff > np.float32(o.motion_threshold) * scale
        # NaN in prev (pixel newly valid): take the new value; NaN in new: stays NaN
        take_new = moving | np.isnan(prev)
        out = np.where(take_new, new, prev + np.float32(o.alpha) * (new - prev))
        out = out.astype(np.float32, copy=False)
        valid = np.isfinite(new)
        n = int(valid.sum())
        self.last_moving_fraction = float((moving & valid).sum()) / n if n else 0.0
        self._state = out
        return out.copy()

    def filter_depth(self, depth: FloatArray, stamp: float | None = None) -> NDArray[np.float32]:
        """Metric depth (H, W), metres: filtered in inverse depth; invalid (NaN, <= 0)
        stays NaN."""
        d = np.asarray(depth, dtype=np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = np.where(np.isfinite(d) & (d > 0), np.float32(1.0) / d, np.float32(np.nan))
            out = np.float32(1.0) / self.filter_inverse(inv, stamp)
        return out.astype(np.float32, copy=False)
