"""Pinhole camera model built from CameraInfo fields (the part of image_geometry we need).

A :class:`PinholeCamera` holds the intrinsics K, distortion D, rectification R and
projection P exactly as in ``sensor_msgs/CameraInfo``; :class:`StereoGeometry` derives the
baseline and principal-point offset of a rectified pair from the two projection matrices.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.arrays import Pixel
from depth_ros.core.errors import CalibrationError

if TYPE_CHECKING:
    from depth_ros.core.msgtypes import CameraInfoMsg


def _finite(values: Sequence[float]) -> bool:
    return all(math.isfinite(v) for v in values)


@dataclass(frozen=True)
class PinholeCamera:
    """Intrinsics of one camera, in CameraInfo layout (row-major K 3x3, R 3x3, P 3x4)."""

    width: int
    height: int
    k: tuple[float, ...]
    p: tuple[float, ...]
    d: tuple[float, ...] = ()
    r: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    distortion_model: str = "plumb_bob"
    frame_id: str = ""
    binning_x: int = 0
    binning_y: int = 0

    @classmethod
    def from_msg(cls, msg: CameraInfoMsg, crop_roi: bool = True) -> PinholeCamera:
        """The camera of the image that comes with a ``sensor_msgs/CameraInfo`` (or
        anything with the same fields): binning and ROI (REP 104) applied to K and P as
        image_geometry's PinholeCameraModel does, so the result is at the delivered
        image's size with binning 1 and no ROI (see :meth:`binned`). ``crop_roi=False``:
        the ROI marks the valid region of a full image instead (binning only; see
        :mod:`depth_ros.core.region`)."""
        roi = getattr(msg, "roi", None) if crop_roi else None
        full = cls(
            width=int(msg.width),
            height=int(msg.height),
            k=tuple(float(v) for v in msg.k),
            p=tuple(float(v) for v in msg.p),
            d=tuple(float(v) for v in msg.d),
            r=tuple(float(v) for v in msg.r),
            distortion_model=str(msg.distortion_model),
            frame_id=str(msg.header.frame_id),
        )
        return full.binned(
            int(getattr(msg, "binning_x", 0)),
            int(getattr(msg, "binning_y", 0)),
            int(getattr(roi, "x_offset", 0)),
            int(getattr(roi, "y_offset", 0)),
            int(getattr(roi, "width", 0)),
            int(getattr(roi, "height", 0)),
        )

    def binned(
        self,
        binning_x: int = 0,
        binning_y: int = 0,
        roi_x: int = 0,
        roi_y: int = 0,
        roi_width: int = 0,
        roi_height: int = 0,
    ) -> PinholeCamera:
        """This full-resolution calibration for an image cropped to a region of interest
        and then binned (REP 104), as image_geometry adjusts K and P: the principal point
        moves by the ROI offset, then the first row of K and P (fx, cx, P[0,3]) is divided
        by ``binning_x`` and the second (fy, cy, P[1,3]) by ``binning_y``; the size
        becomes the ROI's (or the full size) divided by the binning. Binning 0 and 1 mean
        none; an all-zero ROI means the full image. The ROI is applied to P as given
        (image_geometry maps it through the rectification first: the same for rectified
        or undistorted images, which is what depth is computed from)."""
        if min(binning_x, binning_y, roi_x, roi_y, roi_width, roi_height) < 0:
            raise CalibrationError(
                f"camera_info binning ({binning_x}, {binning_y}) and roi ({roi_x}, {roi_y}, "
                f"{roi_width}, {roi_height}) must not be negative"
            )
        bx, by = max(binning_x, 1), max(binning_y, 1)
        has_roi = any((roi_x, roi_y, roi_width, roi_height))
        if bx == 1 and by == 1 and not has_roi:
            return self
        if has_roi and (roi_x + roi_width > self.width or roi_y + roi_height > self.height):
            raise CalibrationError(
                f"camera_info roi ({roi_x}, {roi_y}, {roi_width}x{roi_height}) lies outside "
                f"the {self.width}x{self.height} image"
            )
        k = list(self.k)
        p = list(self.p)
        if len(k) == 9:
            k[2] -= roi_x
            k[5] -= roi_y
            k[0], k[1], k[2] = k[0] / bx, k[1] / bx, k[2] / bx
            k[4], k[5] = k[4] / by, k[5] / by
        if len(p) == 12:
            p[2] -= roi_x
            p[6] -= roi_y
            p[0:4] = [v / bx for v in p[0:4]]
            p[4:8] = [v / by for v in p[4:8]]
        width = (roi_width or self.width) // bx
        height = (roi_height or self.height) // by
        return PinholeCamera(
            width,
            height,
            tuple(k),
            tuple(p),
            self.d,
            self.r,
            self.distortion_model,
            self.frame_id,
        )

    @classmethod
    def from_intrinsics(
        cls,
        width: int,
        height: int,
        fx: float,
        fy: float,
        cx: float,
        cy: float,
        tx: float = 0.0,
        frame_id: str = "",
    ) -> PinholeCamera:
        """A distortion-free camera; ``tx`` is P[0,3] (= -fx * baseline for a right camera)."""
        k = (fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0)
        p = (fx, 0.0, cx, tx, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0)
        return cls(width=width, height=height, k=k, p=p, d=(0.0,) * 5, frame_id=frame_id)

    # Projection-matrix intrinsics: those of the rectified image, which is what we process.
    @property
    def fx(self) -> float:
        """Focal length along x, pixels (P's when P is set, else K's)."""
        return self.p[0] if self.p and self.p[0] else self.k[0]

    @property
    def fy(self) -> float:
        """Focal length along y, pixels (P's when P is set, else K's)."""
        return self.p[5] if self.p and self.p[5] else self.k[4]

    @property
    def cx(self) -> float:
        """Principal point x, pixels (P's when P is set, else K's)."""
        return self.p[2] if self.p and self.p[0] else self.k[2]

    @property
    def cy(self) -> float:
        """Principal point y, pixels (P's when P is set, else K's)."""
        return self.p[6] if self.p and self.p[5] else self.k[5]

    @property
    def tx(self) -> float:
        """P[0,3] = -fx' * baseline for the right camera of a rectified pair (0 for a 3x3 P)."""
        return self.p[3] if len(self.p) == 12 else 0.0

    def validate(self, image_width: int | None = None, image_height: int | None = None) -> None:
        """Raise :class:`CalibrationError` if unusable for unprojection, or if its size
        differs from the image's (after binning)."""
        if len(self.k) != 9 or (self.p and len(self.p) != 12):
            raise CalibrationError(
                f"camera_info has malformed K ({len(self.k)} values) or P ({len(self.p)})"
            )
        for name, values in (("K", self.k), ("P", self.p), ("D", self.d), ("R", self.r)):
            if not _finite(values):
                raise CalibrationError(f"camera_info {name} is not finite: {list(values)}")
        if self.fx <= 0.0 or self.fy <= 0.0:
            raise CalibrationError(
                f"camera_info has no focal length (fx={self.fx}, fy={self.fy}): "
                "is the camera calibrated?"
            )
        if self.width <= 0 or self.height <= 0:
            raise CalibrationError(f"camera_info has no size ({self.width}x{self.height})")
        if image_width is not None and image_height is not None:
            w = self.width // self.binning_x if self.binning_x > 1 else self.width
            h = self.height // self.binning_y if self.binning_y > 1 else self.height
            if (w, h) != (image_width, image_height):
                raise CalibrationError(
                    f"camera_info is {w}x{h} but the image is {image_width}x{image_height}"
                )

    def scaled(self, width: int, height: int) -> PinholeCamera:
        """The same camera for an image resized to ``width`` x ``height``."""
        sx = width / self.width
        sy = height / self.height
        k = list(self.k)
        p = list(self.p)
        k[0] *= sx
        k[2] = (k[2] + 0.5) * sx - 0.5
        k[4] *= sy
        k[5] = (k[5] + 0.5) * sy - 0.5
        if p:
            p[0] *= sx
            p[2] = (p[2] + 0.5) * sx - 0.5
            p[3] *= sx
            p[5] *= sy
            p[6] = (p[6] + 0.5) * sy - 0.5
        return PinholeCamera(
            width, height, tuple(k), tuple(p), self.d, self.r, self.distortion_model, self.frame_id
        )

    def check_distortion(self) -> None:
        """Raise :class:`CalibrationError` unless D fits ``distortion_model`` (as ROS's
        camera_info defines it: plumb_bob 5 values k1 k2 t1 t2 k3, rational_polynomial 8
        k1 k2 t1 t2 k3 k4 k5 k6, equidistant 4 k1 k2 k3 k4; an empty D = no distortion),
        and that K, R, P are complete, before OpenCV sees them."""
        expected = DISTORTION_LENGTHS.get(self.distortion_model)
        if expected is None:
            raise CalibrationError(
                f"camera_info distortion_model {self.distortion_model!r} is not supported for "
                f"rectification; expected one of {', '.join(sorted(DISTORTION_LENGTHS))}"
            )
        if len(self.d) not in (0, expected):
            raise CalibrationError(
                f"camera_info D has {len(self.d)} values but distortion_model "
                f"{self.distortion_model!r} needs {expected} "
                f"({DISTORTION_NAMES[self.distortion_model]}) or none"
            )
        for name, values, n in (("K", self.k, 9), ("R", self.r, 9), ("P", self.p, 12)):
            if len(values) != n:
                raise CalibrationError(
                    f"camera_info {name} has {len(values)} values; rectification needs {n}"
                )

    def rectify(self, image: NDArray[Pixel], interpolation: int | None = None) -> NDArray[Pixel]:
        """Undistort and rectify a raw image with D, K, R, P (cv2.remap).

        The maps are cached process-wide, keyed on the calibration (:meth:`rectify_maps`):
        a node builds a new camera from every frame's camera_info, and rebuilding the maps
        for each cost about 25 ms per stereo frame."""
        import cv2

        self.check_distortion()
        m1, m2 = self.rectify_maps()
        interp = cv2.INTER_LINEAR if interpolation is None else interpolation
        return np.asarray(cv2.remap(image, m1, m2, interp), dtype=image.dtype)

    def rectify_maps(self) -> tuple[NDArray[np.int16], NDArray[np.uint16]]:
        """The cv2.remap maps (CV_16SC2) of this calibration: built once per distinct
        (size, distortion model, K, D, R, P), whichever camera object asks."""
        return _rectify_maps(
            self.width, self.height, self.distortion_model, self.k, self.d, self.r, self.p
        )


