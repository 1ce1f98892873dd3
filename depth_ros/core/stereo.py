"""The stereo depth pipeline without ROS: rectified pair + cameras → disparity, depth, cloud.

Used identically by the ``stereo_depth`` node, ``depth-ros predict`` and the benchmarks, so
the node adds only message conversion on top of :meth:`StereoPipeline.process`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.camera import PinholeCamera, StereoGeometry
from depth_ros.core.errors import InputError
from depth_ros.core.geometry import disparity_to_depth
from depth_ros.core.models.base import ConfidenceStereoModel
from depth_ros.core.pointcloud import PackedCloud, cloud_shape, depth_to_cloud, write_colors
from depth_ros.core.region import Region, blank_outside, writable
from depth_ros.core.stopwatch import Stopwatch

if TYPE_CHECKING:
    from depth_ros.core.models.base import StereoModel

POINT_FORMATS = ("none", "xyz", "xyzrgb")


@dataclass(frozen=True)
class StereoOptions:
    """What the stereo pipeline makes of a disparity: depth range, point cloud format,
    rectification."""

    min_depth: float = 0.0
    max_depth: float = float("inf")
    points: str = "xyzrgb"  # one of POINT_FORMATS
    decimation: int = 1
    rectify: bool = False  # input is raw: undistort and rectify with D, K, R, P first


@dataclass
class StereoResult:
    """One processed pair: disparity, depth, cloud, geometry and timings."""

    disparity: NDArray[np.float32]  # matcher disparity, pixels of the left image, NaN invalid
    depth: NDArray[np.float32]  # metres, NaN invalid
    cloud: PackedCloud | None
    geometry: StereoGeometry
    left_rgb: NDArray[np.uint8]
    camera: PinholeCamera  # the left camera
    timings_ms: dict[str, float] = field(default_factory=dict)
    # per-pixel confidence in [0, 1] (0 where invalid), when asked for and the matcher
    # knows it (classical matchers: depth_ros.core.confidence)
    confidence: NDArray[np.float32] | None = None
    # where the disparity may be valid: the valid region (valid_roi) within the columns
    # the matcher can match; None = the whole image
    region: Region | None = None


class StereoPipeline:
    """Run a :class:`~depth_ros.core.models.StereoModel` and derive depth and points."""

    def __init__(self, model: StereoModel, options: StereoOptions | None = None) -> None:
        self.model = model
        self.options = options or StereoOptions()

    def process(
        self,
        left: NDArray[np.uint8],
        right: NDArray[np.uint8],
        left_camera: PinholeCamera,
        right_camera: PinholeCamera,
        cloud: bool = True,
        depth_out: NDArray[np.float32] | None = None,
        confidence: bool = False,
        allow_no_baseline: bool = False,
        watch: Stopwatch | None = None,
        valid_region: Region | None = None,
    ) -> StereoResult:
        """``left``/``right``: RGB uint8 (H, W, 3). ``cloud=False`` skips the point cloud
        (nobody listens, or :meth:`points` follows later). ``depth_out``: an (H, W)
        float32 array (a message buffer) for the depth. ``confidence``: also the per-pixel
        confidence, where the matcher has one (``compute_with_confidence``).
        ``allow_no_baseline``: a right camera without a baseline (P[0,3] = 0, as
        image_pipeline's own stereo fixtures publish) still gives the disparity; the depth
        is then all NaN and ``result.geometry.has_baseline`` False. ``watch``: the
        frame's stopwatch, lapped at ``rectify``, ``matcher`` and ``depth`` (its stages
        are ``result.timings_ms``; default: one started now). ``valid_region``: where
        depth may be given (:mod:`depth_ros.core.region`; None: everywhere); outside it
        and outside the matcher's :meth:`matched_columns` the disparity is NaN (and the
        confidence 0). Raises InputError/CalibrationError."""
        opts = self.options
        if left.shape != right.shape:
            raise InputError(
                f"left image is {left.shape[1]}x{left.shape[0]} but right image is "
                f"{right.shape[1]}x{right.shape[0]}"
            )
        h, w = left.shape[:2]
        left_camera.validate(w, h)
        right_camera.validate(w, h)
        geometry = StereoGeometry.from_cameras(left_camera, right_camera, allow_no_baseline)
        watch = Stopwatch() if watch is None else watch
        if opts.rectify:
            left = left_camera.rectify(left)
            right = right_camera.rectify(right)
        watch.lap("rectify")
        conf = None
        if confidence and isinstance(self.model, ConfidenceStereoModel):
            disparity, conf = self.model.compute_with_confidence(left, right)
        else:
            disparity = self.model.compute(left, right)
        region = self.region(w, h, valid_region)
        if region is not None:
            disparity, conf = writable(disparity), None if conf is None else writable(conf)
            blank_outside(region, np.nan, disparity)
            blank_outside(region, 0.0, conf)
        watch.lap("matcher")
        if geometry.has_baseline:
            depth = disparity_to_depth(
                disparity, geometry, opts.min_depth, opts.max_depth, out=depth_out
            )
        else:  # no metres without a baseline
            depth = np.empty((h, w), np.float32) if depth_out is None else depth_out
            depth.fill(np.nan)
        watch.lap("depth")
        result = StereoResult(
            disparity, depth, None, geometry, left, left_camera, watch.ms, conf, region
        )
        if cloud:
            self.points(result, watch=watch)
        return result

    def disparity_range(self, width: int) -> tuple[float, float]:
        """The model's (smallest, largest) disparity for images ``width`` wide
        (StereoModel.disparity_range; a model without it: [0, width])."""
        of_model = getattr(self.model, "disparity_range", None)
        if of_model is None:
            return 0.0, float(width)
        lo, hi = of_model(width)
        return float(lo), float(hi)

    def region(self, width: int, height: int, valid: Region | None = None) -> Region | None:
        """Where disparities may be valid in images of this size: ``valid`` (None: the
        whole image) within the model's matched columns (StereoModel.matched_columns; a
        model without it matches every column). None when that is the whole image."""
        region = Region.full(width, height) if valid is None else valid
        matched = getattr(self.model, "matched_columns", None)
        if matched is not None:
            region = region.columns(*matched(width))
        return None if region.is_whole(width, height) else region

    def cloud_shape(self, height: int, width: int) -> tuple[int, int, int] | None:
        """Shape of the float32 buffer :meth:`points` fills for images of this size
        (None: no points wanted)."""
        opts = self.options
        if opts.points == "none":
            return None
        return cloud_shape((height, width), opts.points == "xyzrgb", opts.decimation)

    def colors_first(self) -> bool:
        """Whether :meth:`colors` can fill the cloud's colours from the input image before
        :meth:`process` (xyzrgb, and no rectification that would move the pixels)."""
        return self.options.points == "xyzrgb" and not self.options.rectify

    def colors(self, left: NDArray[np.uint8], out: NDArray[np.float32]) -> None:
        """Fill the colours of an xyzrgb cloud buffer before the depth exists (e.g. on
        another thread while the matcher runs; then ``points(colors_written=True)``).
        Only where :meth:`colors_first` says so."""
        if not self.colors_first():
            raise InputError(
                "the cloud's colours come from the rectified image: "
                "they cannot be written before process()"
            )
        write_colors(out, left, self.options.decimation)

    def points(
        self,
        result: StereoResult,
        out: NDArray[np.float32] | None = None,
        colors_written: bool = False,
        watch: Stopwatch | None = None,
    ) -> None:
        """Add the point cloud to ``result`` (``out``: a buffer of :meth:`cloud_shape`;
        ``colors_written``: its colours are in place already, see :meth:`colors`).
        ``watch``: the frame's stopwatch, lapped at ``points`` (default: the time of
        this call goes to ``result.timings_ms["points"]``)."""
        opts = self.options
        if opts.points == "none":
            return
        own = watch is None
        watch = Stopwatch() if watch is None else watch
        rgb = result.left_rgb if opts.points == "xyzrgb" and not colors_written else None
        result.cloud = depth_to_cloud(
            result.depth, result.camera, rgb, opts.decimation, out, colors_written
        )
        elapsed = watch.lap("points")
        if own:
            result.timings_ms["points"] = elapsed
