"""Classical stereo matchers from OpenCV: semi-global (``sgbm``) and block matching (``bm``).

Parameter names and meanings follow stereo_image_proc so that existing configurations
carry over; every parameter can change at runtime.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.errors import InputError
from depth_ros.core.models import register_model
from depth_ros.core.models.base import InputKind, ModelConfig, ModelSpec, OutputKind
from depth_ros.core.params import ParamSpec, Value, defaults

_COMMON = (
    ParamSpec("min_disparity", 0, "Smallest disparity searched, pixels", -512, 2048),
    ParamSpec(
        "disparity_range", 64, "Number of disparities searched, pixels (multiple of 16)",
        16, 4096, step=16,
    ),
    ParamSpec(
        "uniqueness_ratio", 10.0,
        "Margin in percent by which the best match must beat the second best", 0.0, 100.0,
    ),
    ParamSpec(
        "speckle_size", 100, "Largest blob of outlier disparities removed as speckle, pixels",
        0, 1000,
    ),
    ParamSpec(
        "speckle_range", 2, "Largest disparity difference inside one connected blob", 0, 31
    ),
    ParamSpec(
        "disp12_max_diff", 1,
        "Largest left-right consistency error, pixels (-1 disables the check)", -1, 128,
    ),
    ParamSpec("prefilter_cap", 63, "Clip of the prefiltered image values", 1, 63),
    ParamSpec(
        "pad_border", True,
        "Pad the images on the left by the disparity range so that the left border, which "
        "OpenCV leaves empty, is matched too",
    ),
)

SGBM_PARAMS = (
    *_COMMON,
    ParamSpec(
        "correlation_window_size", 5, "Matched block size, pixels (odd)", 1, 11, odd=True
    ),
    ParamSpec(
        "P1", 0.0,
        "Penalty on disparity changes of 1 between neighbours; 0 = 8*3*window^2", 0.0, 4000.0,
    ),
    ParamSpec(
        "P2", 0.0,
        "Penalty on larger disparity changes; 0 = 32*3*window^2 (must exceed P1)",
        0.0, 4000.0,
    ),
    ParamSpec(
        "sgbm_mode", 2,
        "0 SGBM 5 paths, 1 HH full 8 paths, 2 SGBM_3WAY (fastest), 3 HH4", 0, 3,
    ),
)

BM_PARAMS = (
    *_COMMON,
    ParamSpec(
        "correlation_window_size", 15, "Matched block size, pixels (odd)", 5, 255, odd=True
    ),
    ParamSpec("prefilter_size", 9, "Normalisation window of the prefilter (odd)", 5, 255, odd=True),
    ParamSpec(
        "texture_threshold", 10, "Least texture (sum of |dx|) for a match to be kept", 0, 10000
    ),
)


class OpenCVStereo:
    """A cv2.StereoSGBM or cv2.StereoBM matcher producing float disparity with NaN holes."""

    def __init__(self, algorithm: str, params: Mapping[str, Value]) -> None:
        self.algorithm = algorithm
        self.params: dict[str, Value] = dict(params)
        self._matcher: Any = self._create(self.params)

    def update(self, params: Mapping[str, Value]) -> None:
        """Apply new values atomically: if they are inconsistent (InputError), nothing
        changes."""
        merged = {**self.params, **params}
        self._matcher = self._create(merged)
        self.params = merged

    def _create(self, p: Mapping[str, Value]) -> Any:
        import cv2

        block = int(p["correlation_window_size"])
        ndisp = int(p["disparity_range"])
        # OpenCV checks some of these only in compute(): check here, so update() is atomic
        if ndisp <= 0 or ndisp % 16:
            raise InputError(f"disparity_range must be a positive multiple of 16, got {ndisp}")
        if block < 1 or block % 2 == 0:
            raise InputError(f"correlation_window_size must be odd, got {block}")
        if self.algorithm == "bm":
            for name, lo in (("correlation_window_size", 5), ("prefilter_size", 5)):
                value = int(p[name])
                if not lo <= value <= 255 or value % 2 == 0:
                    raise InputError(f"{name} must be odd and in [{lo}, 255], got {value}")
        if self.algorithm == "sgbm":
            p1 = float(p["P1"]) or 8 * 3 * block * block
            p2 = float(p["P2"]) or 32 * 3 * block * block
            if p2 <= p1:
                raise InputError(f"P2 ({p2:g}) must be larger than P1 ({p1:g})")
            return cv2.StereoSGBM.create(
                minDisparity=int(p["min_disparity"]),
                numDisparities=ndisp,
                blockSize=block,
                P1=int(p1),
                P2=int(p2),
                disp12MaxDiff=int(p["disp12_max_diff"]),
                preFilterCap=int(p["prefilter_cap"]),
                uniquenessRatio=round(float(p["uniqueness_ratio"])),
                speckleWindowSize=int(p["speckle_size"]),
                speckleRange=int(p["speckle_range"]),
                mode=int(p["sgbm_mode"]),
            )
        m = cv2.StereoBM.create(numDisparities=ndisp, blockSize=block)
        m.setMinDisparity(int(p["min_disparity"]))
        m.setPreFilterSize(int(p["prefilter_size"]))
        m.setPreFilterCap(int(p["prefilter_cap"]))
        m.setTextureThreshold(int(p["texture_threshold"]))
        m.setUniquenessRatio(round(float(p["uniqueness_ratio"])))
        m.setSpeckleWindowSize(int(p["speckle_size"]))
        m.setSpeckleRange(int(p["speckle_range"]))
        m.setDisp12MaxDiff(int(p["disp12_max_diff"]))
        return m

    def compute(self, left: NDArray[np.uint8], right: NDArray[np.uint8]) -> NDArray[np.float32]:
        import cv2

        if left.shape != right.shape:
            raise InputError(f"left image {left.shape} and right image {right.shape} differ")
        a: NDArray[Any] = left  # grey or colour, padded or not
        b: NDArray[Any] = right
        if self.algorithm == "bm" and left.ndim == 3:
            a = cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGB2GRAY)
            b = cv2.cvtColor(np.ascontiguousarray(b), cv2.COLOR_RGB2GRAY)
        height, width = left.shape[:2]
        pad = int(self.params["disparity_range"]) + max(int(self.params["min_disparity"]), 0)
        if self.params["pad_border"]:
            a = cv2.copyMakeBorder(a, 0, 0, pad, 0, cv2.BORDER_REPLICATE)
            b = cv2.copyMakeBorder(b, 0, 0, pad, 0, cv2.BORDER_REPLICATE)
        self._check_size(width, height, int(a.shape[1]))
        try:
            raw = self._matcher.compute(np.ascontiguousarray(a), np.ascontiguousarray(b))
        except cv2.error as e:  # a combination of size and parameters OpenCV refuses
            raise InputError(
                f"OpenCV {self.algorithm} cannot match {width}x{height} images with "
                f"{self.params}: {str(e).strip().splitlines()[-1]}"
            ) from None
        if self.params["pad_border"]:
            raw = raw[:, pad:]
        disparity: NDArray[np.float32] = raw.astype(np.float32)
        disparity *= np.float32(1.0 / 16.0)
        disparity[raw < int(self.params["min_disparity"]) * 16] = np.nan
        return disparity

    def _check_size(self, width: int, height: int, padded_width: int) -> None:
        problem = size_problem(self.algorithm, self.params, width, height)
        if problem:
            raise InputError(problem)

    @property
    def min_disparity(self) -> float:
        return float(self.params["min_disparity"])

    @property
    def max_disparity(self) -> float:
        return float(int(self.params["min_disparity"]) + int(self.params["disparity_range"]) - 1)


def size_problem(algorithm: str, p: Mapping[str, Value], width: int, height: int) -> str | None:
    """Why OpenCV cannot match ``width`` x ``height`` images with parameters ``p`` (None:
    it can). OpenCV's own errors are cryptic (a failed allocation of 2^64 bytes), and they
    come only in compute(); nodes also check a parameter update against the last image."""
    block = int(p["correlation_window_size"])
    min_d, ndisp = int(p["min_disparity"]), int(p["disparity_range"])
    padded = width + (ndisp + max(min_d, 0) if p["pad_border"] else 0)
    if algorithm == "bm" and block > min(height, padded):
        return (f"correlation_window_size {block} is larger than the {width}x{height} image: "
                "lower it")
    if algorithm == "sgbm":
        # StereoSGBM matches columns [max(min_d + ndisp, 0), width + min(min_d, 0))
        if min_d >= 0 and padded <= min_d + ndisp:
            return (f"the image is {width} px wide, not wider than min_disparity + "
                    f"disparity_range = {min_d + ndisp}: enable pad_border or lower "
                    "disparity_range")
        if padded + min(min_d, 0) <= max(min_d + ndisp, 0):
            return (f"the image is {width} px wide: too narrow for min_disparity {min_d} with "
                    f"disparity_range {ndisp} (OpenCV SGBM needs the padded width {padded} "
                    f"+ min_disparity > max(min_disparity + disparity_range, 0)); raise "
                    "min_disparity")
    return None


def _builder(algorithm: str, specs: tuple[ParamSpec, ...]) -> Any:
    def build(config: ModelConfig) -> OpenCVStereo:
        values = defaults({s.name: s for s in specs})
        values.update(config.params)
        return OpenCVStereo(algorithm, values)

    return build


register_model(
    ModelSpec(
        id="sgbm",
        family="opencv",
        input_kind=InputKind.STEREO,
        output_kind=OutputKind.DISPARITY,
        description="OpenCV semi-global block matching (Hirschmüller 2008)",
        build=_builder("sgbm", SGBM_PARAMS),
        params=SGBM_PARAMS,
        needs_weights=False,
    )
)
register_model(
    ModelSpec(
        id="bm",
        family="opencv",
        input_kind=InputKind.STEREO,
        output_kind=OutputKind.DISPARITY,
        description="OpenCV block matching (Konolige 1997), fastest, sparse",
        build=_builder("bm", BM_PARAMS),
        params=BM_PARAMS,
        needs_weights=False,
    )
)
