"""Metric3D v2 (Hu et al., "Metric3D v2", TPAMI 2024): metric depth, surface normals and a
confidence from one image and the camera's focal length (ViT-S, ViT-L, ViT-giant2).

Loads the official ``.pth`` files unchanged (``{"model_state_dict": ...}``, strict key
match). Pre- and post-processing are the official ``hubconf.py`` recipe:

* the RGB image is resized keeping its aspect ratio to fit the network input (616 x 1064 by
  default; OpenCV bilinear on the uint8 image, sides ``int(side * scale)``), padded
  symmetrically to that size with the mean colour (123.675, 116.28, 103.53), and normalised
  with the ImageNet mean and standard deviation in 0..255 units;
* the network predicts depth in a canonical camera of focal length 1000 px; the prediction
  is un-padded, resized back to the image (bilinear, ``align_corners=False``) and scaled by
  ``fx * scale / 1000``, where ``fx`` is the camera's focal length in the image's pixels and
  ``scale`` the resize factor, then clamped to [0, 300] m. Depth is therefore proportional to
  ``fx`` (``fy`` is not used, as in the official code).

Optional outputs: the depth confidence (the official ``confidence`` output, trained towards
``1 - |relative error|``; clipped to [0, 1] here) and the surface normals (the first three
channels of ``prediction_normal``; un-padded, resized like depth and renormalised to unit
length; camera frame as the official output).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.errors import ConfigError, InputError, WeightsError
from depth_ros.core.models import register_model
from depth_ros.core.models.base import (
    CameraUse,
    InputKind,
    ModelConfig,
    ModelSpec,
    MonoOutput,
    OutputKind,
)
from depth_ros.core.models.loading import DOWNLOAD, WeightsSource, check_rgb
from depth_ros.core.params import ParamSpec, Value

if TYPE_CHECKING:
    from torch import nn

    from depth_ros.core.arrays import FloatArray
    from depth_ros.core.backends.base import Backend
    from depth_ros.core.camera import PinholeCamera
    from depth_ros.core.models.export import ExportSpec

#: official padding colour and normalisation (0..255 units, RGB)
PAD_VALUE = (123.675, 116.28, 103.53)
MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)
INPUT_SIZE = (616, 1064)  # the official ViT input (height, width)
SIZE_MULTIPLE = 28
CANONICAL_FOCAL = 1000.0
MAX_DEPTH = 300.0  # the official clamp after de-canonicalisation

_NAMES = {"vits": ("small", "ViT-S"), "vitl": ("large", "ViT-L"), "vitg": ("giant2", "ViT-giant2")}
_RELEASE = "https://huggingface.co/JUGGHM/Metric3D"

INPUT_HEIGHT = ParamSpec(
    "input_height",
    INPUT_SIZE[0],
    "Network input height: the image is resized keeping its aspect ratio to fit "
    "input_height x input_width and padded (multiple of 28; official 616)",
    min=SIZE_MULTIPLE,
    max=2016,
    step=SIZE_MULTIPLE,
)
INPUT_WIDTH = ParamSpec(
    "input_width",
    INPUT_SIZE[1],
    "Network input width (multiple of 28; official 1064)",
    min=SIZE_MULTIPLE,
    max=2016,
    step=SIZE_MULTIPLE,
)
PARAMS = (INPUT_HEIGHT, INPUT_WIDTH, DOWNLOAD)


def weights_source(variant: str) -> WeightsSource:
    """Where the official checkpoint of ``variant`` is published."""
    name = f"metric_depth_vit_{_NAMES[variant][0]}_800k.pth"
    return WeightsSource(name, url=f"{_RELEASE}/resolve/main/{name}")


def _what(variant: str) -> str:
    return (
        f"Metric3D v2 {_NAMES[variant][1]} checkpoint (a dict with 'model_state_dict' holding "
        f"depth_model.encoder.* and depth_model.decoder.*, as released at {_RELEASE})"
    )


def width_for_height(height: int) -> int:
    """The input width with the official aspect (1064 / 616) for a given input height."""
    return max(
        SIZE_MULTIPLE, round(height * INPUT_SIZE[1] / INPUT_SIZE[0] / SIZE_MULTIPLE) * SIZE_MULTIPLE
    )


def prepare(
    rgb: NDArray[np.uint8], size: tuple[int, int]
) -> tuple[NDArray[np.float32], tuple[int, int, int, int], float]:
    """RGB uint8 (H, W, 3) → network input (1, 3, h, w) float32, the padding (top, bottom,
    left, right) and the resize factor, as the official ``hubconf.py``."""
    import cv2

    check_rgb(rgb)
    h, w = rgb.shape[:2]
    scale = min(size[0] / h, size[1] / w)
    new_h, new_w = max(int(h * scale), 1), max(int(w * scale), 1)
    image = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    pad_h, pad_w = size[0] - new_h, size[1] - new_w
    top, left = pad_h // 2, pad_w // 2
    pad = (top, pad_h - top, left, pad_w - left)
    image = cv2.copyMakeBorder(
        image, pad[0], pad[1], pad[2], pad[3], cv2.BORDER_CONSTANT, value=PAD_VALUE
    )
    x = (image.astype(np.float32) - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None]), pad, scale


def _bilinear(src: NDArray[np.float64], n_out: int, axis: int) -> NDArray[np.float64]:
    """Bilinear resampling along ``axis`` as F.interpolate(align_corners=False)."""
    n_in = src.shape[axis]
    pos = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    lo = np.minimum(np.floor(pos).astype(np.intp), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    shape = [1] * src.ndim
    shape[axis] = n_out
    t = (pos - lo).reshape(shape)
    a = np.take(src, lo, axis=axis)
    b = np.take(src, hi, axis=axis)
    out: NDArray[np.float64] = a + (b - a) * t
    return out


def restore(
    maps: FloatArray, pad: tuple[int, int, int, int], height: int, width: int
) -> NDArray[np.float64]:
    """(..., h, w) network-size maps → (..., height, width): un-pad, resize bilinearly."""
    m = np.asarray(maps, dtype=np.float64)
    m = m[..., pad[0] : m.shape[-2] - pad[1], pad[2] : m.shape[-1] - pad[3]]
    return _bilinear(_bilinear(m, height, m.ndim - 2), width, m.ndim - 1)


_NEEDS_CAMERA = (
    "Metric3D's metric scale follows the camera's focal length: it needs the "
    "camera's intrinsics (camera_info) with every image"
)


class Metric3DModel:
    """A :class:`~depth_ros.core.models.base.CameraAwareMonoModel` around a backend that
    runs :class:`~depth_ros.core.models.nets.metric3d.Metric3DNet` (or its ONNX export)."""

    def __init__(self, runner: Backend, size: tuple[int, int]) -> None:
        self.runner = runner
        self.size = size
        self._check(size)

    @staticmethod
    def _check(size: tuple[int, int]) -> None:
        for spec, v in zip((INPUT_HEIGHT, INPUT_WIDTH), size, strict=True):
            why = spec.validate(v)
            if why:
                raise ConfigError(why)

    def update(self, params: Mapping[str, Value]) -> None:
        """Apply ``input_height`` / ``input_width`` (checked first)."""
        size = (
            int(params.get("input_height", self.size[0])),
            int(params.get("input_width", self.size[1])),
        )
        self._check(size)
        self.size = size

    def network_input(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """The (1, 3, h, w) array the backend runs for ``rgb`` (timing, export checks)."""
        return prepare(rgb, self.size)[0]

    def predict(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Refused: the metric scale needs the camera (use ``infer``)."""
        raise InputError(_NEEDS_CAMERA)

    def infer(self, rgb: NDArray[np.uint8], camera: PinholeCamera | None) -> MonoOutput:
        """Depth, confidence and normals of ``rgb``; InputError without ``camera``."""
        check_rgb(rgb)
        if camera is None:
            raise InputError(_NEEDS_CAMERA)
        fx = float(camera.fx)
        if not np.isfinite(fx) or fx <= 0:
            raise InputError(f"camera focal length fx must be positive, got {fx}")
        x, pad, scale = prepare(rgb, self.size)
        outs = self.runner.run([x])
        if len(outs) < 3:
            raise InputError(f"the Metric3D network gave {len(outs)} outputs, expected 3")
        h, w = rgb.shape[:2]
        depth = restore(np.asarray(outs[0]).reshape(self.size), pad, h, w)
        depth = np.clip(depth * (fx * scale / CANONICAL_FOCAL), 0.0, MAX_DEPTH)
        conf = restore(np.asarray(outs[1]).reshape(self.size), pad, h, w)
        normal = restore(np.asarray(outs[2]).reshape(-1, *self.size)[:3], pad, h, w)
        normal /= np.maximum(np.linalg.norm(normal, axis=0, keepdims=True), 1e-12)
        return MonoOutput(
            depth=depth.astype(np.float32),
            confidence=np.clip(conf, 0.0, 1.0).astype(np.float32),
            normals=np.ascontiguousarray(normal.transpose(1, 2, 0), dtype=np.float32),
            focal_px=fx,
        )

    def close(self) -> None:
        """Release the backend."""
        self.runner.close()


