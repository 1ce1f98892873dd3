"""``hitnet``: HITNet stereo (Tankovich et al. 2021), Google Research's released graphs
converted to ONNX (the ETH3D model by default).

The network takes grey left and right images scaled to 0..1 as one (N, H, W, 2) tensor,
H and W multiples of 32; images are padded at the bottom and right by edge replication
and the disparity (pixels of the left image) cropped back. There is no PyTorch
implementation: weights are an ``.onnx`` file (onnxruntime) or a TensorRT engine.
With onnxruntime the graph is rewritten at load time
(:func:`~depth_ros.core.backends.onnx_graph.swap_tile_transpose`: same disparities, bit
for bit; about 5 % faster on CPU).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.models import register_model
from depth_ros.core.models._learned_stereo import (
    INPUT_SCALE,
    LearnedStereo,
    at_scale,
    check_pair,
    padded_size,
    stereo_backend,
)
from depth_ros.core.models.base import InputKind, ModelConfig, ModelSpec, OutputKind
from depth_ros.core.params import ParamSpec, defaults

SIZE_MULTIPLE = 32
INPUTS = ("input:0",)
OUTPUTS = ("reference_output_disparity:0",)
# ITU-R BT.601 luma, as cv2.COLOR_RGB2GRAY
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)

PARAMS = (
    ParamSpec(
        "fp16",
        False,
        "Half precision (TensorRT execution provider / engine only)",
        read_only=True,
    ),
    INPUT_SCALE,
)


def grey(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """RGB uint8 (H, W, 3) → grey float32 0..1 (H, W)."""
    return (rgb.astype(np.float32) @ (_LUMA / np.float32(255.0))).astype(np.float32)


def preprocess(
    left: NDArray[np.uint8], right: NDArray[np.uint8], height: int, width: int
) -> NDArray[np.float32]:
    """(1, height, width, 2) network input: grey left and right, edge-padded."""
    h, w = left.shape[:2]
    pair = np.stack([grey(left), grey(right)], axis=-1)
    pair = np.pad(pair, ((0, height - h), (0, width - w), (0, 0)), mode="edge")
    return np.ascontiguousarray(pair[None], dtype=np.float32)


class HITNetStereo(LearnedStereo):
    """StereoModel running the HITNet ONNX graph (onnxruntime) or a TensorRT engine."""

    id = "hitnet"

    def __init__(self, config: ModelConfig) -> None:
        self.params = defaults({p.name: p for p in PARAMS})
        self.params.update(config.params)
        self.backend = stereo_backend(
            SPEC,
            config,
            None,
            INPUTS,
            OUTPUTS,
            fp16=bool(self.params["fp16"]),
            rewrite_graph=True,
        )

    def compute(self, left: NDArray[np.uint8], right: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Disparity (H, W) float32 of the pair at the ``input_scale`` parameter, NaN invalid."""
        check_pair(left, right)
        return at_scale(left, right, float(self.params["input_scale"]), self._infer)

    def _infer(self, left: NDArray[np.uint8], right: NDArray[np.uint8]) -> NDArray[np.float32]:
        h, w = left.shape[:2]
        ph, pw = padded_size(h, SIZE_MULTIPLE), padded_size(w, SIZE_MULTIPLE)
        (disp,) = self.backend.run([preprocess(left, right, ph, pw)])
        out = np.ascontiguousarray(disp.reshape(ph, pw)[:h, :w], dtype=np.float32)
        out[~np.isfinite(out)] = np.nan
        return out


SPEC = register_model(
    ModelSpec(
        id="hitnet",
        family="hitnet",
        input_kind=InputKind.STEREO,
        output_kind=OutputKind.DISPARITY,
        description="HITNet stereo (Tankovich et al. 2021), ETH3D release, ONNX",
        build=HITNetStereo,
        params=PARAMS,
        weights_file="eth3d_converted.onnx",
        weights_source=(
            "https://github.com/google-research/google-research/tree/master/hitnet "
            "(eth3d.pb, Apache-2.0; convert with: python -m tf2onnx.convert --graphdef "
            "eth3d.pb --inputs input:0 --outputs reference_output_disparity:0 --opset 13 "
            "--output eth3d_converted.onnx)"
        ),
    )
)
