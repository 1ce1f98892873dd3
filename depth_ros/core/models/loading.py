"""Running a monocular depth network: the official pre-processing (aspect-preserving
resize to a multiple of the patch size, normalisation), the network on a backend, and the
official resizing of the prediction back to the input size; plus finding or downloading
the official weights file.

Pure numpy/OpenCV here; torch is imported only where a network is built or run.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.arrays import FloatArray
from depth_ros.core.errors import ConfigError, InputError, WeightsError
from depth_ros.core.params import ParamSpec, Value

if TYPE_CHECKING:
    import torch

    from depth_ros.core.backends.base import Backend
    from depth_ros.core.models.base import ModelConfig
    from depth_ros.core.models.checkpoints import StateDict

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)

RESIZE_METHODS = ("lower_bound", "upper_bound", "minimal")
OUTPUT_RESIZE = ("bilinear_align_corners", "bilinear", "bicubic")


@dataclass(frozen=True)
class Preprocess:
    """How the official code prepares an image for the network."""

    multiple_of: int  # network input sides are multiples of this
    resize_method: str  # lower_bound | upper_bound | minimal (as the official Resize)
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    keep_aspect_ratio: bool = True
    #: or "bilinear" / "bicubic" (align_corners=False)
    output_resize: str = "bilinear_align_corners"


def _constrain(x: float, multiple: int, min_val: int = 0, max_val: int | None = None) -> int:
    y = int(np.round(x / multiple) * multiple)  # numpy rounding: half to even, as official
    if max_val is not None and y > max_val:
        y = int(math.floor(x / multiple) * multiple)
    if y < min_val:
        y = int(math.ceil(x / multiple) * multiple)
    return y


def network_size(height: int, width: int, input_size: int, pre: Preprocess) -> tuple[int, int]:
    """(height, width) of the network input for an image, by the official resize rule."""
    if height <= 0 or width <= 0:
        raise InputError(f"image size must be positive, got {width}x{height}")
    if pre.resize_method not in RESIZE_METHODS:
        raise ConfigError(
            f"resize method {pre.resize_method!r} unknown; expected one of "
            f"{', '.join(RESIZE_METHODS)}"
        )
    scale_h = input_size / height
    scale_w = input_size / width
    if pre.keep_aspect_ratio:
        if pre.resize_method == "lower_bound":
            scale_h = scale_w = scale_w if scale_w > scale_h else scale_h
        elif pre.resize_method == "upper_bound":
            scale_h = scale_w = scale_w if scale_w < scale_h else scale_h
        else:
            scale_h = scale_w = scale_w if abs(1 - scale_w) < abs(1 - scale_h) else scale_h
    m = pre.multiple_of
    if pre.resize_method == "lower_bound":
        h = _constrain(scale_h * height, m, min_val=input_size)
        w = _constrain(scale_w * width, m, min_val=input_size)
    elif pre.resize_method == "upper_bound":
        h = _constrain(scale_h * height, m, max_val=input_size)
        w = _constrain(scale_w * width, m, max_val=input_size)
    else:
        h, w = _constrain(scale_h * height, m), _constrain(scale_w * width, m)
    # at least one multiple (the official rule gives 0 for extreme aspect ratios)
    return max(h, m), max(w, m)


def check_rgb(rgb: object) -> NDArray[np.uint8]:
    """``rgb`` if it is an (H, W, 3) uint8 image of at least 2x2 pixels, else InputError."""
    if not isinstance(rgb, np.ndarray) or rgb.ndim != 3 or rgb.shape[2] != 3:
        shape = getattr(rgb, "shape", None)
        raise InputError(f"expected an RGB image of shape (H, W, 3), got shape {shape}")
    if rgb.dtype != np.uint8:
        raise InputError(f"expected an RGB image of dtype uint8, got {rgb.dtype}")
    if rgb.shape[0] < 2 or rgb.shape[1] < 2:
        raise InputError(f"image must be at least 2x2 pixels, got {rgb.shape[1]}x{rgb.shape[0]}")
    return rgb


def prepare(rgb: NDArray[np.uint8], input_size: int, pre: Preprocess) -> NDArray[np.float32]:
    """RGB uint8 (H, W, 3) → network input (1, 3, h, w) float32, exactly as the official
    code: scale to [0, 1] in float64, resize with bicubic interpolation (OpenCV), normalise,
    cast to float32."""
    import cv2

    check_rgb(rgb)
    h, w = network_size(rgb.shape[0], rgb.shape[1], input_size, pre)
    image = rgb.astype(np.float64) / 255.0
    image = np.asarray(cv2.resize(image, (w, h), interpolation=cv2.INTER_CUBIC), dtype=np.float64)
    image = (image - np.asarray(pre.mean)) / np.asarray(pre.std)
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None]).astype(np.float32)


def example_input(height: int, width: int, pre: Preprocess) -> NDArray[np.float32]:
    """A (1, 3, height, width) network input from a random image (for ONNX export)."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    image = (img.astype(np.float64) / 255.0 - np.asarray(pre.mean)) / np.asarray(pre.std)
    return np.ascontiguousarray(image.transpose(2, 0, 1)[None]).astype(np.float32)


