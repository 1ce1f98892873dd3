"""Classical stereo matchers from OpenCV: semi-global (``sgbm``) and block matching (``bm``).

Parameter names and meanings follow stereo_image_proc so that existing configurations
carry over; every parameter can change at runtime.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from depth_ros.core import confidence as conf
from depth_ros.core.errors import InputError
from depth_ros.core.models import register_model
from depth_ros.core.models.base import InputKind, ModelConfig, ModelSpec, OutputKind
from depth_ros.core.params import ParamSpec, Value, defaults

if TYPE_CHECKING:
    import cv2


def _common(
    uniqueness: float, speckle_range: int, prefilter_cap: int, left_right_check: bool
) -> tuple[ParamSpec, ...]:
    """The parameters both matchers have (stereo_image_proc's names) and the confidence
    filters (depth_ros.core.confidence), with the defaults of one matcher."""
    return (
        ParamSpec("min_disparity", 0, "Smallest disparity searched, pixels", -512, 2048),
        ParamSpec(
            "disparity_range",
            64,
            "Number of disparities searched, pixels (multiple of 16)",
            16,
            4096,
            step=16,
        ),
        ParamSpec(
            "uniqueness_ratio",
            uniqueness,
            "Margin in percent by which the best match must beat the second best",
            0.0,
            100.0,
        ),
        ParamSpec(
            "speckle_size",
            100,
            "Largest blob of outlier disparities removed as speckle, pixels",
            0,
            1000,
        ),
        ParamSpec(
            "speckle_range",
            speckle_range,
            "Largest disparity difference inside one connected blob (SGBM: pixels, BM: "
            "1/16 pixel, as in OpenCV)",
            0,
            31,
        ),
        ParamSpec(
            "disp12_max_diff",
            1,
            "Largest left-right consistency error, pixels (-1 disables the check)",
            -1,
            128,
        ),
        ParamSpec("prefilter_cap", prefilter_cap, "Clip of the prefiltered image values", 1, 63),
        ParamSpec(
            "left_right_check",
            left_right_check,
            "Match the right view too (the mirrored pair, twice the matching time) and grade "
            "each pixel by how well the two disparities agree (beyond disp12_max_diff: "
            "invalid); off: OpenCV's internal binary check only",
        ),
        ParamSpec(
            "min_texture",
            1.0,
            "Least mean |dI/dx| (grey levels per pixel) over the block window; below it the "
            "confidence is 0 (0 disables)",
            0.0,
            255.0,
        ),
        ParamSpec(
            "min_confidence",
            0.0,
            "Pixels whose confidence (disparity/confidence) is below this are invalid "
            "(NaN depth); 0 keeps every match",
            0.0,
            1.0,
        ),
        ParamSpec(
            "temporal_filter",
            0.0,
            "Static cameras only: weight of the previous frames in an exponential average of "
            "the disparity where it agrees within 1 px (0 = off)",
            0.0,
            0.95,
        ),
        ParamSpec(
            "wls_lambda",
            0.0,
            "Edge-aware post-filter: smoothness of OpenCV's weighted-least-squares disparity "
            "filter (cv2.ximgproc, needs opencv-contrib-python-headless; also matches the "
            "right view; 0 = off, 2000-8000 typical)",
            0.0,
            100000.0,
        ),
        ParamSpec(
            "wls_sigma",
            1.5,
            "Colour sensitivity of the WLS filter (edges it keeps)",
            0.1,
            10.0,
        ),
        ParamSpec(
            "pad_border",
            True,
            "Pad the images on the left by the disparity range so that the left border, which "
            "OpenCV leaves empty, is matched too",
        ),
    )


# Defaults tuned with benchmarks/stereo_trust.py (README, "Trustworthy classical stereo"):
# 8-path SGM with a low prefilter cap and a strong P2 halves the gross errors on real
# indoor pairs against 3-way SGBM, with Motorcycle's bad-2.0 no worse.
SGBM_PARAMS = (
    *_common(uniqueness=0.0, speckle_range=2, prefilter_cap=15, left_right_check=False),
    ParamSpec("correlation_window_size", 5, "Matched block size, pixels (odd)", 1, 11, odd=True),
    ParamSpec(
        "P1",
        0.0,
        "Penalty on disparity changes of 1 between neighbours; 0 = 8*3*window^2",
        0.0,
        100000.0,
    ),
    ParamSpec(
        "P2",
        4800.0,
        "Penalty on larger disparity changes; 0 = 32*3*window^2 (must exceed P1)",
        0.0,
        100000.0,
    ),
    ParamSpec(
        "sgbm_mode",
        1,
        "0 SGBM 5 paths, 1 HH full 8 paths (most accurate), 2 SGBM_3WAY (fastest), 3 HH4",
        0,
        3,
    ),
)

BM_PARAMS = (  # defaults: config/bm.yaml's
    *_common(uniqueness=15.0, speckle_range=4, prefilter_cap=31, left_right_check=False),
    ParamSpec("correlation_window_size", 15, "Matched block size, pixels (odd)", 5, 255, odd=True),
    ParamSpec("prefilter_size", 9, "Normalisation window of the prefilter (odd)", 5, 255, odd=True),
    ParamSpec(
        "texture_threshold", 10, "Least texture (sum of |dx|) for a match to be kept", 0, 10000
    ),
)


class OpenCVStereo:
    """A cv2.StereoSGBM or cv2.StereoBM matcher producing float disparity with NaN holes,
    and its per-pixel confidence (:mod:`depth_ros.core.confidence`).

    The speckle filter and (with ``left_right_check``) the left-right check run here, not
    inside OpenCV, so that each pixel's part in them is known; the speckle filter is
    OpenCV's own (cv2.filterSpeckles with the parameters SGBM passes it)."""

    def __init__(self, algorithm: str, params: Mapping[str, Value]) -> None:
        self.algorithm = algorithm
        self.params: dict[str, Value] = dict(params)
        self._matcher = self._create(self.params)
        self._temporal = conf.TemporalFilter()

    def update(self, params: Mapping[str, Value]) -> None:
        """Apply new values atomically: if they are inconsistent (InputError), nothing
        changes."""
        merged = {**self.params, **params}
        self._matcher = self._create(merged)
        self.params = merged
        self._temporal.reset()

    def _create(self, p: Mapping[str, Value]) -> cv2.StereoMatcher:
        import cv2

        block = int(p["correlation_window_size"])
        ndisp = int(p["disparity_range"])
        # speckles and (with left_right_check) consistency are filtered in compute()
        disp12 = -1 if p.get("left_right_check", False) else int(p["disp12_max_diff"])
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
                disp12MaxDiff=disp12,
                preFilterCap=int(p["prefilter_cap"]),
                uniquenessRatio=round(float(p["uniqueness_ratio"])),
                speckleWindowSize=0,
                speckleRange=int(p["speckle_range"]),
                mode=int(p["sgbm_mode"]),
            )
        m = cv2.StereoBM.create(numDisparities=ndisp, blockSize=block)
        m.setMinDisparity(int(p["min_disparity"]))
        m.setPreFilterSize(int(p["prefilter_size"]))
        m.setPreFilterCap(int(p["prefilter_cap"]))
        m.setTextureThreshold(int(p["texture_threshold"]))
        m.setUniquenessRatio(round(float(p["uniqueness_ratio"])))
        m.setSpeckleWindowSize(0)
        m.setSpeckleRange(int(p["speckle_range"]))
        m.setDisp12MaxDiff(disp12)
        return m

    def compute(self, left: NDArray[np.uint8], right: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Disparity (NaN invalid), after the confidence filters of the parameters."""
        return self.compute_with_confidence(left, right, want_confidence=False)[0]

    def compute_with_confidence(
        self, left: NDArray[np.uint8], right: NDArray[np.uint8], want_confidence: bool = True
    ) -> tuple[NDArray[np.float32], NDArray[np.float32] | None]:
        """(disparity, confidence in [0, 1] or None). The confidence is computed when
        wanted or needed (min_confidence > 0 or the temporal filter); pixels below
        min_confidence are NaN."""
        if left.shape != right.shape:
            raise InputError(f"left image {left.shape} and right image {right.shape} differ")
        p = self.params
        invalid = (int(p["min_disparity"]) - 1) * 16
        raw = self._match(left, right)
        # as OpenCV does inside: SGBM's speckle_range is in pixels, BM's in 1/16 pixel
        speckle_range = int(p["speckle_range"]) * (16 if self.algorithm == "sgbm" else 1)
        c_speckle, raw = conf.speckle_factor(raw, invalid, int(p["speckle_size"]), speckle_range)
        disparity = self._to_float(raw)
        min_conf = float(p.get("min_confidence", 0.0))
        alpha = float(p.get("temporal_filter", 0.0))
        lr_check = bool(p.get("left_right_check", False))
        wls = float(p.get("wls_lambda", 0.0))
        if not (want_confidence or min_conf > 0 or alpha > 0 or lr_check or wls > 0):
            return disparity, None
        c_lr = None
        if lr_check or wls > 0:  # the right view's disparity from the mirrored pair
            raw_r = np.ascontiguousarray(
                self._match(
                    np.ascontiguousarray(right[:, ::-1]), np.ascontiguousarray(left[:, ::-1])
                )[:, ::-1]
            )
            if wls > 0:
                raw = self._wls(raw, raw_r, left, wls, float(p.get("wls_sigma", 1.5)))
                disparity = self._to_float(raw)
            c_lr = conf.lr_factor(disparity, self._to_float(raw_r), float(p["disp12_max_diff"]))
            if lr_check:
                disparity[c_lr <= 0] = np.nan
        if not (want_confidence or min_conf > 0 or alpha > 0):
            return disparity, None
        gl, gr = conf.grey_u8(left), conf.grey_u8(right)
        block = int(p["correlation_window_size"])
        c_tex = conf.texture_factor(conf.texture(gl, block), float(p.get("min_texture", 0.0)))
        c_uniq = conf.uniqueness_factor(
            gl,
            gr,
            disparity,
            int(p["min_disparity"]),
            int(p["disparity_range"]),
            block,
            float(p["uniqueness_ratio"]),
        )
        valid = np.isfinite(disparity)
        confidence = conf.combine(c_lr, c_uniq, c_tex, c_speckle, valid=valid)
        disparity, confidence = self._temporal.apply(disparity, confidence, alpha)
        if min_conf > 0:
            disparity[confidence < min_conf] = np.nan
            confidence[~np.isfinite(disparity)] = 0.0
        return disparity, confidence

    def _wls(
        self,
        raw: NDArray[np.int16],
        raw_right: NDArray[np.int16],
        left: NDArray[np.uint8],
        lam: float,
        sigma: float,
    ) -> NDArray[np.int16]:
        """OpenCV's DisparityWLSFilter (Min et al. 2014, as in cv2.ximgproc's tutorial) on
        the left disparity, guided by the left image, with the right view's disparity
        (OpenCV's right-matcher convention: negated)."""
        import cv2

        ximgproc = getattr(cv2, "ximgproc", None)
        if ximgproc is None:
            raise InputError(
                "wls_lambda > 0 needs OpenCV's contrib modules (cv2.ximgproc): replace "
                "opencv-python-headless by opencv-contrib-python-headless of the same "
                f"version ({cv2.__version__}), or set wls_lambda to 0"
            )
        f = ximgproc.createDisparityWLSFilter(self._matcher)
        f.setLambda(lam)
        f.setSigmaColor(sigma)
        invalid = (int(self.params["min_disparity"]) - 1) * 16
        right = np.where(raw_right == invalid, np.int16(-invalid), -raw_right).astype(np.int16)
        # the filter leaves the matcher's unmatched left border out: pad it, as compute()
        pad = int(self.params["disparity_range"]) + max(int(self.params["min_disparity"]), 0)
        border = cv2.BORDER_REPLICATE
        out = f.filter(
            cv2.copyMakeBorder(raw, 0, 0, pad, 0, border),
            cv2.copyMakeBorder(np.ascontiguousarray(left), 0, 0, pad, 0, border),
            disparity_map_right=cv2.copyMakeBorder(right, 0, 0, pad, 0, border),
        )
        return np.ascontiguousarray(out[:, pad:], np.int16)

    def _to_float(self, raw: NDArray[np.int16]) -> NDArray[np.float32]:
        disparity: NDArray[np.float32] = raw.astype(np.float32)
        disparity *= np.float32(1.0 / 16.0)
        disparity[raw < int(self.params["min_disparity"]) * 16] = np.nan
        return disparity

    def _match(self, left: NDArray[np.uint8], right: NDArray[np.uint8]) -> NDArray[np.int16]:
        """OpenCV's fixed-point disparity (16 x pixels) of the left image."""
        import cv2

        a = left  # grey or colour, padded or not
        b = right
        if self.algorithm == "bm" and left.ndim == 3:
            a = np.asarray(cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGB2GRAY), np.uint8)
            b = np.asarray(cv2.cvtColor(np.ascontiguousarray(b), cv2.COLOR_RGB2GRAY), np.uint8)
        height, width = left.shape[:2]
        pad = int(self.params["disparity_range"]) + max(int(self.params["min_disparity"]), 0)
        if self.params["pad_border"]:
            a = np.asarray(cv2.copyMakeBorder(a, 0, 0, pad, 0, cv2.BORDER_REPLICATE), np.uint8)
            b = np.asarray(cv2.copyMakeBorder(b, 0, 0, pad, 0, cv2.BORDER_REPLICATE), np.uint8)
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
        return np.ascontiguousarray(raw, np.int16)

    def _check_size(self, width: int, height: int, padded_width: int) -> None:
        problem = size_problem(self.algorithm, self.params, width, height)
        if problem:
            raise InputError(problem)

    def disparity_range(self, width: int) -> tuple[float, float]:
        """[min_disparity, min_disparity + disparity_range - 1]: what OpenCV searches."""
        lo = int(self.params["min_disparity"])
        return float(lo), float(lo + int(self.params["disparity_range"]) - 1)

    def matched_columns(self, width: int) -> tuple[int, int]:
        """Where OpenCV can match (measured on random texture in test_opencv_stereo.py):
        SGBM matches columns [max(min_d + ndisp, 0), width + min(min_d, 0)); BM also
        leaves half its window at the right, and at the left max(min_d + ndisp + w/2 - 1,
        w/2) columns (min_d > 0: none). ``pad_border`` moves the left band out of the
        image; the WLS filter (which sees padded images) may fill both bands."""
        if float(self.params.get("wls_lambda", 0.0)) > 0:
            return 0, width
        min_d, ndisp = int(self.params["min_disparity"]), int(self.params["disparity_range"])
        if self.algorithm == "sgbm":
            start, stop = max(min_d + ndisp, 0), width + min(min_d, 0)
        else:
            half = int(self.params["correlation_window_size"]) // 2
            start = 0 if min_d > 0 else max(min_d + ndisp + half - 1, half)
            stop = width - max(half, -min_d)
        if self.params["pad_border"]:
            start = 0
        return min(max(start, 0), width), min(max(stop, 0), width)


