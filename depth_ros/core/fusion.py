"""Stereo + monocular fusion: stereo gives metres where it finds matches, a monocular network
gives dense structure everywhere.

Per frame the monocular relative inverse depth is aligned to the stereo depth on the
pixels stereo covers (the ``stereo`` scale source: robust fit of scale and shift in
inverse depth, smoothed over time and held on failure), and the holes of the stereo depth
(occlusions, textureless areas, image borders) are filled with the aligned monocular depth.

Source image (uint8), one value per pixel:

* ``0`` :data:`SOURCE_NONE` - no depth (no stereo match and no usable aligned mono value)
* ``1`` :data:`SOURCE_STEREO` - stereo depth, unchanged
* ``2`` :data:`SOURCE_MONO` - hole filled with aligned monocular depth
* ``3`` :data:`SOURCE_MONO_REPLACED` - stereo rejected because it disagreed with the
  aligned monocular depth by more than ``max_disagreement`` (off by default), mono used
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.arrays import FloatArray
from depth_ros.core.errors import InputError
from depth_ros.core.params import ParamSpec, Value, merge, validate_all
from depth_ros.core.scale.base import ScaleContext, ScaleFit, apply
from depth_ros.core.scale.stereo import StereoScale

FloatImage = NDArray[np.float32]

SOURCE_NONE = 0
SOURCE_STEREO = 1
SOURCE_MONO = 2
SOURCE_MONO_REPLACED = 3


@dataclass(frozen=True)
class FusionResult:
    """One fused frame: the depth, where each pixel came from, and the mono-to-stereo fit."""

    depth: FloatImage  # metres, NaN = none
    source: NDArray[np.uint8]  # SOURCE_* per pixel
    fit: ScaleFit  # the map applied to the monocular prediction

    @property
    def density(self) -> float:
        """Fraction of pixels with a depth."""
        return float(np.isfinite(self.depth).mean())


def fuse_depth(
    stereo_depth: FloatImage,
    mono_relative: FloatArray,
    fit: ScaleFit,
    min_depth: float = 0.0,
    max_depth: float = math.inf,
    max_disagreement: float = 0.0,
) -> tuple[FloatImage, NDArray[np.uint8]]:
    """Fused depth and source image from stereo depth and a fitted mono map (pure).

    Stereo pixels are kept; the others take ``apply(mono_relative, fit)`` (within
    [min_depth, max_depth]). With ``max_disagreement`` > 0, stereo pixels whose relative
    difference from the aligned mono depth exceeds it are replaced by mono (code 3).
    When ``fit`` is not ok the result is the stereo depth alone.
    """
    if stereo_depth.shape != mono_relative.shape or stereo_depth.ndim != 2:
        raise InputError(
            f"stereo depth {stereo_depth.shape} and monocular prediction "
            f"{mono_relative.shape} must be 2-D images of the same size"
        )
    stereo_ok = np.isfinite(stereo_depth) & (stereo_depth > 0)
    mono = apply(mono_relative, fit, min_depth, max_depth)
    mono_ok = np.isfinite(mono)
    source = np.zeros(stereo_depth.shape, dtype=np.uint8)
    source[stereo_ok] = SOURCE_STEREO
    source[~stereo_ok & mono_ok] = SOURCE_MONO
    fused = np.where(stereo_ok, stereo_depth, mono).astype(np.float32)
    if max_disagreement > 0.0:
        with np.errstate(invalid="ignore", divide="ignore"):
            rel_diff = np.abs(stereo_depth - mono) / mono
        replace = stereo_ok & mono_ok & (rel_diff > max_disagreement)
        fused[replace] = mono[replace]
        source[replace] = SOURCE_MONO_REPLACED
    return fused, source


FUSION_PARAMS = (
    ParamSpec(
        "max_disagreement",
        0.0,
        "Replace stereo depths that differ from the aligned monocular depth by more than "
        "this fraction (0 = keep every stereo depth)",
        0.0,
        10.0,
    ),
    ParamSpec("min_depth", 0.0, "Filled depths below this are dropped, m", 0.0, 1e4),
    ParamSpec("max_depth", 0.0, "Filled depths above this are dropped, m (0 = no limit)", 0.0, 1e6),
)


class StereoMonoFusion:
    """Stateful fusion: one per stream (keeps the smoothed / held fit between frames).

    Parameters: those of the ``stereo`` scale source (``StereoScale.params``) plus
    :data:`FUSION_PARAMS`; all names are distinct.
    """

    params = (*StereoScale.params, *FUSION_PARAMS)

    def __init__(self, params: Mapping[str, Value] | None = None) -> None:
        self._specs = merge(self.params)
        self._fusion: dict[str, float] = {s.name: float(s.default) for s in FUSION_PARAMS}
        self._scale = StereoScale()
        if params:
            self.update(params)

    def update(self, params: Mapping[str, Value]) -> None:
        """Change fusion and scale-source parameters (validated first: ConfigError, nothing
        changed)."""
        validate_all(self._specs, params)
        own = {k: v for k, v in params.items() if k in self._fusion}
        self._scale.update({k: v for k, v in params.items() if k not in self._fusion})
        self._fusion.update({k: float(v) for k, v in own.items()})

    def reset(self) -> None:
        """Forget the scale source's history (time jumped back)."""
        self._scale.reset()

    def process(
        self,
        stereo_depth: FloatImage,
        mono_relative: FloatArray,
        stamp: float = 0.0,
        stereo_stamp: float | None = None,
    ) -> FusionResult:
        """Fuse one frame: fit mono to stereo, fill the stereo holes."""
        fit = self._scale.fit(
            mono_relative,
            ScaleContext(reference=stereo_depth, stamp=stamp, reference_stamp=stereo_stamp),
        )
        max_depth = self._fusion["max_depth"] or math.inf
        depth, source = fuse_depth(
            stereo_depth,
            mono_relative,
            fit,
            min_depth=self._fusion["min_depth"],
            max_depth=max_depth,
            max_disagreement=self._fusion["max_disagreement"],
        )
        return FusionResult(depth, source, fit)
