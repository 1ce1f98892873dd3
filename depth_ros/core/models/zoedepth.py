"""ZoeDepth (Bhat et al., 2023): metric depth from MiDaS v3.1 BEiT-L/16 features and metric
bins heads. ``zoedepth_n`` (NYU Depth V2, indoor, bins up to 10 m), ``zoedepth_k`` (KITTI,
outdoor, up to 80 m), ``zoedepth_nk`` (both heads and a learned router choosing one per
image).

Loads the official ``ZoeD_M12_{N,K,NK}.pt`` (github.com/isl-org/ZoeDepth releases v1.0;
the state dict under ``model``) unchanged with a strict key match. Inference is the
official default, ``ZoeDepth.infer_pil(image)`` = ``infer(x, pad_input=True,
with_flip_aug=True)``: the RGB image / 255 at its own size, reflect-padded by
int(sqrt(H/2)·3) rows and int(sqrt(W/2)·3) columns, resized by MiDaS' rule to near
384x512 (N, NK) or 384x768 (K) (aspect kept, multiples of 32, bilinear align_corners=True),
normalised with mean = std = 0.5, the network, the metric depth upsampled (bicubic,
align_corners=False) to the padded size and cropped, averaged with the same on the
horizontally mirrored image. ``pad_input`` and ``flip_aug`` switch the two augmentations
off (flip_aug off halves the time; not the official default).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.errors import ConfigError
from depth_ros.core.models import register_model
from depth_ros.core.models._focal import FOCAL_SCALING, KITTI, NYU, FocalScaled, TrainingCamera
from depth_ros.core.models.base import (
    CameraUse,
    InputKind,
    ModelConfig,
    ModelSpec,
    OutputKind,
)
from depth_ros.core.models.loading import DOWNLOAD, WeightsSource, check_rgb
from depth_ros.core.params import ParamSpec, Value

if TYPE_CHECKING:
    from torch import nn

    from depth_ros.core.backends.base import Backend
    from depth_ros.core.models.nets.zoedepth import ZoeDepthNet

_RELEASE = "https://github.com/isl-org/ZoeDepth/releases/download/v1.0"

# variant → (file, description, max depth (m), training camera, official img_size height)
_VARIANTS: dict[str, tuple[str, str, float, TrainingCamera]] = {
    "n": ("ZoeD_M12_N.pt", "ZoeDepth N (NYU Depth V2, indoor, up to 10 m)", 10.0, NYU),
    "k": ("ZoeD_M12_K.pt", "ZoeDepth K (KITTI, outdoor, up to 80 m)", 80.0, KITTI),
    "nk": (
        "ZoeD_M12_NK.pt",
        "ZoeDepth NK (NYU and KITTI heads, routed per image, up to 80 m)",
        80.0,
        NYU,
    ),
}

PAD_INPUT = ParamSpec(
    "pad_input",
    True,
    "Official padding augmentation: reflect-pad the image by sqrt(side/2)*3 pixels and crop "
    "the prediction back (avoids border artefacts)",
    read_only=True,
)
FLIP_AUG = ParamSpec(
    "flip_aug",
    True,
    "Official flip augmentation: average with the prediction on the mirrored image (two "
    "network runs per image)",
    read_only=True,
)
INPUT_SIZE = ParamSpec(
    "input_size",
    384,
    "Network input height MiDaS' resize aims at (official 384; the width follows: 4/3 of "
    "it for N and NK, 2x for K), sides multiples of 32",
    min=64,
    max=1024,
    step=32,
)
PARAMS = (INPUT_SIZE, PAD_INPUT, FLIP_AUG, FOCAL_SCALING, DOWNLOAD)
#: NK: no focal_scaling (its training camera depends on the head its router picks per image)
PARAMS_NK = (INPUT_SIZE, PAD_INPUT, FLIP_AUG, DOWNLOAD)


def weights_source(variant: str) -> WeightsSource:
    """Where the official checkpoint of ``variant`` is published."""
    name = _VARIANTS[variant][0]
    return WeightsSource(name, url=f"{_RELEASE}/{name}")


def _what(variant: str) -> str:
    return (
        f"ZoeDepth {variant.upper()} checkpoint ({_VARIANTS[variant][0]}, state dict under 'model')"
    )


class Options(TypedDict):
    """The network options a ZoeDepth model is built with (fixed at start-up)."""

    height: int  # network input height (its width follows the variant's aspect)
    pad_input: bool
    flip_aug: bool


def _options(config: ModelConfig) -> Options:
    p = dict(config.params)
    size = config.input_size or int(p.get("input_size", 384))
    why = INPUT_SIZE.validate(size)
    if why:
        raise ConfigError(why)
    return {
        "height": size,
        "pad_input": bool(p.get("pad_input", True)),
        "flip_aug": bool(p.get("flip_aug", True)),
    }


def _net(variant: str, options: Options | None = None) -> ZoeDepthNet:
    from depth_ros.core.models.nets.zoedepth import zoedepth_net

    return zoedepth_net(variant) if options is None else zoedepth_net(variant, **options)


def torch_module(variant: str, path: Path, options: Options | None = None) -> nn.Module:
    """The network with the official checkpoint at ``path`` loaded (strict), eval mode."""
    import torch

    from depth_ros.core.models.checkpoints import check_state_dict
    from depth_ros.core.models.loading import load_official_checkpoint, read_official_state

    what = _what(variant)
    state = read_official_state(path, what)
    # built without memory first: a wrong file fails before 1.4 GB are allocated, and the
    # weights need no random initialisation (the checkpoint sets every tensor)
    with torch.device("meta"):
        net = _net(variant, options)
    check_state_dict(net, state, path, what)
    net = net.to_empty(device="cpu")
    load_official_checkpoint(net, path, what, state=state)
    return net.eval()


def _random_checkpoint(variant: str) -> Callable[[Path], None]:
    """Writes a checkpoint in the official layout ({"model": state dict}) with random
    weights (benchmarks; about 1.4 GB)."""

    def write(path: Path) -> None:
        import torch

        net = _net(variant)
        g = torch.Generator().manual_seed(0)
        state = {}
        for k, v in net.state_dict().items():
            if v.dtype.is_floating_point and not k.endswith("K_minus_1"):
                noise = torch.randn(v.shape, generator=g) * 0.02
                v = noise + (
                    1.0
                    if k.endswith(
                        ("gamma_1", "gamma_2", "norm1.weight", "norm2.weight", "norm.weight")
                    )
                    else 0.0
                )
            state[k] = v
        torch.save({"model": state}, path)

    return write


def resize_scale(variant: str, height: int, width: int, input_size: int | None = None) -> float:
    """Network-input pixels per image pixel: MiDaS' ``minimal`` resize scale (the side
    ratio nearer 1) for a height x width image, without the padding augmentation (the
    training images were not padded)."""
    from depth_ros.core.models.nets.zoedepth import img_size

    net_h, net_w = img_size(variant, input_size)
    sh, sw = net_h / height, net_w / width
    return sw if abs(1 - sw) < abs(1 - sh) else sh


def train_scale(variant: str) -> float:
    """The training images' resize scale: NYU 640x480 → 384x512 (0.8), KITTI's kb_crop
    1216x352 → 384 rows (1.0909) (official img_size; config_zoedepth*.json)."""
    train = _VARIANTS[variant][3]
    return resize_scale(variant, train.height, train.width)


class ZoeDepthModel:
    """MonoModel: RGB uint8 → metric depth (H, W) float32 through the official infer."""

    def __init__(self, runner: Backend, variant: str, options: Options) -> None:
        self.runner = runner
        self.variant = variant
        self.options = options

    def network_input(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """(1, 3, H, W) float32 in [0, 1], as torchvision's ToTensor."""
        check_rgb(rgb)
        x = rgb.astype(np.float32) / np.float32(255.0)
        return np.ascontiguousarray(x.transpose(2, 0, 1)[None])

    def predict(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Metric depth (H, W) float32 at the image's size."""
        out = np.asarray(self.runner.run([self.network_input(rgb)])[0], dtype=np.float32)
        return out.reshape(rgb.shape[:2])

    def resize_scale(self, height: int, width: int) -> float:
        """Network-input pixels per image pixel for a height x width image at the current
        input size (see :func:`resize_scale`)."""
        return resize_scale(self.variant, height, width, int(self.options["height"]))

    def update(self, params: Mapping[str, Value]) -> None:
        """Refuse a changed ``input_size`` (the network is built for one)."""
        if "input_size" in params and int(params["input_size"]) != self.options["height"]:
            raise ConfigError("input_size of ZoeDepth is fixed at start-up")

    def close(self) -> None:
        """Release the backend."""
        self.runner.close()


def _builder(
    variant: str,
) -> Callable[[ModelConfig], ZoeDepthModel | FocalScaled[ZoeDepthModel]]:
    def build(config: ModelConfig) -> ZoeDepthModel | FocalScaled[ZoeDepthModel]:
        from depth_ros.core.backends import BackendRequest, create_backend
        from depth_ros.core.models.loading import MONO_INPUTS, MONO_OUTPUTS, config_weights

        options = _options(config)
        path = config_weights(config, weights_source(variant), _what(variant))
        request = BackendRequest(
            path,
            config.device,
            module_factory=lambda: torch_module(variant, path, options),
            input_names=MONO_INPUTS,
            output_names=MONO_OUTPUTS,
        )
        runner = create_backend(config.backend, request)
        model = ZoeDepthModel(runner, variant, options)
        if variant == "nk":  # the training camera depends on the head the router picks
            return model
        train = _VARIANTS[variant][3]
        return FocalScaled(
            model,
            train,
            lambda m, h, w: float(m.resize_scale(h, w)),
            train_scale(variant),
            bool(dict(config.params).get("focal_scaling", False)),
        )

    return build


def _register() -> None:
    for variant, (filename, description, max_depth, train) in _VARIANTS.items():
        src = weights_source(variant)
        register_model(
            ModelSpec(
                id=f"zoedepth_{variant}",
                family="zoedepth",
                input_kind=InputKind.MONO,
                output_kind=OutputKind.METRIC,
                description=description
                + (
                    ""
                    if variant == "nk"
                    else "; camera-aware with focal_scaling (trained on "
                    f"{train.name}, fx {train.fx:.1f} px at "
                    f"{train.width}x{train.height})"
                ),
                build=_builder(variant),
                params=PARAMS_NK if variant == "nk" else PARAMS,
                weights_file=filename,
                weights_source=src.describe(),
                default_input_size=384,
                max_depth=max_depth,
                camera=CameraUse.NONE,  # focal_scaling (a parameter) makes it required
                random_checkpoint=_random_checkpoint(variant),
            )
        )


_register()