def size_problem(algorithm: str, p: Mapping[str, Value], width: int, height: int) -> str | None:
    """Why OpenCV cannot match ``width`` x ``height`` images with parameters ``p`` (None:
    it can). OpenCV's own errors are cryptic (a failed allocation of 2^64 bytes), and they
    come only in compute(); nodes also check a parameter update against the last image."""
    block = int(p["correlation_window_size"])
    min_d, ndisp = int(p["min_disparity"]), int(p["disparity_range"])
    padded = width + (ndisp + max(min_d, 0) if p["pad_border"] else 0)
    if algorithm == "bm" and block > min(height, padded):
        return (
            f"correlation_window_size {block} is larger than the {width}x{height} image: lower it"
        )
    if algorithm == "sgbm":
        # StereoSGBM matches columns [max(min_d + ndisp, 0), width + min(min_d, 0))
        if min_d >= 0 and padded <= min_d + ndisp:
            return (
                f"the image is {width} px wide, not wider than min_disparity + "
                f"disparity_range = {min_d + ndisp}: enable pad_border or lower "
                "disparity_range"
            )
        if padded + min(min_d, 0) <= max(min_d + ndisp, 0):
            return (
                f"the image is {width} px wide: too narrow for min_disparity {min_d} with "
                f"disparity_range {ndisp} (OpenCV SGBM needs the padded width {padded} "
                f"+ min_disparity > max(min_disparity + disparity_range, 0)); raise "
                "min_disparity"
            )
    return None


def _builder(algorithm: str, specs: tuple[ParamSpec, ...]) -> Callable[[ModelConfig], OpenCVStereo]:
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
