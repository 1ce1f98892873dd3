"""Apple Depth Pro (Bochkovskii et al., "Depth Pro: Sharp Monocular Metric Depth in Less Than
a Second", ICLR 2025): zero-shot metric depth in metres, with or without the camera's focal.

Loads the official ``depth_pro.pt`` (a plain state dict of the official ``DepthPro``
network) unchanged with a strict key match, and reproduces the official
``DepthPro.infer(x, f_px)`` with the official transform:

1. the RGB image is scaled to [0, 1] and normalised with mean = std = 0.5 to [-1, 1]
   (``ToTensor`` + ``Normalize``), then resized to 1536x1536 with bilinear interpolation
   (``align_corners=False``, no antialiasing) whatever its aspect ratio;
2. the network gives the canonical inverse depth at 1536x1536 and the horizontal field of
   view in degrees;
3. the focal length in pixels of the image is ``camera.fx`` when camera_info is given (the
   official ``f_px`` argument), else the FOV head's ``f_px = 0.5 W / tan(fov / 2)``;
4. inverse depth = canonical inverse depth x W / f_px, resized back to the image's size
   (bilinear, ``align_corners=False``), and depth = 1 / clamp(inverse depth, 1e-4, 1e4).

So depth is proportional to ``fx`` when a camera is given: doubling fx doubles the depth.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.errors import ConfigError, InputError
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
from depth_ros.core.params import Value

if TYPE_CHECKING:
    from depth_ros.core.arrays import FloatArray
    from depth_ros.core.backends.base import Backend
    from depth_ros.core.camera import PinholeCamera
    from depth_ros.core.models.checkpoints import StateDict
    from depth_ros.core.models.export import ExportSpec
    from depth_ros.core.models.nets.depth_pro import DepthProConfig, DepthProNet

MODEL_ID = "depth_pro"
IMG_SIZE = 1536  # the official network's fixed input side
MIN_INVERSE_DEPTH, MAX_INVERSE_DEPTH = 1e-4, 1e4  # the official clamp of the inverse depth

WEIGHTS = WeightsSource(
    "depth_pro.pt", url="https://ml-site.cdn-apple.com/models/depth-pro/depth_pro.pt"
)
WHAT = (
    "Depth Pro checkpoint (depth_pro.pt: a plain state dict of the official DepthPro "
    "network from github.com/apple/ml-depth-pro, get_pretrained_models.sh)"
)

PARAMS = (DOWNLOAD,)


# ------------------------------------------------------------------ pre/post-processing


def resize_bilinear(src: FloatArray, height: int, width: int) -> NDArray[np.float32]:
    """Resize the first two axes of ``src`` like PyTorch's ``F.interpolate(mode="bilinear",
    align_corners=False)`` on CPU without antialiasing: source coordinate
    ``in / out * (i + 0.5) - 0.5`` (float32) clamped at 0, float32 weights ``1 - l`` and ``l``, the
    width interpolated first, then the height, values in float32."""
    out = np.asarray(src, dtype=np.float32)
    for axis, n_out in ((1, width), (0, height)):
        n_in = out.shape[axis]
        if n_in == n_out:
            continue
        # float32 scale; scale * (i + 0.5) - 0.5 rounded once to float32 (a fused
        # multiply-add, as PyTorch's vectorised kernel computes it)
        scale = np.float64(np.float32(n_in) / np.float32(n_out))
        pos = np.maximum(scale * (np.arange(n_out) + 0.5) - 0.5, 0.0).astype(np.float32)
        lo = pos.astype(np.intp)  # pos >= 0: truncation is floor
        hi = np.minimum(lo + 1, n_in - 1)
        shape = [1] * out.ndim
        shape[axis] = n_out
        w1 = (pos - lo.astype(np.float32)).reshape(shape)
        w0 = np.float32(1) - w1
        out = w0 * np.take(out, lo, axis=axis) + w1 * np.take(out, hi, axis=axis)
    return out


def network_input(rgb: NDArray[np.uint8], size: int = IMG_SIZE) -> NDArray[np.float32]:
    """RGB uint8 (H, W, 3) → (1, 3, size, size) float32 in [-1, 1], as the official
    transform (float32 ``/ 255``, ``(x - 0.5) / 0.5``) followed by ``infer``'s bilinear
    resize to the network size."""
    check_rgb(rgb)
    x = (rgb.astype(np.float32) / np.float32(255.0) - np.float32(0.5)) / np.float32(0.5)
    if x.shape[:2] != (size, size):
        x = resize_bilinear(x, size, size)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def focal_from_fov(fov_deg: float, width: int) -> float:
    """The official focal estimate in pixels of an image ``width`` wide from the
    horizontal field of view: ``0.5 W / tan(0.5 fov)``."""
    return float(0.5 * width / np.tan(0.5 * np.deg2rad(fov_deg)))


def metric_depth(
    canonical_inverse_depth: FloatArray, f_px: float, height: int, width: int
) -> NDArray[np.float32]:
    """Depth in metres at (height, width) from the network's canonical inverse depth,
    as the official ``infer``: ``inverse = canonical * W / f_px``, bilinear resize to the
    image, ``1 / clamp(inverse, 1e-4, 1e4)``, in float32 as the official code."""
    inverse = np.asarray(canonical_inverse_depth, dtype=np.float32) * np.float32(width / f_px)
    inverse = resize_bilinear(inverse, height, width)
    depth = np.float32(1) / np.clip(
        inverse, np.float32(MIN_INVERSE_DEPTH), np.float32(MAX_INVERSE_DEPTH)
    )
    return np.asarray(depth, dtype=np.float32)


class DepthProModel:
    """A camera-aware monocular model around a Depth Pro network backend (PyTorch or an
    exported file) whose outputs are (canonical inverse depth, field of view in degrees)."""

    def __init__(self, runner: Backend, img_size: int = IMG_SIZE) -> None:
        self.runner = runner
        self.img_size = img_size

    def update(self, params: Mapping[str, Value]) -> None:
        """Depth Pro has no runtime parameters (its input size is fixed)."""

    def network_input(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """The (1, 3, S, S) network input for ``rgb`` (see :func:`network_input`)."""
        return network_input(rgb, self.img_size)

    def infer(self, rgb: NDArray[np.uint8], camera: PinholeCamera | None) -> MonoOutput:
        """Metric depth of ``rgb``; with ``camera`` its fx is the official ``f_px``, without
        it the FOV head's estimate is used (``focal_estimated``)."""
        h, w = rgb.shape[:2]
        if camera is not None and not (np.isfinite(camera.fx) and camera.fx > 0):
            raise InputError(f"camera_info has no usable focal length (fx={camera.fx})")
        outs = self.runner.run([self.network_input(rgb)])
        if len(outs) < 2:
            raise ConfigError(
                "the Depth Pro network gave one output; it must give the canonical inverse "
                "depth and the field of view (re-export the model with depth-ros export)"
            )
        canonical = np.asarray(outs[0]).reshape(outs[0].shape[-2:])
        if camera is not None:
            f_px, estimated = float(camera.fx), False
        else:
            f_px, estimated = focal_from_fov(float(np.asarray(outs[1]).reshape(-1)[0]), w), True
        return MonoOutput(
            metric_depth(canonical, f_px, h, w), focal_px=f_px, focal_estimated=estimated
        )

    def predict(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Metric depth with the focal estimated by the network (no camera known)."""
        return self.infer(rgb, None).depth

    def close(self) -> None:
        """Release the backend."""
        self.runner.close()


# ------------------------------------------------------------------ network and weights


def _weights(config: ModelConfig) -> Path:
    from depth_ros.core.models.loading import config_weights

    return config_weights(config, WEIGHTS, WHAT)


def torch_module(path: Path | str, net_config: DepthProConfig | None = None) -> DepthProNet:
    """The network with the official checkpoint at ``path`` loaded (strict), eval mode.

    The file is read before the network is built (a bad file fails fast), and the network
    is allocated without initialisation (every tensor comes from the file)."""
    import torch

    from depth_ros.core.models.loading import load_official_checkpoint, read_official_state
    from depth_ros.core.models.nets.depth_pro import OFFICIAL, DepthProNet

    state = read_official_state(path, WHAT)
    with torch.device("meta"):
        net = DepthProNet(net_config or OFFICIAL)
    net = net.to_empty(device="cpu")
    load_official_checkpoint(net, Path(path), WHAT, state=state)
    return net.eval()


def random_state(net_config: DepthProConfig | None = None, seed: int = 0) -> StateDict:
    """Random weights in the official layout: weights ~ N(0, 1/fan_in), biases ~ N(0, 0.02),
    norm weights near 1, LayerScale 0.1; the depth head's last bias 10 (inverse depth well
    above 0) and the FOV head's 60 degrees (a plausible field of view)."""
    import torch

    from depth_ros.core.models.nets.depth_pro import OFFICIAL, DepthProNet

    with torch.device("meta"):
        net = DepthProNet(net_config or OFFICIAL)
    transposed = {
        f"{name}.weight"
        for name, m in net.named_modules()
        if isinstance(m, torch.nn.ConvTranspose2d)
    }
    g = torch.Generator().manual_seed(seed)
    state: StateDict = {}
    for name, t in net.state_dict().items():
        shape = tuple(t.shape)
        if name.endswith("gamma"):
            v = torch.full(shape, 0.1)
        elif "norm" in name.rsplit(".", 2)[-2] and name.endswith("weight"):
            v = 1.0 + 0.02 * torch.randn(shape, generator=g)
        elif len(shape) >= 2 and not name.endswith(("pos_embed", "cls_token")):
            # a stride-2 2x2 transposed convolution sums over its input channels only
            fan_in = shape[0] if name in transposed else int(np.prod(shape[1:]))
            v = torch.randn(shape, generator=g) / float(np.sqrt(fan_in))
        else:
            v = 0.02 * torch.randn(shape, generator=g)
        state[name] = v
    state["head.4.bias"] = torch.full_like(state["head.4.bias"], 10.0)
    state["fov.head.4.bias"] = torch.full_like(state["fov.head.4.bias"], 60.0)
    return state