def _weights(config: ModelConfig, variant: str) -> Path:
    from depth_ros.core.models.loading import config_weights

    return config_weights(config, weights_source(variant), _what(variant))


def _torch_module(variant: str, path: Path) -> nn.Module:
    """The network with the official checkpoint at ``path`` loaded (strict), eval mode."""
    import torch

    from depth_ros.core.models.loading import load_official_checkpoint, read_official_state
    from depth_ros.core.models.nets.metric3d import Metric3DNet

    what = _what(variant)
    state = read_official_state(path, what)
    if not any(k.startswith("depth_model.") for k in state):
        raise WeightsError(
            f"{path} has no depth_model.* keys (found e.g. {next(iter(state))!r}): expected "
            f"the {what}"
        )
    net = Metric3DNet.uninitialised(variant)  # every parameter comes from the file
    # DINOv2's mask token is used only in pre-training; DINOv2's checkpoint loader in the
    # official training code deletes it, so a release may lack it. Zeros if absent.
    key = "depth_model.encoder.mask_token"
    if key not in state:
        state = {**state, key: torch.zeros_like(net.state_dict()[key])}
    load_official_checkpoint(net, path, what, state=state)
    return net.eval()


def _random_checkpoint(variant: str) -> Callable[[Path], None]:
    """Writes a checkpoint in the official layout with random weights (benchmarks)."""

    def write(path: Path) -> None:
        import torch

        from depth_ros.core.models.nets.metric3d import Metric3DNet

        torch.manual_seed(0)
        net = Metric3DNet(variant)
        with torch.no_grad():  # layer scales at their trained magnitude, not 1e-5
            for name, p in net.named_parameters():
                if name.endswith("gamma"):
                    p.fill_(0.1)
        torch.save({"model_state_dict": net.state_dict()}, path)

    return write