def _bilinear_align_corners(src: NDArray[np.float64], n_out: int, axis: int) -> NDArray[np.float64]:
    n_in = src.shape[axis]
    step = 0.0 if n_out == 1 or n_in == 1 else (n_in - 1) / (n_out - 1)
    pos = np.arange(n_out, dtype=np.float64) * step
    lo = np.clip(np.floor(pos).astype(np.intp), 0, n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    t = pos - lo
    shape = [1, 1]
    shape[axis] = n_out
    t = t.reshape(shape)
    a: NDArray[np.float64] = np.take(src, lo, axis=axis)
    b: NDArray[np.float64] = np.take(src, hi, axis=axis)
    return a + (b - a) * t


def _bilinear_half_pixel(src: NDArray[np.float64], n_out: int, axis: int) -> NDArray[np.float64]:
    """PyTorch's bilinear sampling with align_corners=False (no antialiasing)."""
    n_in = src.shape[axis]
    pos = np.maximum((np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    lo = np.minimum(np.floor(pos).astype(np.intp), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    shape = [1, 1]
    shape[axis] = n_out
    t = (pos - lo).reshape(shape)
    a: NDArray[np.float64] = np.take(src, lo, axis=axis)
    b: NDArray[np.float64] = np.take(src, hi, axis=axis)
    out: NDArray[np.float64] = a + (b - a) * t
    return out


def _cubic_weights(t: NDArray[np.float64], a: float = -0.75) -> NDArray[np.float64]:
    """Weights of taps at offsets -1, 0, 1, 2 for fractional position ``t`` (PyTorch's
    cubic convolution with A = -0.75)."""

    def near(x: NDArray[np.float64]) -> NDArray[np.float64]:
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: NDArray[np.float64]) -> NDArray[np.float64]:
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=-1)


def _bicubic(src: NDArray[np.float64], n_out: int, axis: int) -> NDArray[np.float64]:
    n_in = src.shape[axis]
    pos = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    base = np.floor(pos)
    weights = _cubic_weights(pos - base)  # (n_out, 4)
    out = np.zeros((*src.shape[:axis], n_out, *src.shape[axis + 1 :]))
    shape = [1, 1]
    shape[axis] = n_out
    for k in range(4):  # four taps, each a whole-array operation
        idx = np.clip(base.astype(np.intp) - 1 + k, 0, n_in - 1)
        out += np.take(src, idx, axis=axis) * weights[:, k].reshape(shape)
    return out


def resize_prediction(pred: FloatArray, height: int, width: int, mode: str) -> NDArray[np.float32]:
    """Resize a (h, w) prediction to (height, width) like the official code:
    ``bilinear_align_corners`` (F.interpolate bilinear, align_corners=True; Depth Anything
    V2), ``bilinear`` (align_corners=False; Depth Anything V1's ``run.py``) or ``bicubic``
    (bicubic, align_corners=False; MiDaS)."""
    src = np.asarray(pred, dtype=np.float64)
    if mode == "bilinear_align_corners":
        out = _bilinear_align_corners(_bilinear_align_corners(src, height, 0), width, 1)
    elif mode == "bilinear":
        out = _bilinear_half_pixel(_bilinear_half_pixel(src, height, 0), width, 1)
    elif mode == "bicubic":
        out = _bicubic(_bicubic(src, height, 0), width, 1)
    else:
        raise ConfigError(f"output resize {mode!r} unknown; expected one of {OUTPUT_RESIZE}")
    return out.astype(np.float32)


# ---------------------------------------------------------------------------- weights


def cache_dir() -> Path:
    """Where downloaded weights are kept: $DEPTH_ROS_CACHE, else
    $XDG_CACHE_HOME/depth_ros/weights (~/.cache/depth_ros/weights)."""
    env = os.environ.get("DEPTH_ROS_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "depth_ros" / "weights"


def offline() -> bool:
    """True when downloads are switched off (DEPTH_ROS_OFFLINE or HF_HUB_OFFLINE set to 1)."""
    return any(
        os.environ.get(v, "").strip().lower() in ("1", "true", "yes")
        for v in ("DEPTH_ROS_OFFLINE", "HF_HUB_OFFLINE")
    )


@dataclass(frozen=True)
class WeightsSource:
    """Where an official weights file is published: a Hugging Face repo or a URL, and the
    SHA-256 the release publishes for it (Hugging Face: the LFS object id of the file),
    None where no official hash is known. A downloaded file is verified against it."""

    filename: str
    hf_repo: str | None = None
    url: str | None = None
    sha256: str | None = None
    #: cache sub-folder, for releases that share a file name (UniDepth: pytorch_model.bin)
    cache_subdir: str | None = None

    def cached_path(self) -> Path:
        """Where the file is kept in :func:`cache_dir`."""
        return cache_dir() / (self.cache_subdir or "") / self.filename

    def describe(self) -> str:
        """Where to get the file, for error messages."""
        if self.hf_repo:
            return f"https://huggingface.co/{self.hf_repo} (file {self.filename})"
        return self.url or "(unknown)"


PROXY_VARIABLES = (
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
)


def hf_endpoint() -> str:
    """The Hugging Face server huggingface_hub downloads from (``HF_ENDPOINT``)."""
    return os.environ.get("HF_ENDPOINT", "").strip() or "https://huggingface.co"


def check_reachable(url: str, timeout_s: float = 5.0) -> None:
    """Raise OSError at once when the host of ``url`` cannot be resolved or connected to;
    huggingface_hub retries a failed name lookup for about 25 s before it gives up, which
    a node starting on a robot without internet should not wait for. Skipped when a proxy
    is configured (the host may only be reachable through it)."""
    import socket
    from urllib.parse import urlsplit

    if any(os.environ.get(v) for v in PROXY_VARIABLES):
        return
    parts = urlsplit(url)
    if not parts.hostname:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise OSError(f"cannot reach {parts.hostname}:{port} ({exc})") from exc


def _download(source: WeightsSource, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.hf_repo:
        from huggingface_hub import hf_hub_download

        check_reachable(hf_endpoint())

        path = hf_hub_download(
            repo_id=source.hf_repo, filename=source.filename, local_dir=str(target.parent)
        )
        return Path(path)
    if source.url:
        from torch.hub import download_url_to_file

        part = target.with_name(target.name + ".part")
        download_url_to_file(source.url, str(part), progress=True)
        part.replace(target)
        return target
    raise WeightsError(f"no download location known for {source.filename}")


def fetch_weights(
    weights: Path | str | None,
    source: WeightsSource,
    what: str,
    allow_download: bool = True,
    downloader: Callable[[WeightsSource, Path], Path] | None = None,
) -> Path:
    """The weights file to load: ``weights`` if given (must exist), else the file in
    :func:`cache_dir`, else downloaded there once (with a progress bar) and checked
    against the published SHA-256. Offline or on a failed download, a WeightsError names
    the file and where to get it. (Not :func:`depth_ros.core.profiles.resolve_weights_path`,
    which only joins a profile's file name to a folder)."""
    from depth_ros.core.models.checkpoints import require_file

    if weights is not None and str(weights) != "":
        return require_file(
            weights, what=what, source=source.describe(), default_name=source.filename
        )
    cached = source.cached_path()
    if cached.is_file():
        return cached
    hint = (
        f"download {source.filename} from {source.describe()} and pass its path as the "
        f"weights parameter, or place it at {cached}"
    )
    if not allow_download or offline():
        raise WeightsError(
            f"no weights file given for the {what} and {cached} does not exist; downloads "
            f"are switched off; {hint}"
        )
    try:
        path = (downloader or _download)(source, cached)
    except WeightsError:
        raise
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise WeightsError(
            f"no weights file given for the {what} and downloading {source.filename} "
            f"failed ({type(exc).__name__}: {reason}); {hint}"
        ) from exc
    if not path.is_file():
        raise WeightsError(f"download of {source.filename} produced no file; {hint}")
    verify_sha256(path, source, hint)
    return path


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, hex, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: Path, source: WeightsSource, hint: str = "") -> None:
    """Refuse (and delete) a downloaded file whose SHA-256 is not the published one;
    nothing to check when no official hash is known (``source.sha256`` None)."""
    if source.sha256 is None:
        return
    got = file_sha256(path)
    if got != source.sha256.lower():
        path.unlink(missing_ok=True)
        raise WeightsError(
            f"downloaded {source.filename} has SHA-256 {got}, but {source.describe()} "
            f"publishes {source.sha256}: refused and deleted (a corrupt or tampered "
            f"download)" + (f"; {hint}" if hint else "")
        )


#: the ``download`` parameter of the models whose official weights are published
DOWNLOAD = ParamSpec(
    "download",
    True,
    "Download the official weights into the cache when no weights file is given",
    read_only=True,
)


def config_weights(config: ModelConfig, source: WeightsSource, what: str) -> Path:
    """The weights file of a model build: ``config.weights`` or the official release
    (cache, or a download unless the ``download`` parameter is false)."""
    return fetch_weights(
        config.weights,
        source,
        what,
        allow_download=bool(dict(config.params).get("download", True)),
    )


def read_official_state(path: Path | str, what: str) -> StateDict:
    """An official PyTorch checkpoint's state dict, read before the network is built (a
    bad file fails fast); an exported network (ONNX, TensorRT) is a ConfigError naming
    what the PyTorch network needs."""
    from depth_ros.core.backends import is_exported
    from depth_ros.core.models.checkpoints import load_state_dict_file

    if is_exported(path):
        raise ConfigError(f"{path} is an exported network; the PyTorch network needs the {what}")
    return load_state_dict_file(path, expected=what)


def load_official_checkpoint(
    net: torch.nn.Module,
    path: Path,
    expected: str,
    from_official: Callable[[str], str] = lambda k: k,
    to_official: Callable[[str], str] = lambda k: k,
    state: Mapping[str, torch.Tensor] | None = None,
) -> None:
    """Load an official checkpoint file, unchanged on disk, into ``net`` with a strict
    match. Key names are translated with ``from_official``; mismatches are reported in
    the official names (``to_official`` maps ours back). ``state``: the file's contents
    if already read (read the file before building a large network, so that a bad file
    fails fast)."""
    from depth_ros.core.models.checkpoints import (
        check_state_dict,
        load_state_dict_file,
        load_strict,
    )

    if state is None:
        state = load_state_dict_file(path, expected=expected)
    own = net.state_dict()
    official_view = {to_official(k): v for k, v in own.items()}
    view = type(type(net).__name__, (), {"state_dict": lambda self: official_view})()
    check_state_dict(view, state, path, expected)
    load_strict(net, {from_official(k): v for k, v in state.items()}, path, expected)


# ---------------------------------------------------------------------------- model


#: the tensors of a monocular network exported to ONNX / TensorRT
MONO_INPUTS = ("image",)
MONO_OUTPUTS = ("depth",)


class MonoNetworkModel:
    """A :class:`~depth_ros.core.models.base.MonoModel` around a network backend."""

    def __init__(
        self,
        runner: Backend,
        pre: Preprocess,
        input_size: int,
        input_param: ParamSpec | None = None,
    ) -> None:
        self.runner = runner
        self.pre = pre
        self.input_param = input_param
        self.input_size = input_size
        self._check_input_size(input_size)

    def _check_input_size(self, value: object) -> None:
        if self.input_param is not None:
            why = self.input_param.validate(value)
            if why:
                raise ConfigError(why)

    def update(self, params: Mapping[str, Value]) -> None:
        """Apply ``input_size`` (checked against its spec first)."""
        if "input_size" in params:
            self._check_input_size(params["input_size"])
            self.input_size = int(params["input_size"])

    def network_input(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """The (1, 3, h, w) network input for ``rgb``, as the official pre-processing."""
        return prepare(rgb, self.input_size, self.pre)

    def predict(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """The prediction (H, W) float32 at the image's size (official output resize)."""
        x = self.network_input(rgb)
        out = np.asarray(self.runner.run([x])[0])
        out = out.reshape(out.shape[-2:])
        return resize_prediction(out, rgb.shape[0], rgb.shape[1], self.pre.output_resize)

    def close(self) -> None:
        """Release the backend."""
        self.runner.close()