def _random_checkpoint(path: Path) -> None:
    """Writes a checkpoint in the official layout (torch.save of a state dict) with random
    weights, for timing and trying the pipeline (output meaningless)."""
    import torch

    torch.save(random_state(), path)


def build(config: ModelConfig, net_config: DepthProConfig | None = None) -> DepthProModel:
    """The ``depth_pro`` model (``net_config``: a smaller network, tests only)."""
    from depth_ros.core.backends import BackendRequest, create_backend
    from depth_ros.core.models.loading import MONO_INPUTS

    size = IMG_SIZE if net_config is None else int(net_config.img_size)
    if config.input_size not in (None, 0, size):
        raise ConfigError(
            f"Depth Pro's network input is fixed at {size}x{size}; input_size "
            f"{config.input_size} is not possible"
        )
    path = _weights(config)
    request = BackendRequest(
        path,
        config.device,
        module_factory=lambda: torch_module(path, net_config),
        input_names=MONO_INPUTS,
        output_names=("inverse_depth", "fov_deg"),
    )
    runner = create_backend(config.backend, request)
    return DepthProModel(runner, size)


def _example(height: int, width: int) -> tuple[NDArray[np.float32], ...]:
    rng = np.random.default_rng(0)
    return (network_input(rng.integers(0, 256, (480, 640, 3), dtype=np.uint8), height),)


def _export() -> ExportSpec:
    from depth_ros.core.models.export import ExportSpec

    return ExportSpec(
        module_factory=lambda config: torch_module(_weights(config)),
        input_names=("image",),
        output_names=("inverse_depth", "fov_deg"),
        example_inputs=_example,
        dynamic_axes={},  # fixed 1536x1536: the tiling is part of the network
        size_multiple=IMG_SIZE,
        min_size=IMG_SIZE,
        default_size=(IMG_SIZE, IMG_SIZE),
    )


register_model(
    ModelSpec(
        id=MODEL_ID,
        family="depth_pro",
        input_kind=InputKind.MONO,
        output_kind=OutputKind.METRIC,
        description="Apple Depth Pro (ViT-L multi-scale, 1536x1536), metric depth; uses "
        "camera_info's fx when given, else estimates the focal with its FOV head",
        build=build,
        params=PARAMS,
        weights_file=WEIGHTS.filename,
        weights_source=WEIGHTS.describe(),
        default_input_size=IMG_SIZE,
        camera=CameraUse.OPTIONAL,
        random_checkpoint=_random_checkpoint,
        export=_export(),
    )
)
