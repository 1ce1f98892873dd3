"""Monodepth2 (Godard et al., "Digging Into Self-Supervised Monocular Depth Estimation",
ICCV 2019), ResNet-18 at 640x192, trained on KITTI: ``monodepth2_mono_640x192`` (trained
on monocular video: relative, up to an unknown scale) and ``monodepth2_stereo_640x192``
(trained on stereo pairs: metric with the published scale factor 5.4).

The official release is a zip per model (``mono_640x192.zip``, ``stereo_640x192.zip``)
holding a folder with ``encoder.pth`` (the ResNet-18 ``state_dict`` plus the entries
``height``, ``width`` and ``use_stereo``) and ``depth.pth`` (the decoder); both load
unchanged, strict, with ``torch.load(weights_only=True)``. The ``weights`` parameter is
that folder, or its ``encoder.pth`` with ``depth.pth`` beside it, or an exported ONNX file.
The official weights are under the Monodepth2 licence (non-commercial use only).

Inference reproduces the official ``test_simple.py``: the RGB image resized to the
trained 640x192 with PIL's LANCZOS filter, scaled to [0, 1] (``ToTensor``; the encoder
normalises with (x - 0.45) / 0.225 itself), disparity ``("disp", 0)`` resized bilinearly
(align_corners=False) to the image size, then ``disp_to_depth(disp, 0.1, 100)``:
``scaled = 1/100 + (1/0.1 - 1/100) * disp``. The mono model outputs ``scaled`` (relative
inverse depth); the stereo model outputs ``5.4 / scaled`` metres (``--pred_metric_depth``,
``STEREO_SCALE_FACTOR`` of the official ``evaluate_depth.py``).
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.errors import ConfigError, WeightsError
from depth_ros.core.models import register_model
from depth_ros.core.models.base import InputKind, ModelConfig, ModelSpec, OutputKind
from depth_ros.core.params import ParamSpec, Value

if TYPE_CHECKING:
    import torch
    from torch import nn

    from depth_ros.core.backends.base import Backend
    from depth_ros.core.models.checkpoints import StateDict
    from depth_ros.core.models.export import ExportSpec

FEED_HEIGHT, FEED_WIDTH = 192, 640
MIN_DEPTH, MAX_DEPTH = 0.1, 100.0  # disp_to_depth(disp, 0.1, 100) in test_simple.py
STEREO_SCALE_FACTOR = 5.4  # evaluate_depth.py: metric depth of the stereo-trained models
KITTI_MAX_DEPTH = 80.0  # evaluate_depth.py caps the KITTI evaluation at 80 m
URL = "https://storage.googleapis.com/niantic-lon-static/research/monodepth2/{}.zip"
ENCODER_FILE, DEPTH_FILE = "encoder.pth", "depth.pth"
ENCODER_EXTRAS = ("height", "width", "use_stereo")

#: model ID suffix → (release name, output kind, trained with stereo pairs)
VARIANTS = {
    "mono": ("mono_640x192", OutputKind.RELATIVE, False),
    "stereo": ("stereo_640x192", OutputKind.METRIC, True),
}

DOWNLOAD = ParamSpec(
    "download",
    True,
    "Download and unpack the official release zip into the cache when no weights are given",
    read_only=True,
)
PARAMS = (DOWNLOAD,)


@dataclass(frozen=True)
class Monodepth2Weights:
    """The two files of an official release folder."""

    encoder: Path
    depth: Path


def _what(release: str) -> str:
    return (
        f"Monodepth2 {release} weights (a folder with {ENCODER_FILE} and {DEPTH_FILE}, "
        f"as unpacked from {URL.format(release)})"
    )


def _folder_files(path: Path, release: str) -> Monodepth2Weights:
    """The folder, or encoder.pth with depth.pth beside it → both files, checked."""
    what = _what(release)
    if not path.exists():
        raise WeightsError(f"weights path {path} not found: expected the {what}")
    if path.is_dir():
        encoder, depth = path / ENCODER_FILE, path / DEPTH_FILE
    elif path.name == DEPTH_FILE:
        encoder, depth = path.with_name(ENCODER_FILE), path
    else:
        encoder, depth = path, path.with_name(DEPTH_FILE)
    for f in (encoder, depth):
        if not f.is_file():
            raise WeightsError(f"{f} not found (weights {path}): expected the {what}")
    return Monodepth2Weights(encoder, depth)


def _download_zip(url: str, target: Path) -> None:
    from torch.hub import download_url_to_file

    part = target.with_name(target.name + ".part")
    download_url_to_file(url, str(part), progress=True)
    part.replace(target)


def resolve(
    weights: Path | str | None,
    release: str,
    allow_download: bool = True,
    downloader: Callable[[str, Path], None] | None = None,
) -> Monodepth2Weights | Path:
    """The release folder's files (or an exported file) for ``weights``; with none given,
    the folder ``<cache>/<release>`` (downloaded and unpacked there once from the official
    zip unless downloads are off)."""
    from depth_ros.core.backends import is_exported
    from depth_ros.core.models.loading import cache_dir, offline

    if weights is not None and str(weights) != "":
        p = Path(weights).expanduser()
        if is_exported(p):
            if not p.is_file():
                raise WeightsError(
                    f"weights file {p} not found: expected an exported "
                    f"network or the {_what(release)}"
                )
            return p
        return _folder_files(p, release)
    folder = cache_dir() / release
    if (folder / ENCODER_FILE).is_file():
        return _folder_files(folder, release)
    url = URL.format(release)
    hint = (
        f"download {url}, unzip it and pass the folder as the weights parameter, "
        f"or unzip it into {folder}"
    )
    if not allow_download or offline():
        raise WeightsError(
            f"no weights given for the {_what(release)} and {folder} does not "
            f"exist; downloads are switched off; {hint}"
        )
    archive = cache_dir() / f"{release}.zip"
    try:
        archive.parent.mkdir(parents=True, exist_ok=True)
        (downloader or _download_zip)(url, archive)
        with zipfile.ZipFile(archive) as z:
            z.extractall(folder)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise WeightsError(
            f"no weights given for the {_what(release)} and downloading or "
            f"unpacking {url} failed ({type(exc).__name__}: {reason}); "
            f"{hint}"
        ) from exc
    return _folder_files(folder, release)


def read_encoder(path: Path, release: str) -> tuple[StateDict, dict[str, Value]]:
    """encoder.pth → (tensors, {"height", "width", "use_stereo"}), read with
    ``torch.load(weights_only=True)``; WeightsError naming the file on any problem."""
    import pickle

    import torch

    from depth_ros.core.models.checkpoints import unwrap_state_dict

    what = f"Monodepth2 {release} encoder ({ENCODER_FILE} of {URL.format(release)})"
    if not zipfile.is_zipfile(path):
        raise WeightsError(
            f"{path} is not a PyTorch checkpoint (not a zip archive: corrupt, "
            f"truncated or another format); expected the {what}"
        )
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, Exception) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise WeightsError(
            f"{path} is not a readable PyTorch checkpoint "
            f"({type(exc).__name__}: {first}); expected the {what}"
        ) from exc
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{path}: found a {type(obj).__name__}, expected the {what}")
    extras: dict[str, Value] = {}
    for k in ENCODER_EXTRAS:
        v = obj.get(k)
        if isinstance(v, (bool, int, float)):
            extras[k] = v
    tensors = {k: v for k, v in obj.items() if k not in ENCODER_EXTRAS}
    return unwrap_state_dict(tensors, path, what), extras


def torch_module(files: Monodepth2Weights, release: str, use_stereo: bool) -> nn.Module:
    """The network with both official files loaded (strict), eval mode. The trained size
    recorded in encoder.pth must be 640x192; the stereo model refuses weights trained
    without stereo (their depth has no metric scale)."""
    from depth_ros.core.models.checkpoints import load_state_dict_file, load_strict
    from depth_ros.core.models.nets.monodepth2 import Monodepth2Net

    enc_state, extras = read_encoder(files.encoder, release)
    size = (extras.get("width"), extras.get("height"))
    if None not in size and size != (FEED_WIDTH, FEED_HEIGHT):
        raise WeightsError(
            f"{files.encoder} was trained at {size[0]}x{size[1]}; this model ID runs the "
            f"{FEED_WIDTH}x{FEED_HEIGHT} release ({URL.format(release)})"
        )
    if use_stereo and extras.get("use_stereo") is False:
        raise WeightsError(
            f"{files.encoder} is a monocular-trained Monodepth2 encoder (use_stereo False): "
            f"its depth has no metric scale; the metric model needs {URL.format(release)}"
        )
    dec_state = load_state_dict_file(
        files.depth, expected=f"Monodepth2 {release} depth decoder ({DEPTH_FILE})"
    )
    net = Monodepth2Net()
    load_strict(net.encoder, enc_state, files.encoder, f"Monodepth2 {release} {ENCODER_FILE}")
    load_strict(net.depth, dec_state, files.depth, f"Monodepth2 {release} {DEPTH_FILE}")
    return net.eval()


def prepare(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """RGB uint8 (H, W, 3) → (1, 3, 192, 640) float32 in [0, 1], as test_simple.py: PIL
    ``resize((640, 192), LANCZOS)`` of the uint8 image, then ToTensor (divide by 255),
    written channel-first in one pass."""
    from PIL import Image

    from depth_ros.core.models.loading import check_rgb

    check_rgb(rgb)
    resized = np.asarray(
        Image.fromarray(np.ascontiguousarray(rgb)).resize(
            (FEED_WIDTH, FEED_HEIGHT), Image.Resampling.LANCZOS
        )
    )
    x = np.empty((1, 3, FEED_HEIGHT, FEED_WIDTH), dtype=np.float32)
    np.divide(resized.transpose(2, 0, 1), np.float32(255.0), out=x[0], dtype=np.float32)
    return x


def _linear_taps(
    n_in: int, n_out: int
) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.float32]]:
    """Source taps and weights of PyTorch's bilinear rule with align_corners=False:
    src = (dst + 0.5) * n_in / n_out - 0.5, negative positions clamped to 0, in float32
    as PyTorch computes it on the CPU."""
    scale = np.float32(n_in / n_out)
    pos = np.maximum(
        scale * (np.arange(n_out, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5),
        np.float32(0.0),
    )
    lo = np.minimum(np.floor(pos).astype(np.intp), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, (pos - lo).astype(np.float32)


def upsample_bilinear(src: NDArray[np.float32], height: int, width: int) -> NDArray[np.float32]:
    """F.interpolate(mode="bilinear", align_corners=False) of a (h, w) map (no
    antialiasing), separable: columns on the small map first, then whole rows (contiguous
    gathers), each pass in place on its gathered copy."""
    a = np.asarray(src, dtype=np.float32)
    lo, hi, t = _linear_taps(a.shape[1], width)
    cols = a[:, lo]
    cols += (a[:, hi] - cols) * t
    lo, hi, t = _linear_taps(a.shape[0], height)
    out = cols[lo]
    out += (cols[hi] - out) * t[:, None]
    return out


def disp_to_depth(disp: NDArray[np.float32]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Official ``disp_to_depth(disp, 0.1, 100)``: (scaled disparity, depth = 1/scaled)."""
    scaled = scaled_disparity(disp)
    return scaled, np.float32(1.0) / scaled


