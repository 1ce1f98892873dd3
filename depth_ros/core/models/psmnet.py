"""``psmnet``: PSMNet stereo matching (stacked hourglass), official checkpoints unchanged.

Input handling follows the official ``Test_img.py``: RGB scaled to 0..1, ImageNet
mean/std normalisation, zero padding (after normalisation) at the *top* and *right* up
to a multiple of 16, output cropped back. Images are also padded up to 256 pixels in
each direction, the smallest size the network's pyramid pooling accepts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.errors import ConfigError
from depth_ros.core.models import register_model
from depth_ros.core.models._learned_stereo import (
    INPUT_SCALE,
    LearnedStereo,
    at_scale,
    check_pair,
    padded_size,
    scaled_size,
    stereo_backend,
)
from depth_ros.core.models.base import InputKind, ModelConfig, ModelSpec, OutputKind
from depth_ros.core.models.export import META_MODEL, ExportSpec
from depth_ros.core.params import ParamSpec, Value, defaults

if TYPE_CHECKING:
    from torch import nn

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
SIZE_MULTIPLE = 16
MIN_SIZE = 256
INPUTS = ("left", "right")
OUTPUTS = ("disparity",)

PARAMS = (
    ParamSpec(
        "max_disparity",
        192,
        "Disparity search range of the network, pixels (multiple of 16); the official "
        "checkpoints were trained with 192",
        16,
        384,
        step=16,
        read_only=True,
    ),
    ParamSpec("fp16", False, "Half precision (CUDA devices only)", read_only=True),
    INPUT_SCALE,
)


def _values(config: ModelConfig) -> dict[str, Value]:
    values = defaults({p.name: p for p in PARAMS})
    values.update(config.params)
    return values


def torch_module(config: ModelConfig) -> nn.Module:
    """The PSMNet ``torch.nn.Module`` with the checkpoint ``config.weights`` loaded
    (strict key match), in eval mode."""
    from depth_ros.core.backends import is_exported
    from depth_ros.core.models.checkpoints import load_state_dict_file, load_strict, require_file
    from depth_ros.core.models.nets.psmnet import PSMNet

    what = "PSMNet checkpoint (e.g. pretrained_model_KITTI2015.tar)"
    path = require_file(config.weights, what=what, source=SPEC.weights_source)
    if is_exported(path):
        raise ConfigError(f"{path} is not a PyTorch checkpoint; expected the {what}")
    net = PSMNet(int(_values(config)["max_disparity"]))
    load_strict(net, load_state_dict_file(path, expected=what), path, what)
    return net.eval()


def preprocess(rgb: NDArray[np.uint8], height: int, width: int) -> NDArray[np.float32]:
    """(H, W, 3) uint8 → (1, 3, height, width) normalised, zero-padded top and right."""
    h, w = rgb.shape[:2]
    x = (rgb.astype(np.float32) * np.float32(1 / 255.0) - MEAN) / STD
    out = np.zeros((1, 3, height, width), np.float32)
    out[0, :, height - h :, :w] = x.transpose(2, 0, 1)
    return out


def example_inputs(height: int, width: int) -> tuple[NDArray[np.float32], ...]:
    """A network input pair of ``height`` x ``width`` (a random image and itself shifted 4 px) for
    ONNX export."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return preprocess(img, height, width), preprocess(np.roll(img, -4, 1), height, width)


class PSMNetStereo(LearnedStereo):
    """StereoModel running PSMNet through any backend (torch, onnxruntime, tensorrt)."""

    id = "psmnet"

    def __init__(self, config: ModelConfig) -> None:
        self.params = _values(config)
        self.backend = stereo_backend(
            SPEC,
            config,
            lambda: torch_module(config),
            INPUTS,
            OUTPUTS,
            fp16=bool(self.params["fp16"]),
        )
        meta: Mapping[str, str] = getattr(self.backend, "metadata", {}) or {}
        baked = meta.get("param.max_disparity")
        if meta.get(META_MODEL, "psmnet") != "psmnet" or (
            baked is not None and int(baked) != int(self.params["max_disparity"])
        ):
            raise ConfigError(
                f"{config.weights} was exported as {meta.get(META_MODEL)} with "
                f"max_disparity {baked}; requested psmnet with max_disparity "
                f"{self.params['max_disparity']}"
            )

    def compute(self, left: NDArray[np.uint8], right: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Disparity (H, W) float32 of the pair at the ``input_scale`` parameter, NaN invalid."""
        check_pair(left, right)
        return at_scale(left, right, float(self.params["input_scale"]), self._infer)

    def disparity_range(self, width: int) -> tuple[float, float]:
        """[0, max_disparity - 1] of the network (its soft argmin's range), in pixels of
        the input image (times width / scaled width with ``input_scale``)."""
        scaled, _ = scaled_size(width, 1, float(self.params["input_scale"]))
        return 0.0, (int(self.params["max_disparity"]) - 1) * width / scaled

    def _infer(self, left: NDArray[np.uint8], right: NDArray[np.uint8]) -> NDArray[np.float32]:
        h, w = left.shape[:2]
        ph = padded_size(h, SIZE_MULTIPLE, MIN_SIZE)
        pw = padded_size(w, SIZE_MULTIPLE, MIN_SIZE)
        (disp,) = self.backend.run([preprocess(left, ph, pw), preprocess(right, ph, pw)])
        out = np.ascontiguousarray(disp.reshape(ph, pw)[ph - h :, :w], dtype=np.float32)
        out[~np.isfinite(out)] = np.nan
        return out


SPEC = register_model(
    ModelSpec(
        id="psmnet",
        family="psmnet",
        input_kind=InputKind.STEREO,
        output_kind=OutputKind.DISPARITY,
        description="PSMNet stacked-hourglass stereo (Chang & Chen 2018)",
        build=PSMNetStereo,
        params=PARAMS,
        weights_file="pretrained_model_KITTI2015.tar",
        weights_source=(
            "https://github.com/JiaRenChang/PSMNet (README, 'Pretrained Model': KITTI 2015 "
            "/ KITTI 2012 / Scene Flow checkpoints)"
        ),
        export=ExportSpec(
            module_factory=torch_module,
            input_names=INPUTS,
            output_names=OUTPUTS,
            example_inputs=example_inputs,
            dynamic_axes={
                "left": {0: "batch", 2: "height", 3: "width"},
                "right": {0: "batch", 2: "height", 3: "width"},
                "disparity": {0: "batch", 1: "height", 2: "width"},
            },
            size_multiple=SIZE_MULTIPLE,
            min_size=MIN_SIZE,
            default_size=(256, 512),
            baked_params=("max_disparity",),
        ),
    )
)
