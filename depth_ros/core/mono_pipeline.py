"""The monocular depth pipeline without ROS: image + camera → prediction, metric depth
(directly from a metric model, or from a relative one through a scale source), cloud.

Used by the ``mono_depth`` node and the CLI, so the node adds only message conversion.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.errors import InputError
from depth_ros.core.models import OutputKind
from depth_ros.core.models.base import AnyMonoModel, CameraUse, StreamingModel, run_mono
from depth_ros.core.pointcloud import PackedCloud, depth_to_cloud
from depth_ros.core.region import Region, blank_outside, writable
from depth_ros.core.scale import ScaleContext, ScaleFit, ScaleSource, apply
from depth_ros.core.temporal import TemporalFilter, TemporalOptions, time_jumped


@dataclass(frozen=True)
class MonoOptions:
    """What the monocular pipeline makes of a prediction: depth range, point cloud, temporal
    filter."""

    min_depth: float = 0.0
    max_depth: float = float("inf")
    points: str = "xyzrgb"  # none | xyz | xyzrgb
    decimation: int = 1
    temporal_filter: bool = False  # smooth the prediction over frames (core/temporal.py)
    temporal: TemporalOptions = field(default_factory=TemporalOptions)


@dataclass
class MonoResult:
    """One processed image: the prediction, depth (when metric), cloud, fit and extras."""

    prediction: NDArray[np.float32]  # the model's output at the image size
    relative: NDArray[np.float32] | None  # relative inverse depth (relative models)
    depth: NDArray[np.float32] | None  # metres, NaN invalid; None when no scale is known
    cloud: PackedCloud | None
    fit: ScaleFit | None
    confidence: NDArray[np.float32] | None = None  # (H, W) in [0, 1] where the model gives it
    normals: NDArray[np.float32] | None = None  # (H, W, 3) camera frame, NaN where depth is
    focal_px: float | None = None  # focal the model used (pixels of the image)
    focal_estimated: bool = False  # ... estimated by the network (no camera_info)
    timings_ms: dict[str, float] = field(default_factory=dict)


class MonoPipeline:
    """Run a monocular model and turn its output into metric depth (through a scale source for
    relative models) and a point cloud."""

    def __init__(
        self,
        model: AnyMonoModel,
        output_kind: OutputKind,
        scale: ScaleSource | None = None,
        options: MonoOptions | None = None,
        camera_use: CameraUse = CameraUse.NONE,
    ) -> None:
        if output_kind is OutputKind.DISPARITY:
            raise InputError("a stereo model cannot run in the monocular pipeline")
        self.model = model
        self.output_kind = output_kind
        self.scale = scale
        self.options = options or MonoOptions()
        self.camera_use = camera_use
        self.temporal = TemporalFilter()
        self._stream_stamp: float | None = None  # last frame's stamp (streaming models)
        self.stream_resets = 0  # times a streaming model's window was dropped on a time jump

    def reset_stream(self) -> None:
        """Drop what depends on earlier frames (a streaming model's temporal window, the
        temporal filter's history): the next frame starts a new stream."""
        self.temporal.reset()
        self._stream_stamp = None
        if isinstance(self.model, StreamingModel):
            self.model.reset()

    def _check_stream(self, stamp: float | None) -> None:
        """A streaming model's window is dropped on a time jump (stamps going backwards or
        further apart than ``temporal_reset_gap_seconds``)."""
        if not isinstance(self.model, StreamingModel):
            return
        gap = self.options.temporal.reset_gap_seconds
        if time_jumped(self._stream_stamp, stamp, gap):
            self.model.reset()
            self.stream_resets += 1
        if stamp is not None:
            self._stream_stamp = stamp

    @property
    def metric(self) -> bool:
        """Whether this pipeline produces metres (metric model, or a scale source)."""
        return self.output_kind is OutputKind.METRIC or self.scale is not None

    def process(
        self,
        rgb: NDArray[np.uint8],
        camera: PinholeCamera | None,
        context: ScaleContext | None = None,
        cloud: bool = True,
        stamp: float | None = None,
        valid_region: Region | None = None,
    ) -> MonoResult:
        """Raises InputError/CalibrationError for bad input. ``stamp`` (seconds): the
        image's time, for the temporal filter's (and a streaming model's) reset on a time
        jump. ``valid_region``: where depth may be given (:mod:`depth_ros.core.region`;
        None: everywhere); outside it the prediction is NaN (no scale-fit sample, no depth,
        no points), the confidence 0 and the normals NaN."""
        opts = self.options
        h, w = rgb.shape[:2]
        if camera is not None:
            camera.validate(w, h)
        elif self.camera_use is CameraUse.REQUIRED:
            raise InputError(
                "this model's metric scale follows the camera's focal length: it needs "
                "camera_info (intrinsics) with every image, and none is known"
            )
        self._check_stream(stamp)
        t0 = time.perf_counter()
        out = run_mono(self.model, rgb, camera)
        prediction = np.asarray(out.depth, dtype=np.float32)
        t1 = time.perf_counter()
        if prediction.shape != (h, w):
            raise InputError(f"model returned {prediction.shape}, expected {(h, w)}")
        if opts.temporal_filter:
            self.temporal.options = opts.temporal
            prediction = (
                self.temporal.filter_depth(prediction, stamp)
                if self.output_kind is OutputKind.METRIC
                else self.temporal.filter_inverse(prediction, stamp, align=True)
            )
        else:
            self.temporal.reset()
        confidence, normals = out.confidence, out.normals
        if valid_region is not None:
            prediction = writable(prediction)
            confidence = None if confidence is None else writable(confidence)
            normals = None if normals is None else writable(normals)
            blank_outside(valid_region, np.nan, prediction, normals)
            blank_outside(valid_region, 0.0, confidence)
        relative = None
        fit = None
        depth: NDArray[np.float32] | None
        if self.output_kind is OutputKind.METRIC:
            depth = prediction.copy()
            bad = ~(depth > 0) | ~np.isfinite(depth)
            if opts.min_depth > 0:
                bad |= depth < opts.min_depth
            if np.isfinite(opts.max_depth):
                bad |= depth > opts.max_depth
            depth[bad] = np.nan
        else:
            relative = prediction
            depth = None
            if self.scale is not None:
                ctx = replace(context or ScaleContext(), camera=camera)
                fit = self.scale.fit(relative, ctx)
                depth = apply(relative, fit, opts.min_depth, opts.max_depth) if fit.ok else None
        packed = None
        if cloud and depth is not None and camera is not None and opts.points != "none":
            packed = depth_to_cloud(
                depth, camera, rgb if opts.points == "xyzrgb" else None, opts.decimation
            )
        t2 = time.perf_counter()
        if normals is not None and depth is not None:
            normals = np.where(np.isnan(depth)[..., None], np.float32(np.nan), normals)
        return MonoResult(
            prediction,
            relative,
            depth,
            packed,
            fit,
            confidence=confidence,
            normals=normals,
            focal_px=out.focal_px,
            focal_estimated=out.focal_estimated,
            timings_ms={"model": (t1 - t0) * 1e3, "depth_points": (t2 - t1) * 1e3},
        )