def scaled_disparity(disp: NDArray[np.float32]) -> NDArray[np.float32]:
    """The ``scaled`` disparity of ``disp_to_depth``: 1/100 + (1/0.1 - 1/100) * disp."""
    min_disp, max_disp = np.float32(1 / MAX_DEPTH), np.float32(1 / MIN_DEPTH)
    scaled: NDArray[np.float32] = min_disp + (max_disp - min_disp) * disp
    return scaled


class Monodepth2Model:
    """A MonoModel: relative scaled disparity (mono) or metres (stereo)."""

    def __init__(self, runner: Backend, metric: bool) -> None:
        self.runner = runner
        self.metric = metric

    def update(self, params: Mapping[str, Value]) -> None:
        """No runtime parameters: the network runs at its trained 640x192."""

    def network_input(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """The (1, 3, 192, 640) network input for ``rgb`` (see :func:`prepare`)."""
        return prepare(rgb)

    def predict(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Scaled disparity (mono releases) or metres (stereo-trained releases) at the image's
        size."""
        x = prepare(rgb)
        disp = np.asarray(self.runner.run([x])[0], dtype=np.float32)
        # the affine disp_to_depth commutes with bilinear resizing: applied at network
        # size (a quarter of the pixels of a VGA image), then resized
        scaled = upsample_bilinear(
            scaled_disparity(disp.reshape(disp.shape[-2:])), rgb.shape[0], rgb.shape[1]
        )
        if self.metric:
            return np.divide(np.float32(STEREO_SCALE_FACTOR), scaled, out=scaled)
        return scaled

    def close(self) -> None:
        """Release the backend."""
        self.runner.close()


def _random_state(state: Mapping[str, torch.Tensor], seed: int) -> StateDict:
    """Random weights that keep activations in range through the 14 decoder convolutions
    (so the sigmoid disparity is not saturated): convolutions N(0, 1/fan_in), BatchNorm
    weight ~ 1, bias ~ 0, running statistics 0 and 1, biases N(0, 0.05)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    out: StateDict = {}
    for name, value in state.items():
        if not value.dtype.is_floating_point:
            out[name] = value
        elif name.endswith("running_mean"):
            out[name] = torch.zeros_like(value)
        elif name.endswith("running_var"):
            out[name] = torch.ones_like(value)
        elif value.ndim > 1:
            fan_in = int(np.prod(value.shape[1:]))
            out[name] = torch.randn(value.shape, generator=g) / fan_in**0.5
        elif name.endswith("weight"):  # BatchNorm scale
            out[name] = 1.0 + 0.1 * torch.randn(value.shape, generator=g)
        else:
            out[name] = 0.05 * torch.randn(value.shape, generator=g)
    return out


def _random_checkpoint(release: str, use_stereo: bool) -> Callable[[Path], None]:
    """Writes an official-layout release folder (encoder.pth with its extra entries,
    depth.pth) with random weights, for timing and tests: at ``path``, or beside it when
    ``path`` is the folder's encoder.pth (the spec's weights_file)."""

    def write(path: Path) -> None:
        import torch

        from depth_ros.core.models.nets.monodepth2 import Monodepth2Net

        net = Monodepth2Net()
        folder = Path(path).parent if Path(path).name == ENCODER_FILE else Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        enc: dict[str, torch.Tensor | int | bool] = {}
        enc.update(_random_state(net.encoder.state_dict(), seed=0))
        enc.update(height=FEED_HEIGHT, width=FEED_WIDTH, use_stereo=use_stereo)
        torch.save(enc, folder / ENCODER_FILE)
        torch.save(_random_state(net.depth.state_dict(), seed=1), folder / DEPTH_FILE)

    return write


def _files(config: ModelConfig, release: str) -> Monodepth2Weights | Path:
    return resolve(
        config.weights, release, allow_download=bool(dict(config.params).get("download", True))
    )


def _module_for(config: ModelConfig, release: str, use_stereo: bool) -> nn.Module:
    files = _files(config, release)
    if isinstance(files, Path):
        raise ConfigError(
            f"{files} is an exported network; the PyTorch network needs the {_what(release)}"
        )
    return torch_module(files, release, use_stereo)


def _builder(
    release: str, kind: OutputKind, use_stereo: bool
) -> Callable[[ModelConfig], Monodepth2Model]:
    def build(config: ModelConfig) -> Monodepth2Model:
        from depth_ros.core.backends import BackendRequest, create_backend
        from depth_ros.core.models.loading import MONO_INPUTS

        files = _files(config, release)
        factory: Callable[[], nn.Module] | None = None  # exported: no PyTorch network
        if isinstance(files, Path):
            path = files
        else:
            path = files.encoder
            # read both files before the backend starts: a bad folder fails here
            module = torch_module(files, release, use_stereo)
            factory = lambda: module  # noqa: E731
        request = BackendRequest(
            path,
            config.device,
            module_factory=factory,
            input_names=MONO_INPUTS,
            output_names=("disp",),
        )
        runner = create_backend(config.backend, request)
        return Monodepth2Model(runner, metric=kind is OutputKind.METRIC)

    return build


def _export(release: str, use_stereo: bool) -> ExportSpec:
    from depth_ros.core.models.export import ExportSpec

    def example(h: int, w: int) -> tuple[NDArray[np.float32], ...]:
        rng = np.random.default_rng(0)
        return (rng.random((1, 3, h, w), dtype=np.float32),)

    return ExportSpec(
        module_factory=lambda config: _module_for(config, release, use_stereo),
        input_names=("image",),
        output_names=("disp",),
        example_inputs=example,
        dynamic_axes={},  # the model always feeds its trained 640x192
        size_multiple=32,
        min_size=32,
        default_size=(FEED_HEIGHT, FEED_WIDTH),
    )


def _register() -> None:
    for release, kind, use_stereo in VARIANTS.values():
        trained = (
            "stereo pairs, metric with the published scale 5.4"
            if use_stereo
            else "monocular video, relative inverse depth"
        )
        register_model(
            ModelSpec(
                id=f"monodepth2_{release}",
                family="monodepth2",
                input_kind=InputKind.MONO,
                output_kind=kind,
                description=f"Monodepth2 ResNet-18 {FEED_WIDTH}x{FEED_HEIGHT} (KITTI, "
                f"{trained}); fast on CPU",
                build=_builder(release, kind, use_stereo),
                params=PARAMS,
                # the folder's encoder.pth: weights_dir:=<dir> joins <dir>/<release>/
                # encoder.pth (a .pth: the torch backend), depth.pth is found beside it
                weights_file=f"{release}/{ENCODER_FILE}",
                weights_source=f"{URL.format(release)} (unzip: a folder with "
                f"{ENCODER_FILE} and {DEPTH_FILE})",
                default_input_size=None,
                max_depth=KITTI_MAX_DEPTH if use_stereo else None,
                export=_export(release, use_stereo),
                random_checkpoint=_random_checkpoint(release, use_stereo),
            )
        )


_register()