def _size(config: ModelConfig) -> tuple[int, int]:
    params = dict(config.params)
    if config.input_size:
        h = int(config.input_size)
        return h, int(params.get("input_width", width_for_height(h)))
    return (
        int(params.get("input_height", INPUT_SIZE[0])),
        int(params.get("input_width", INPUT_SIZE[1])),
    )


def _builder(variant: str) -> Callable[[ModelConfig], Metric3DModel]:
    def build(config: ModelConfig) -> Metric3DModel:
        from depth_ros.core.backends import BackendRequest, create_backend
        from depth_ros.core.models.loading import MONO_INPUTS

        size = _size(config)
        Metric3DModel._check(size)
        path = _weights(config, variant)
        request = BackendRequest(
            path,
            config.device,
            module_factory=lambda: _torch_module(variant, path),
            input_names=MONO_INPUTS,
            output_names=("depth", "confidence", "normal"),
        )
        runner = create_backend(config.backend, request)
        return Metric3DModel(runner, size)

    return build


def example_inputs(height: int, width: int) -> tuple[NDArray[np.float32], ...]:
    """A (1, 3, height, width) network input from a random image (ONNX export)."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    x = (img.astype(np.float32) - np.asarray(MEAN, np.float32)) / np.asarray(STD, np.float32)
    return (np.ascontiguousarray(x.transpose(2, 0, 1)[None]),)


def _export(variant: str) -> ExportSpec:
    from depth_ros.core.models.export import ExportSpec

    return ExportSpec(
        module_factory=lambda config: _torch_module(variant, _weights(config, variant)),
        input_names=("image",),
        output_names=("depth", "confidence", "normal"),
        example_inputs=example_inputs,
        dynamic_axes={},  # the position embedding is resampled for the exported size
        size_multiple=SIZE_MULTIPLE,
        min_size=SIZE_MULTIPLE,
        default_size=INPUT_SIZE,
    )


def _register() -> None:
    for variant, (_, label) in _NAMES.items():
        src = weights_source(variant)
        register_model(
            ModelSpec(
                id=f"metric3d_v2_{variant}",
                family="metric3d_v2",
                input_kind=InputKind.MONO,
                output_kind=OutputKind.METRIC,
                description=f"Metric3D v2 {label}: metric depth (canonical focal 1000 px, "
                "scaled by fx), surface normals and confidence; needs camera_info",
                build=_builder(variant),
                params=PARAMS,
                weights_file=src.filename,
                weights_source=src.describe(),
                default_input_size=INPUT_SIZE[0],
                max_depth=MAX_DEPTH,
                camera=CameraUse.REQUIRED,
                outputs=frozenset({"confidence", "normals"}),
                random_checkpoint=_random_checkpoint(variant),
                export=_export(variant),
            )
        )


_register()