@functools.lru_cache(maxsize=8)
def _rectify_maps(
    width: int,
    height: int,
    distortion_model: str,
    k: tuple[float, ...],
    d: tuple[float, ...],
    r: tuple[float, ...],
    p: tuple[float, ...],
) -> tuple[NDArray[np.int16], NDArray[np.uint16]]:
    import cv2

    km = np.array(k, dtype=np.float64).reshape(3, 3)
    rm = np.array(r, dtype=np.float64).reshape(3, 3)
    pm = np.array(p, dtype=np.float64).reshape(3, 4)
    dm = np.array(d, dtype=np.float64)
    if dm.size == 0:  # no distortion
        dm = np.zeros(DISTORTION_LENGTHS.get(distortion_model, 5))
    if distortion_model in ("equidistant", "fisheye"):
        m1, m2 = cv2.fisheye.initUndistortRectifyMap(
            km, dm[:4], rm, pm, (width, height), cv2.CV_16SC2
        )
    else:
        m1, m2 = cv2.initUndistortRectifyMap(km, dm, rm, pm, (width, height), cv2.CV_16SC2)
    maps = np.asarray(m1, dtype=np.int16), np.asarray(m2, dtype=np.uint16)
    for m in maps:  # shared between callers: nobody may write into them
        m.setflags(write=False)
    return maps


