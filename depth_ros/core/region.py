"""The valid region of an image: where a node may give depth (parameter ``valid_roi``).

The rectified images of many cameras have a filled border (black, or smeared where the
rectification maps fall outside the raw image; OpenCV's stereoRectify reports the valid
rectangle as ``validPixROI``). Matchers and networks give confident nonsense there. Outside
the valid region a node gives no depth: NaN depth and disparity, confidence 0, no points,
and DisparityImage's ``valid_window`` lies inside it.

``valid_roi`` is one of

- ``auto`` (default): camera_info's ROI when it marks a region of the full image, i.e.
  the image has camera_info's full size (after binning) but the ROI is smaller. An image
  of the ROI's size is a crop (REP 104), all of it valid, as before;
- ``none``: the whole image (camera_info's ROI is always a crop);
- ``x,y,width,height``: that rectangle, in pixels of the delivered image.

With ``rectify:=true`` (raw inputs) ``auto`` takes no region from camera_info, whose ROI
is then one of the raw image; an explicit rectangle applies to the rectified image.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.arrays import Array
from depth_ros.core.camera import PinholeCamera
from depth_ros.core.errors import ConfigError, InputError

if TYPE_CHECKING:
    from depth_ros.core.msgtypes import CameraInfoMsg

AUTO, NONE = "auto", "none"
VALID_ROI_PATTERN = r"\s*(auto|none|\d+\s*,\s*\d+\s*,\s*[1-9]\d*\s*,\s*[1-9]\d*)\s*"
VALID_ROI_FORMAT = "auto | none | x,y,width,height (pixels, width and height > 0)"


@dataclass(frozen=True)
class Region:
    """A rectangle of an image: columns [x, x + width), rows [y, y + height)."""

    x: int
    y: int
    width: int
    height: int

    @classmethod
    def full(cls, width: int, height: int) -> Region:
        """The whole of a width x height image."""
        return cls(0, 0, width, height)

    @property
    def empty(self) -> bool:
        """Whether the region holds no pixel."""
        return self.width <= 0 or self.height <= 0

    def as_tuple(self) -> tuple[int, int, int, int]:
        """(x_offset, y_offset, width, height), as sensor_msgs/RegionOfInterest."""
        return self.x, self.y, self.width, self.height

    def intersect(self, other: Region) -> Region:
        """The common part ((0, 0, 0, 0) when there is none)."""
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1 = min(self.x + self.width, other.x + other.width)
        y1 = min(self.y + self.height, other.y + other.height)
        if x1 <= x0 or y1 <= y0:
            return Region(0, 0, 0, 0)
        return Region(x0, y0, x1 - x0, y1 - y0)

    def columns(self, start: int, stop: int) -> Region:
        """This region limited to columns [start, stop)."""
        return self.intersect(Region(start, self.y, stop - start, self.height))

    def is_whole(self, width: int, height: int) -> bool:
        """Whether the region is the whole of a width x height image."""
        return self == Region.full(width, height)

    def blank_outside(self, array: Array, value: float) -> None:
        """Set the elements of ``array`` ((H, W, ...)) outside the region to ``value``,
        in place (four slices, no mask)."""
        h, w = array.shape[:2]
        if self.empty:
            array[...] = value
            return
        x0, y0 = min(max(self.x, 0), w), min(max(self.y, 0), h)
        x1, y1 = min(max(self.x + self.width, x0), w), min(max(self.y + self.height, y0), h)
        array[:y0] = value
        array[y1:] = value
        array[y0:y1, :x0] = value
        array[y0:y1, x1:] = value


def parse_valid_roi(text: str) -> str | Region:
    """``auto``, ``none``, or the :class:`Region` of ``x,y,width,height``."""
    if not re.fullmatch(VALID_ROI_PATTERN, text):
        raise ConfigError(f"valid_roi must be {VALID_ROI_FORMAT}, got {text!r}")
    word = text.strip()
    if word in (AUTO, NONE):
        return word
    x, y, w, h = (int(v) for v in word.split(","))
    return Region(x, y, w, h)


def roi_of_info(msg: CameraInfoMsg) -> Region | None:
    """The region of the delivered image that camera_info's ROI marks as valid, or None
    when the ROI is a crop (REP 104), empty, or the whole image. The ROI marks a region
    when the image has camera_info's full size; binning shrinks it to the whole pixels
    inside."""
    roi = getattr(msg, "roi", None)
    x, y = int(getattr(roi, "x_offset", 0)), int(getattr(roi, "y_offset", 0))
    w, h = int(getattr(roi, "width", 0)), int(getattr(roi, "height", 0))
    full_w, full_h = int(msg.width), int(msg.height)
    if w <= 0 or h <= 0 or (x, y, w, h) == (0, 0, full_w, full_h):
        return None
    bx, by = max(int(getattr(msg, "binning_x", 0)), 1), max(int(getattr(msg, "binning_y", 0)), 1)
    x0, y0 = math.ceil(x / bx), math.ceil(y / by)
    x1, y1 = (x + w) // bx, (y + h) // by
    return Region(x0, y0, max(x1 - x0, 0), max(y1 - y0, 0))


def camera_and_region(
    msg: CameraInfoMsg,
    image_width: int,
    image_height: int,
    valid_roi: str = AUTO,
    raw: bool = False,
) -> tuple[PinholeCamera, Region | None]:
    """The camera of an image from its camera_info, and the image's valid region (None:
    all of it) for option ``valid_roi``; ``raw``: the image is unrectified (``auto`` then
    reads no region from camera_info). InputError for an explicit rectangle that does not
    lie inside the image; ConfigError for a malformed option."""
    option = parse_valid_roi(valid_roi)
    if isinstance(option, Region):
        inside = Region.full(image_width, image_height)
        if option.intersect(inside) != option:
            raise InputError(
                f"valid_roi {','.join(map(str, option.as_tuple()))} does not lie inside the "
                f"{image_width}x{image_height} image"
            )
        return PinholeCamera.from_msg(msg), None if option == inside else option
    if option == AUTO and not raw:
        region = roi_of_info(msg)
        bx = max(int(getattr(msg, "binning_x", 0)), 1)
        by = max(int(getattr(msg, "binning_y", 0)), 1)
        full = (int(msg.width) // bx, int(msg.height) // by) == (image_width, image_height)
        if region is not None and full:
            return PinholeCamera.from_msg(msg, crop_roi=False), region
    return PinholeCamera.from_msg(msg), None


def blank_outside(region: Region | None, value: float, *arrays: Array | None) -> None:
    """:meth:`Region.blank_outside` on each array given (None: skipped; no region: all
    valid, nothing changes)."""
    if region is None:
        return
    for array in arrays:
        if array is not None:
            region.blank_outside(array, value)


def writable(array: NDArray[np.float32]) -> NDArray[np.float32]:
    """``array``, or a copy when it cannot be written (a model's read-only buffer)."""
    return array if array.flags.writeable else array.copy()
