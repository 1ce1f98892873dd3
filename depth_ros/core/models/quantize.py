"""Int8 quantisation of an ONNX network (stereo: HITNet, PSMNet; mono: Monodepth2) with
ONNX Runtime's tools (``onnxruntime.quantization``), for faster CPU inference.

* ``static`` (the default): the convolutions int8 in QDQ format (QUInt8 activations,
  QInt8 weights per output channel, run as QLinearConv: VNNI on x86 CPUs that have it);
  activation ranges are calibrated (MinMax) on a few real stereo pairs or images, run
  through the model's own preprocessing. The other operators (HITNet's tile warping and
  hypothesis updates, Monodepth2's reflection padding, ELU and upsampling) stay float,
  and so do convolutions with a single output channel (:func:`single_channel_convs`):
  quantising every operator per tensor raised HITNet's Motorcycle bad-2.0 from 5.7 % to
  62 %; Conv only, per channel: 13.7 %. Monodepth2 (random weights, measured): about 2x
  as fast as fp32 in ONNX Runtime, disparity within about 1 % of its range on average.
* ``dynamic``: int8 weights only, activations quantised on the fly (no calibration). For
  convolutional networks such as HITNet this is *slower* on CPU than fp32 (ConvInteger):
  measured, see the README.

The source file's metadata (``depth_ros.*``) is kept, and ``depth_ros.quantization``
records the mode, so the file runs with ``--weights file.onnx`` like the fp32 one.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.errors import ConfigError, WeightsError

if TYPE_CHECKING:
    import onnx

META_QUANT = "depth_ros.quantization"
MODES = ("static", "dynamic")
Pair = tuple[NDArray[np.uint8], NDArray[np.uint8]]
Image = NDArray[np.uint8]
Feed = dict[str, NDArray[np.float32]]


@dataclass(frozen=True)
class QuantizeResult:
    """What :func:`quantize_onnx` wrote: the file, mode, calibration frames, time and sizes."""

    path: Path
    mode: str
    calibration_frames: int
    seconds: float
    bytes_in: int
    bytes_out: int


def _hitnet_feed(left: NDArray[np.uint8], right: NDArray[np.uint8]) -> Feed:
    from depth_ros.core.models._learned_stereo import padded_size
    from depth_ros.core.models.hitnet import INPUTS, SIZE_MULTIPLE, preprocess

    h, w = left.shape[:2]
    return {
        INPUTS[0]: preprocess(
            left, right, padded_size(h, SIZE_MULTIPLE), padded_size(w, SIZE_MULTIPLE)
        )
    }


def _psmnet_feed(left: NDArray[np.uint8], right: NDArray[np.uint8]) -> Feed:
    from depth_ros.core.models._learned_stereo import padded_size
    from depth_ros.core.models.psmnet import INPUTS, MIN_SIZE, SIZE_MULTIPLE, preprocess

    h, w = left.shape[:2]
    ph, pw = padded_size(h, SIZE_MULTIPLE, MIN_SIZE), padded_size(w, SIZE_MULTIPLE, MIN_SIZE)
    return {INPUTS[0]: preprocess(left, ph, pw), INPUTS[1]: preprocess(right, ph, pw)}


def _monodepth2_feed(rgb: Image) -> Feed:
    from depth_ros.core.models.loading import MONO_INPUTS
    from depth_ros.core.models.monodepth2 import prepare

    return {MONO_INPUTS[0]: prepare(rgb)}


#: the network inputs of a stereo pair, per stereo model (what it hands to its backend)
FEEDS: dict[str, Callable[[Image, Image], Feed]] = {
    "hitnet": _hitnet_feed,
    "psmnet": _psmnet_feed,
}
#: the network inputs of one image, per mono model (its exported file has a fixed size)
MONO_FEEDS: dict[str, Callable[[Image], Feed]] = {
    "monodepth2_mono_640x192": _monodepth2_feed,
    "monodepth2_stereo_640x192": _monodepth2_feed,
}


def calibration_pairs(folder: Path | None) -> list[Pair]:
    """Stereo pairs for calibration: ``folder/left/*`` and ``folder/right/*`` paired by
    name, or (None) the embedded Middlebury Motorcycle pair."""
    from depth_ros.core.eval.datasets.base import read_rgb

    if folder is None:
        from depth_ros.core.eval.samples import motorcycle

        s = motorcycle()
        return [(np.ascontiguousarray(s.left), np.ascontiguousarray(s.right))]
    lefts = sorted(p for p in (folder / "left").glob("*") if p.is_file())
    pairs = [
        (read_rgb(p), read_rgb(folder / "right" / p.name))
        for p in lefts
        if (folder / "right" / p.name).is_file()
    ]
    if not pairs:
        raise ConfigError(f"{folder}: no left/<name> with a right/<name> image to calibrate on")
    return pairs


def calibration_images(folder: Path | None) -> list[Image]:
    """Images for a mono model's calibration: the image files in ``folder`` (sorted by
    name), or (None) the two views of the embedded Motorcycle pair. Frames of the robot's
    own camera calibrate best."""
    from depth_ros.core.eval.datasets.base import image_files, read_rgb
    from depth_ros.core.imagefile import IMAGE_SUFFIXES

    if folder is None:
        return [np.ascontiguousarray(view) for view in calibration_pairs(None)[0]]
    if not folder.is_dir():
        raise ConfigError(f"--calibration {folder}: not a folder of images")
    files = image_files(folder, IMAGE_SUFFIXES)
    if not files:
        raise ConfigError(f"{folder}: no image files ({', '.join(IMAGE_SUFFIXES)}) to calibrate on")
    return [read_rgb(p) for p in files]


def calibration_feeds(model_id: str, folder: Path | None) -> list[Feed]:
    """The calibration inputs of ``model_id`` (stereo pairs or images from ``folder``, see
    :func:`calibration_pairs` and :func:`calibration_images`); ConfigError for a model
    without static calibration."""
    if model_id in FEEDS:
        pair_feed = FEEDS[model_id]
        return [pair_feed(left, right) for left, right in calibration_pairs(folder)]
    if model_id in MONO_FEEDS:
        image_feed = MONO_FEEDS[model_id]
        return [image_feed(rgb) for rgb in calibration_images(folder)]
    raise ConfigError(
        f"static int8 calibration is defined for {', '.join([*FEEDS, *MONO_FEEDS])}; "
        "use --quantize int8-dynamic"
    )


class _Reader:
    """onnxruntime.quantization.CalibrationDataReader over prepared feeds."""

    def __init__(self, feeds: Sequence[Feed]) -> None:
        self._it: Iterator[Feed] = iter(feeds)

    def get_next(self) -> Feed | None:
        return next(self._it, None)


def quantize_onnx(
    src: Path, dst: Path, mode: str = "static", feeds: Sequence[Feed] = ()
) -> QuantizeResult:
    """Write the int8 version of ``src`` to ``dst`` (see the module for the modes)."""
    try:
        import onnx
        from onnxruntime.quantization import (
            QuantFormat,
            QuantType,
            quantize_dynamic,
            quantize_static,
        )
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as e:
        raise ConfigError(f"int8 quantisation needs onnx and onnxruntime: {e}") from None
    if mode not in MODES:
        raise ConfigError(f"quantisation mode {mode!r}: expected one of {', '.join(MODES)}")
    if not src.is_file() or src.suffix.lower() != ".onnx":
        raise WeightsError(f"{src}: expected an ONNX file (.onnx) to quantise")
    if mode == "static" and not feeds:
        raise ConfigError("static quantisation needs calibration inputs")
    t0 = time.perf_counter()
    meta = {p.key: p.value for p in onnx.load(str(src), load_external_data=False).metadata_props}
    dst.parent.mkdir(parents=True, exist_ok=True)
    if mode == "dynamic":
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            pre = Path(tmp) / "pre.onnx"
            quant_pre_process(src, pre, skip_symbolic_shape=True)
            quantize_static(
                pre,
                dst,
                _Reader(feeds),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["Conv"],
                nodes_to_exclude=single_channel_convs(onnx.load(str(pre))),
            )
    model = onnx.load(str(dst))
    _set_metadata(model, {**meta, META_QUANT: f"int8-{mode}"})
    onnx.save(model, str(dst))
    return QuantizeResult(
        dst,
        mode,
        len(feeds) if mode == "static" else 0,
        time.perf_counter() - t0,
        src.stat().st_size,
        dst.stat().st_size,
    )


def single_channel_convs(model: onnx.ModelProto) -> list[str]:
    """The (named) convolutions with one output channel: a network's output heads
    (Monodepth2's disparity head; HITNet's graph has none). They stay float: their int8
    output would keep only 256 levels of the result, and ONNX Runtime's int8 kernel is no
    faster there (measured on Monodepth2: the same time, largest disparity error 12 % →
    4.8 % of the range)."""
    weights = {t.name: list(t.dims) for t in model.graph.initializer}
    return [
        n.name
        for n in model.graph.node
        if n.op_type == "Conv" and n.name and weights.get(n.input[1], [0])[0] == 1
    ]


def _set_metadata(model: onnx.ModelProto, values: Mapping[str, str]) -> None:
    existing = {p.key: p for p in model.metadata_props}
    for key, value in values.items():
        if key in existing:
            existing[key].value = value
        else:
            entry = model.metadata_props.add()
            entry.key, entry.value = key, value
