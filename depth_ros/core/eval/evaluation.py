"""Running a model over a dataset: per-frame and aggregate metrics, with the maps the
HTML report shows.

What is evaluated depends on the model and the data:

* stereo model on stereo data: disparity (bad-1/2/3, EPE, density) against GT disparity;
  and, where the calibration is known, depth from that disparity against GT depth.
* monocular model on RGB-D data, or on stereo data with calibration: depth against GT
  depth after ``align`` (``none`` for metric models; ``median``, ``lstsq`` or
  ``lstsq-inverse`` — the default for relative inverse-depth models).
* relative monocular model on stereo data without calibration (Middlebury 2003): disparity,
  after a least-squares scale and shift fitted to the GT disparity.

Aggregate metrics are means over frames of the per-frame metrics (the KITTI/NYU
convention), not pixel-weighted means.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeAlias, TypedDict, TypeVar

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.align import ALIGN_METHODS, align
from depth_ros.core.errors import ConfigError, InputError
from depth_ros.core.eval.datasets import Dataset, Frame, Modality, RGBDFrame, StereoFrame
from depth_ros.core.eval.metrics import depth_metrics, disparity_metrics
from depth_ros.core.geometry import disparity_to_depth
from depth_ros.core.models import ModelConfig, build_model, get_model
from depth_ros.core.models.base import (
    AnyModel,
    ConfidenceStereoModel,
    InputKind,
    ModelSpec,
    OutputKind,
    StereoModel,
    run_mono,
)

F32 = NDArray[np.float32]
_S = TypeVar("_S", bound="np.generic[object]")
#: a JSON value (what :meth:`EvalResult.to_json` gives and metrics.json holds)
Json: TypeAlias = "bool | int | float | str | list[Json] | dict[str, Json] | None"
THUMB_WIDTH = 360
PLOT_SAMPLES = 20000

# Lower is better for all but these (used by the compare table).
HIGHER_IS_BETTER = frozenset({"delta1", "delta2", "delta3", "density", "depth_density"})
DEPTH_KEYS = (
    "abs_rel",
    "sq_rel",
    "rmse",
    "rmse_log",
    "silog",
    "delta1",
    "delta2",
    "delta3",
    "depth_density",
)
DISPARITY_KEYS = ("bad_1", "bad_2", "bad_3", "epe", "density")
#: confidence thresholds t of the confidence-aware figures (bad_2_c<t>, density_c<t>)
CONFIDENCE_THRESHOLDS = (0.25, 0.5, 0.75)
SPARSIFICATION_STEPS = 10


def confidence_metrics(
    pred: F32, gt: F32, conf: F32
) -> tuple[dict[str, float], list[tuple[float, float]]]:
    """Confidence-aware disparity figures. For each t in CONFIDENCE_THRESHOLDS, with the
    pixels of confidence < t made holes: ``bad_2_c<t*100>`` (percent of GT pixels, a hole
    counts as bad) and ``density_c<t*100>``. And the sparsification curve: removing the
    fraction f (0, 0.1, ... 0.9) of the predicted GT pixels with the lowest confidence,
    bad-2.0 among those kept (percent) -- a curve that falls with f means the confidence
    ranks errors first."""
    out: dict[str, float] = {}
    for t in CONFIDENCE_THRESHOLDS:
        kept = np.where(conf >= t, pred, np.nan).astype(np.float32)
        m = disparity_metrics(kept, gt)
        out[f"bad_2_c{round(t * 100)}"] = m["bad_2"] * 100.0
        out[f"density_c{round(t * 100)}"] = m["density"]
    ok = np.isfinite(gt) & (gt > 0) & np.isfinite(pred)
    bad = (np.abs(pred[ok] - gt[ok]) > 2.0)[np.argsort(conf[ok], kind="stable")]
    curve = []
    for i in range(SPARSIFICATION_STEPS):
        f = i / SPARSIFICATION_STEPS
        rest = bad[round(f * bad.size) :]
        curve.append((f, float(rest.mean() * 100.0) if rest.size else math.nan))
    return out, curve


class MetricsDoc(TypedDict):
    """What :meth:`EvalResult.to_json` gives and metrics.json holds."""

    model: str
    model_output: str
    dataset: str
    dataset_path: str
    align: str
    target: str
    valid_mask: str
    min_depth: float
    max_depth: float | None
    frames_evaluated: int
    aggregate: dict[str, Json]
    frames: list[dict[str, Json]]
    notes: list[str]
    config: dict[str, Json]


@dataclass(frozen=True)
class TargetMaps:
    """One target's (disparity or depth) thumbnails for the report, and sampled
    (GT, error) pairs for its plots."""

    pred: F32
    gt: F32
    err: F32
    samples: tuple[F32, F32]


@dataclass
class FrameMaps:
    """What the report shows of one frame (nothing when maps are not kept)."""

    rgb: NDArray[np.uint8] | None = None  # the input, thumbnail
    disp: TargetMaps | None = None
    depth: TargetMaps | None = None
    #: (fraction removed, bad-2.0 of the rest), models with a confidence
    sparsification: list[tuple[float, float]] | None = None

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.rgb, self.disp, self.depth, self.sparsification))


@dataclass
class FrameResult:
    """The metrics of one frame, its inference time, the alignment applied and its report maps."""

    name: str
    metrics: dict[str, float]
    seconds: float
    scale: float = 1.0
    shift: float = 0.0
    maps: FrameMaps = field(default_factory=FrameMaps)  # for the report


@dataclass
class EvalResult:
    """The result of :func:`evaluate`: per-frame results and how they were obtained."""

    model: str
    model_output: str
    dataset: str
    dataset_path: str
    align: str
    target: str  # "disparity", "depth" or "disparity+depth"
    valid_mask: str
    min_depth: float
    max_depth: float | None
    frames: list[FrameResult]
    notes: list[str] = field(default_factory=list)
    config: dict[str, Json] = field(default_factory=dict)

    @property
    def aggregate(self) -> dict[str, float]:
        """Mean over frames of each metric (finite values only), and ``seconds_per_frame``."""
        keys: list[str] = []
        for f in self.frames:
            keys.extend(k for k in f.metrics if k not in keys)
        out: dict[str, float] = {}
        for k in keys:
            vals = [f.metrics.get(k, math.nan) for f in self.frames]
            finite = [v for v in vals if math.isfinite(v)]
            out[k] = float(np.mean(finite)) if finite else math.nan
        secs = [f.seconds for f in self.frames]
        out["seconds_per_frame"] = float(np.mean(secs)) if secs else math.nan
        return out

    def to_json(self) -> MetricsDoc:
        """The document metrics.json holds (non-finite numbers as null)."""

        def clean(d: Mapping[str, float]) -> dict[str, Json]:
            return {k: (v if math.isfinite(v) else None) for k, v in d.items()}

        def curve(points: list[tuple[float, float]]) -> list[Json]:
            return [[f, bad if math.isfinite(bad) else None] for f, bad in points]

        frames: list[dict[str, Json]] = [
            {
                "name": f.name,
                "seconds": f.seconds,
                "scale": f.scale,
                "shift": f.shift,
                **clean(f.metrics),
                **(
                    {"sparsification": curve(f.maps.sparsification)}
                    if f.maps.sparsification is not None
                    else {}
                ),
            }
            for f in self.frames
        ]
        return {
            "model": self.model,
            "model_output": self.model_output,
            "dataset": self.dataset,
            "dataset_path": self.dataset_path,
            "align": self.align,
            "target": self.target,
            "valid_mask": self.valid_mask,
            "min_depth": self.min_depth,
            "max_depth": self.max_depth,
            "frames_evaluated": len(self.frames),
            "aggregate": clean(self.aggregate),
            "frames": frames,
            "notes": list(self.notes),
            "config": dict(self.config),
        }


def default_align(spec: ModelSpec) -> str:
    """The alignment a model's output needs by default: its published evaluation's
    (``ModelSpec.eval_align``), else ``lstsq-inverse`` for relative models and ``none``
    for metric ones."""
    if spec.eval_align is not None:
        return spec.eval_align
    return "lstsq-inverse" if spec.output_kind == OutputKind.RELATIVE else "none"


def _thumb(arr: NDArray[_S]) -> NDArray[_S]:
    step = max(1, math.ceil(arr.shape[1] / THUMB_WIDTH))
    return np.ascontiguousarray(arr[::step, ::step])


def _samples(gt: F32, err: F32, rng: np.random.Generator) -> tuple[F32, F32]:
    ok = np.isfinite(gt) & np.isfinite(err)
    g, e = gt[ok], err[ok]
    if g.size > PLOT_SAMPLES:
        idx = rng.choice(g.size, PLOT_SAMPLES, replace=False)
        g, e = g[idx], e[idx]
    return g.astype(np.float32), e.astype(np.float32)


class _Evaluator:
    def __init__(
        self,
        spec: ModelSpec,
        method: str,
        min_depth: float,
        max_depth: float | None,
        keep_maps: bool,
    ) -> None:
        self.spec = spec
        self.method = method
        self.min_depth = min_depth
        self.max_depth = max_depth
        self.keep_maps = keep_maps
        self.rng = np.random.default_rng(0)

    def depth_mask(self, gt: F32) -> NDArray[np.bool_]:
        m = np.isfinite(gt) & (gt > self.min_depth)
        if self.max_depth is not None:
            m &= gt <= self.max_depth
        return np.asarray(m, dtype=np.bool_)

    def depth(
        self, pred: F32, relative: bool, gt: F32, out: FrameResult, rgb: NDArray[np.uint8]
    ) -> None:
        """Align ``pred`` (relative inverse depth, or depth in metres) and score it."""
        mask = self.depth_mask(gt)
        if relative != (self.method == "lstsq-inverse"):  # convert depth <-> inverse depth
            with np.errstate(divide="ignore"):
                src = np.where(pred > 0, 1.0 / pred, np.nan).astype(np.float32)
        else:
            src = pred
        aligned, (s, t) = align(self.method, src, gt, mask)
        lo, hi = self.min_depth, self.max_depth if self.max_depth is not None else np.inf
        fin = np.isfinite(aligned)
        aligned[fin] = np.clip(aligned[fin], lo, hi)  # Eigen et al.'s capping
        m = depth_metrics(aligned, gt, mask)
        m["depth_density"] = m.pop("density")
        m.pop("valid_pixels", None)
        out.metrics.update(m)
        out.scale, out.shift = s, t
        if self.keep_maps:
            gt_m = np.where(mask, gt, np.nan).astype(np.float32)
            err = (np.abs(aligned - gt_m) / gt_m).astype(np.float32)
            out.maps.rgb = _thumb(rgb)
            out.maps.depth = TargetMaps(
                _thumb(aligned), _thumb(gt_m), _thumb(err), _samples(gt_m, err, self.rng)
            )

    def disparity(
        self,
        pred: F32,
        gt: F32,
        out: FrameResult,
        rgb: NDArray[np.uint8],
        confidence: F32 | None = None,
    ) -> None:
        m = disparity_metrics(pred, gt)
        for k in list(m):
            if k.startswith("bad_"):
                m[k] *= 100.0  # percent, as Middlebury and KITTI report it
        m.pop("gt_pixels", None)
        m.pop("invalid", None)
        out.metrics.update(m)
        if confidence is not None:
            figures, curve = confidence_metrics(pred, gt, confidence)
            out.metrics.update(figures)
            out.maps.sparsification = curve
        if self.keep_maps:
            err = np.abs(pred - gt).astype(np.float32)
            out.maps.rgb = _thumb(rgb)
            out.maps.disp = TargetMaps(
                _thumb(pred), _thumb(gt), _thumb(err), _samples(gt, err, self.rng)
            )


def _right(frame: Frame) -> NDArray[np.uint8]:
    if not isinstance(frame, StereoFrame):  # the dataset's modality was checked
        raise InputError(f"{frame.name}: a stereo model needs a stereo frame")
    return frame.right


def evaluate(
    model_id: str,
    dataset: Dataset,
    config: ModelConfig | None = None,
    align_method: str | None = None,
    min_depth: float = 1e-3,
    max_depth: float | None = None,
    progress: bool = True,
    keep_maps: bool = True,
    model: AnyModel | None = None,
) -> EvalResult:
    """Run ``model_id`` over ``dataset``. ``model``: an already built model to reuse."""
    spec = get_model(model_id)
    method = align_method or default_align(spec)
    if method not in ALIGN_METHODS:
        raise ConfigError(
            f"unknown alignment {method!r}; expected one of {', '.join(ALIGN_METHODS)}"
        )
    relative = spec.output_kind == OutputKind.RELATIVE
    if relative and method == "none":
        raise ConfigError(
            f"model {model_id!r} predicts relative inverse depth: choose an "
            "alignment (--align lstsq-inverse, lstsq or median)"
        )
    stereo_model = spec.input_kind == InputKind.STEREO
    if stereo_model and dataset.modality != Modality.STEREO:
        raise ConfigError(
            f"stereo model {model_id!r} needs a stereo dataset; "
            f"{dataset.kind!r} is {dataset.modality.value}"
        )
    cap = max_depth if max_depth is not None else dataset.max_depth or spec.max_depth
    runner = model if model is not None else build_model(model_id, config or ModelConfig())
    ev = _Evaluator(spec, method, min_depth, cap, keep_maps)
    run: Callable[[Frame], F32]
    confidence: list[F32 | None] = [None]  # of the last frame, when the model has one
    if isinstance(runner, ConfidenceStereoModel):
        matcher = runner

        def run(fr: Frame) -> F32:
            disp, confidence[0] = matcher.compute_with_confidence(fr.rgb, _right(fr))
            return np.asarray(disp, dtype=np.float32)
    elif isinstance(runner, StereoModel):
        plain = runner

        def run(fr: Frame) -> F32:
            return np.asarray(plain.compute(fr.rgb, _right(fr)), dtype=np.float32)
    else:
        mono = runner

        def run(fr: Frame) -> F32:
            # camera-aware models see the frame's intrinsics, as in the node
            return run_mono(mono, fr.rgb, fr.camera).depth

    frames: list[FrameResult] = []
    targets: set[str] = set()
    notes = list(dataset.notes)
    iterator: Iterable[Frame] = iter(dataset)
    if progress:
        from tqdm import tqdm

        iterator = tqdm(
            iterator, total=len(dataset), desc=f"{model_id} on {dataset.kind}", unit="frame"
        )
    for frame in iterator:
        t0 = time.perf_counter()
        pred = run(frame)
        seconds = time.perf_counter() - t0
        if pred.shape != frame.rgb.shape[:2]:
            raise InputError(
                f"{model_id} returned {pred.shape} for a "
                f"{frame.rgb.shape[:2]} image of {frame.name}"
            )
        res = FrameResult(frame.name, {}, seconds)
        if isinstance(frame, StereoFrame):
            if stereo_model:
                if frame.disparity is not None:
                    ev.disparity(pred, frame.disparity, res, frame.left, confidence[0])
                    targets.add("disparity")
                if frame.geometry is not None and frame.depth is not None:
                    ev.depth(
                        disparity_to_depth(pred, frame.geometry),
                        False,
                        frame.depth,
                        res,
                        frame.left,
                    )
                    targets.add("depth")
            elif frame.depth is not None:
                ev.depth(pred, relative, frame.depth, res, frame.left)
                targets.add("depth")
            elif relative and frame.disparity is not None:
                # inverse depth is affine in disparity: fit scale and shift to GT disparity
                fitted, (s, t) = align("lstsq", pred, frame.disparity)
                ev.disparity(fitted, frame.disparity, res, frame.left)
                res.scale, res.shift = s, t
                targets.add("disparity")
                note = "relative prediction fitted to GT disparity (lstsq scale+shift)"
                if note not in notes:
                    notes.append(note)
            else:
                raise ConfigError(
                    f"{frame.name}: no calibration to compare the metric "
                    f"depth of {model_id!r} with GT disparity"
                )
        elif isinstance(frame, RGBDFrame):
            ev.depth(pred, relative, frame.depth, res, frame.rgb)
            targets.add("depth")
        frames.append(res)

    target = "+".join(t for t in ("disparity", "depth") if t in targets)
    masks = []
    if "disparity" in targets:
        masks.append(
            "disparity: GT finite and > 0 (bad-N counts a missing prediction as "
            "bad; EPE over predicted pixels)"
        )
    if "depth" in targets:
        rng = f"GT in ({min_depth:g}, {cap:g}] m" if cap else f"GT finite and > {min_depth:g} m"
        masks.append(
            f"depth: {rng}, prediction finite and > 0, clipped to "
            f"[{min_depth:g}, {cap if cap else 'inf'}] m after alignment "
            f"'{method}'"
        )
    cfg = config or ModelConfig()
    return EvalResult(
        model=model_id,
        model_output=spec.output_kind.value,
        dataset=dataset.kind,
        dataset_path=dataset.path,
        align=method if "depth" in targets else "none",
        target=target,
        valid_mask="; ".join(masks),
        min_depth=min_depth,
        max_depth=cap,
        frames=frames,
        notes=notes,
        config={
            "weights": str(cfg.weights) if cfg.weights else None,
            "backend": cfg.backend,
            "device": cfg.device,
            "input_size": cfg.input_size,
            "params": dict(cfg.params),
        },
    )