# camera_info distortion models (sensor_msgs/distortion_models.h) → number of D values
DISTORTION_LENGTHS = {"plumb_bob": 5, "rational_polynomial": 8, "equidistant": 4, "fisheye": 4}
DISTORTION_NAMES = {
    "plumb_bob": "k1, k2, t1, t2, k3",
    "rational_polynomial": "k1, k2, t1, t2, k3, k4, k5, k6",
    "equidistant": "k1, k2, k3, k4",
    "fisheye": "k1, k2, k3, k4",
}


@dataclass(frozen=True)
class StereoGeometry:
    """What a rectified stereo pair needs for depth: Z = fx * baseline / (d + doffs).

    ``doffs`` = cx_right - cx_left (Middlebury's convention; image_geometry's
    StereoCameraModel uses d - (cx_l - cx_r), the same thing).
    """

    fx: float
    baseline: float
    doffs: float = 0.0

    @classmethod
    def from_cameras(
        cls, left: PinholeCamera, right: PinholeCamera, allow_no_baseline: bool = False
    ) -> StereoGeometry:
        """From the right camera's P[0,3] = -fx * baseline, as stereo_image_proc does.
        ``allow_no_baseline``: P[0,3] = 0 gives baseline 0 (disparity needs none, depth
        does: see :attr:`has_baseline`) instead of a CalibrationError."""
        left.validate()
        right.validate()
        fx = right.fx
        baseline = -right.tx / fx
        if allow_no_baseline and baseline == 0.0:
            return cls(fx=fx, baseline=0.0, doffs=right.cx - left.cx)
        if not math.isfinite(baseline) or baseline == 0.0:
            raise CalibrationError(
                f"right camera_info P[0,3] = {right.tx}: zero baseline. A rectified right "
                "camera needs P[0,3] = -fx * baseline (in metres)"
            )
        if baseline < 0.0:
            raise CalibrationError(
                f"right camera_info gives a negative baseline ({baseline:.4f} m): "
                "are left and right swapped?"
            )
        return cls(fx=fx, baseline=baseline, doffs=right.cx - left.cx)

    @property
    def has_baseline(self) -> bool:
        """Whether depth can be computed (a right camera_info without P[0,3] has none)."""
        return self.baseline > 0.0

    def validate(self) -> None:
        """Raise :class:`CalibrationError` unless fx and baseline are finite and positive."""
        if not _finite((self.fx, self.baseline, self.doffs)):
            raise CalibrationError(f"stereo geometry is not finite: {self}")
        if self.fx <= 0.0:
            raise CalibrationError(f"focal length must be > 0, got {self.fx}")
        if self.baseline <= 0.0:
            raise CalibrationError(f"baseline must be > 0 m, got {self.baseline}")
