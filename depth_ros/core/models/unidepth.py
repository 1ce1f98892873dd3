"""UniDepth V2 (Piccinelli et al., 2025): universal metric depth that sees the camera.

Releases ViT-S/B/L (``lpiccinelli/unidepth-v2-vit{s,b,l}14`` on Hugging Face, each a
``pytorch_model.bin`` state dict); loaded unchanged with a strict key match. Pre- and
post-processing follow the official ``UniDepthV2.infer(rgb, camera)``:

- the image, scaled to [0, 1] and ImageNet-normalised, is zero-padded (centred) to an
  aspect ratio within [0.5, 2.5], then resized (bilinear, align_corners=False) so that
  its area lies in the training range (0.2-0.6 MP, narrowed by ``resolution_level``) with
  both sides rounded *up* to multiples of 14;
- the camera's K follows: its principal point is shifted by the padding and K's first two
  rows are scaled by the area factor (not by the rounded sides, as the official code);
  the network gets K's unit rays at every input pixel. Without a camera the network's own
  camera head predicts the intrinsics and its rays are used; that focal, mapped back to
  the image (divided by the factor), is reported as estimated;
- depth (the z of the rays times the predicted radius) and the confidence map are resized
  to the padded size (bilinear, align_corners=False) and the padding is cropped.

How the camera acts (the contract, tested in test/core/test_unidepth.py): K reaches the
network only as ray directions, which condition the decoder through sine features of
their angles; depth = radius * cos(angle of the ray to the optical axis). There is no
closed-form focal scaling (unlike canonical-camera models such as Metric3D, where depth
is proportional to fx): what doubling f does to depth is learned by the decoder, and
with random weights it is not a uniform rescaling. What does hold exactly: with a camera,
the camera head is unused; and running without one equals running with the camera the
network predicts.

The official ``infer`` runs under CUDA fp16 autocast on a GPU; here the network runs in
float32 unless the torch backend is asked for fp16.

``MonoOutput.confidence`` is ``min(1, 1 / c)`` of the official confidence ``c`` (the
official training regresses log c on the absolute depth error, so 1 / c = exp(-error)).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.arrays import FloatArray
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
from depth_ros.core.models.loading import (
    DOWNLOAD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    WeightsSource,
    check_rgb,
)
from depth_ros.core.params import ParamSpec, Value

if TYPE_CHECKING:
    from torch import nn

    from depth_ros.core.backends.base import Backend
    from depth_ros.core.camera import PinholeCamera
    from depth_ros.core.models.checkpoints import StateDict
    from depth_ros.core.models.export import ExportSpec

#: official ``shape_constraints`` of the V2 configs (ViT-S/B/L alike)
PIXELS_BOUNDS = (200_000.0, 600_000.0)
RATIO_BOUNDS = (0.5, 2.5)
SHAPE_MULT = 14

_NAMES = {"vits": "ViT-S", "vitb": "ViT-B", "vitl": "ViT-L"}
INPUT_NAMES = ("image", "rays", "use_rays")
OUTPUT_NAMES = ("depth", "confidence", "intrinsics")

RESOLUTION_LEVEL = ParamSpec(
    "resolution_level",
    -1,
    "Official resolution_level: 0..9 picks a tenth of the training image area range "
    "(0.2-0.6 MP; 0 smallest and fastest), -1 uses the whole range (the official default)",
    min=-1,
    max=9,
)
PARAMS = (RESOLUTION_LEVEL, DOWNLOAD)


# ---------------------------------------------------------------------------- geometry


@dataclass(frozen=True)
class Geometry:
    """How an image maps to the network input (official ``get_paddings`` and
    ``get_resize_factor``)."""

    paddings: tuple[int, int, int, int]  # left, right, top, bottom
    padded: tuple[int, int]  # (H, W) after padding
    factor: float  # area resize factor (applied to K)
    size: tuple[int, int]  # (H, W) network input, multiples of 14


def pixels_bounds(level: int, bounds: tuple[float, float] = PIXELS_BOUNDS) -> tuple[float, float]:
    """The image area range for ``resolution_level`` (-1: the whole training range)."""
    if level < 0:
        return bounds
    if level >= 10:
        raise ConfigError(f"resolution_level must be in [0, 10) or -1, got {level}")
    interval = (bounds[1] - bounds[0]) / 10
    return level * interval + bounds[0], (level + 1) * interval + bounds[0]


def geometry(height: int, width: int, bounds: tuple[float, float] = PIXELS_BOUNDS) -> Geometry:
    """How an image of height x width is padded to the trained aspect range and resized to a pixel
    count within ``bounds`` (official ``_shapes``)."""
    ratio = width / height
    target = min(RATIO_BOUNDS[1], max(RATIO_BOUNDS[0], ratio))
    if ratio > target:  # too wide: pad top and bottom
        ph, pw = int(width / target), width
        top = (ph - height) // 2
        pads = (0, 0, top, ph - height - top)
    else:  # too tall (or within bounds: no padding)
        ph, pw = height, int(height * target)
        left = (pw - width) // 2
        pads = (left, pw - width - left, 0, 0)
    area = pw * ph
    factor = (min(bounds[1], max(bounds[0], area)) / area) ** 0.5
    h = math.ceil(int(ph * factor) / SHAPE_MULT) * SHAPE_MULT
    w = math.ceil(int(pw * factor) / SHAPE_MULT) * SHAPE_MULT
    return Geometry(pads, (ph, pw), factor, (max(h, SHAPE_MULT), max(w, SHAPE_MULT)))


def _bilinear_axis(src: FloatArray, n_out: int, axis: int) -> FloatArray:
    """Resample one axis like ``F.interpolate(mode="bilinear", align_corners=False)``."""
    n_in = src.shape[axis]
    # source positions in float32, as PyTorch computes them for float32 tensors
    half = np.float32(0.5)
    scale = np.float32(n_in) / np.float32(n_out)
    pos = np.maximum(scale * (np.arange(n_out, dtype=np.float32) + half) - half, np.float32(0))
    lo = np.minimum(pos.astype(np.intp), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    shape = [1] * src.ndim
    shape[axis] = n_out
    t = (pos - lo.astype(np.float32)).reshape(shape).astype(src.dtype)
    a = np.take(src, lo, axis=axis)
    b = np.take(src, hi, axis=axis)
    out: FloatArray = a + (b - a) * t
    return out


def resize_bilinear(src: FloatArray, height: int, width: int) -> FloatArray:
    """(H, W, ...) → (height, width, ...), bilinear with half-pixel centres."""
    return _bilinear_axis(_bilinear_axis(src, height, 0), width, 1)


def prepare_image(rgb: NDArray[np.uint8], geo: Geometry) -> NDArray[np.float32]:
    """RGB uint8 (H, W, 3) → network input (1, 3, h, w): normalise, zero-pad, resize."""
    image = (
        rgb.astype(np.float32) / np.float32(255.0) - np.asarray(IMAGENET_MEAN, np.float32)
    ) / np.asarray(IMAGENET_STD, np.float32)
    left, right, top, bottom = geo.paddings
    if any(geo.paddings):
        image = np.pad(image, ((top, bottom), (left, right), (0, 0)))
    resized = resize_bilinear(image.astype(np.float64), *geo.size)
    return np.ascontiguousarray(resized.transpose(2, 0, 1)[None], dtype=np.float32)


def network_intrinsics(
    fx: float, fy: float, cx: float, cy: float, geo: Geometry
) -> tuple[float, float, float, float]:
    """The image's intrinsics at the network input: shifted by the padding, scaled by the
    area factor (official ``camera.crop(-pad).resize(factor)``)."""
    left, _, top, _ = geo.paddings
    f = geo.factor
    return fx * f, fy * f, (cx + left) * f, (cy + top) * f


def image_intrinsics(intrinsics: FloatArray, geo: Geometry) -> tuple[float, float, float, float]:
    """Network-input intrinsics (fx, fy, cx, cy) → the image's (official
    ``_postprocess_intrinsics``)."""
    fx, fy, cx, cy = (float(v) / geo.factor for v in np.asarray(intrinsics).reshape(-1)[:4])
    return fx, fy, cx - geo.paddings[0], cy - geo.paddings[2]


def rays(fx: float, fy: float, cx: float, cy: float, size: tuple[int, int]) -> NDArray[np.float32]:
    """(1, 3, h, w) unit rays K^-1 [u + 0.5, v + 0.5, 1] of pinhole intrinsics at the
    network input (official ``Pinhole.get_rays``)."""
    h, w = size
    x = (np.linspace(0.5, w - 0.5, w) - cx) / fx
    y = (np.linspace(0.5, h - 0.5, h) - cy) / fy
    xx, yy = np.broadcast_to(x[None], (h, w)), np.broadcast_to(y[:, None], (h, w))
    r = np.stack([xx, yy, np.ones((h, w))])
    r /= np.maximum(np.linalg.norm(r, axis=0, keepdims=True), 1e-4)
    return np.ascontiguousarray(r[None], dtype=np.float32)


def postprocess(pred: FloatArray, geo: Geometry) -> NDArray[np.float32]:
    """A (h, w) network map → (H, W) at the image: resize to the padded size (bilinear,
    align_corners=False), crop the padding."""
    out = resize_bilinear(np.asarray(pred, dtype=np.float64).reshape(geo.size), *geo.padded)
    left, right, top, bottom = geo.paddings
    out = out[top : geo.padded[0] - bottom, left : geo.padded[1] - right]
    return np.ascontiguousarray(out, dtype=np.float32)


# ---------------------------------------------------------------------------- model


@dataclass(frozen=True)
class RawOutput:
    """The official ``infer`` outputs at the image's size."""

    depth: NDArray[np.float32]
    confidence: NDArray[np.float32]  # official: larger = less sure
    intrinsics: tuple[float, float, float, float]  # predicted fx, fy, cx, cy (image px)


class UniDepthModel:
    """A :class:`~depth_ros.core.models.base.CameraAwareMonoModel` around a backend that
    runs :class:`~depth_ros.core.models.nets.unidepth.UniDepthV2Net`."""

    def __init__(
        self,
        runner: Backend,
        resolution_level: object = -1,
        bounds: tuple[float, float] = PIXELS_BOUNDS,
    ) -> None:
        self.runner = runner
        self.bounds = bounds
        self.resolution_level = self._check_level(resolution_level)

    @staticmethod
    def _check_level(value: object) -> int:
        why = RESOLUTION_LEVEL.validate(value)
        if why:
            raise ConfigError(why)
        assert isinstance(value, int)
        return value

    def update(self, params: Mapping[str, Value]) -> None:
        """Apply ``resolution_level`` (checked first)."""
        if "resolution_level" in params:
            self.resolution_level = self._check_level(params["resolution_level"])

    def geometry(self, height: int, width: int) -> Geometry:
        """The network input geometry for an image of height x width at the current resolution
        level."""
        return geometry(height, width, pixels_bounds(self.resolution_level, self.bounds))

    def network_inputs(
        self, rgb: NDArray[np.uint8], camera: PinholeCamera | None
    ) -> tuple[list[NDArray[np.float32]], Geometry]:
        """The network's three inputs (image, rays, use_rays) and the image geometry."""
        check_rgb(rgb)
        height, width = rgb.shape[:2]
        geo = self.geometry(height, width)
        image = prepare_image(rgb, geo)
        if camera is None:
            ray = np.zeros((1, 3, *geo.size), np.float32)
            use = np.zeros(1, np.float32)
        else:
            if camera.fx <= 0 or camera.fy <= 0:
                raise InputError(
                    f"camera focal lengths must be positive, got fx={camera.fx}, fy={camera.fy}"
                )
            k = network_intrinsics(camera.fx, camera.fy, camera.cx, camera.cy, geo)
            ray = rays(*k, geo.size)
            use = np.ones(1, np.float32)
        return [image, ray, use], geo

    def raw(self, rgb: NDArray[np.uint8], camera: PinholeCamera | None) -> RawOutput:
        """The official outputs at the image's size (depth, confidence, predicted intrinsics)."""
        inputs, geo = self.network_inputs(rgb, camera)
        depth, confidence, intrinsics = self.runner.run(inputs)[:3]
        return RawOutput(
            postprocess(depth, geo), postprocess(confidence, geo), image_intrinsics(intrinsics, geo)
        )

    def infer(self, rgb: NDArray[np.uint8], camera: PinholeCamera | None) -> MonoOutput:
        """Depth, confidence in [0, 1] and the focal used (the camera's, or the predicted one)."""
        out = self.raw(rgb, camera)
        with np.errstate(divide="ignore"):
            confidence = np.minimum(1.0, 1.0 / np.maximum(out.confidence, 0.0))
        return MonoOutput(
            depth=out.depth,
            confidence=confidence.astype(np.float32),
            focal_px=float(camera.fx) if camera is not None else out.intrinsics[0],
            focal_estimated=camera is None,
        )

    def predict(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Depth in metres with the network's own camera estimate."""
        return self.infer(rgb, None).depth

    def close(self) -> None:
        """Release the backend."""
        self.runner.close()


# ---------------------------------------------------------------------------- registry


def weights_source(variant: str) -> WeightsSource:
    """Where the official checkpoint of ``variant`` is published (Hugging Face)."""
    repo = f"unidepth-v2-{variant}14"
    return WeightsSource("pytorch_model.bin", hf_repo=f"lpiccinelli/{repo}", cache_subdir=repo)


def _what(variant: str) -> str:
    return f"UniDepth V2 {_NAMES[variant]} checkpoint (state dict of UniDepthV2)"


def _weights(config: ModelConfig, variant: str) -> Path:
    from depth_ros.core.models.loading import config_weights

    return config_weights(config, weights_source(variant), _what(variant))


def _torch_module(variant: str, path: Path) -> nn.Module:
    """The network with the official checkpoint at ``path`` loaded (strict), eval mode."""
    from depth_ros.core.models.loading import load_official_checkpoint, read_official_state
    from depth_ros.core.models.nets.unidepth import UniDepthV2Net

    what = _what(variant)
    state = read_official_state(path, what)
    net = UniDepthV2Net(variant)
    load_official_checkpoint(net, path, what, state=state)
    return net.eval()


def random_state(variant: str, seed: int = 0) -> StateDict:
    """Random weights in the official layout: N(0, 0.02), LayerNorm weights and
    LayerScale gammas near 1 (timm's skipped init leaves memory uninitialised)."""
    import torch

    from depth_ros.core.models.nets.unidepth import UniDepthV2Net

    g = torch.Generator().manual_seed(seed)
    with torch.device("meta"):
        net = UniDepthV2Net(variant)
    state = {}
    for name, p in net.state_dict().items():
        t = torch.randn(p.shape, generator=g) * 0.02
        if name.endswith("gamma") or (p.ndim == 1 and name.endswith("weight")):
            t += 1.0
        state[name] = t
    return state


def _random_checkpoint(variant: str) -> Callable[[Path], None]:
    """Writes a checkpoint in the official layout with random weights (benchmarks)."""

    def write(path: Path) -> None:
        import torch

        torch.save(random_state(variant), path)

    return write


def _builder(variant: str) -> Callable[[ModelConfig], UniDepthModel]:
    def build(config: ModelConfig) -> UniDepthModel:
        from depth_ros.core.backends import BackendRequest, create_backend

        path = _weights(config, variant)
        request = BackendRequest(
            path,
            config.device,
            module_factory=lambda: _torch_module(variant, path),
            input_names=INPUT_NAMES,
            output_names=OUTPUT_NAMES,
        )
        runner = create_backend(config.backend, request)
        level = dict(config.params).get("resolution_level", RESOLUTION_LEVEL.default)
        return UniDepthModel(runner, level)

    return build


def example_inputs(height: int, width: int) -> tuple[NDArray[np.float32], ...]:
    """Network inputs of a random image of the network input's size, with a camera."""
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    geo = Geometry((0, 0, 0, 0), (height, width), 1.0, (height, width))
    f = 0.7 * math.hypot(height, width)
    ray = rays(f, f, width / 2, height / 2, (height, width))
    return prepare_image(rgb, geo), ray, np.ones(1, np.float32)


def _export(variant: str) -> ExportSpec:
    from depth_ros.core.models.export import ExportSpec

    return ExportSpec(
        module_factory=lambda config: _torch_module(variant, _weights(config, variant)),
        input_names=INPUT_NAMES,
        output_names=OUTPUT_NAMES,
        example_inputs=example_inputs,
        dynamic_axes={},  # fixed size: position embedding and ray resampling are baked
        size_multiple=SHAPE_MULT,
        min_size=SHAPE_MULT * 2,
        default_size=(490, 644),  # a 640x480 image at the default resolution
    )


def _register() -> None:
    for variant, name in _NAMES.items():
        src = weights_source(variant)
        register_model(
            ModelSpec(
                id=f"unidepth_v2_{variant}",
                family="unidepth",
                input_kind=InputKind.MONO,
                output_kind=OutputKind.METRIC,
                description=f"UniDepth V2 {name}, metric depth conditioned on camera_info's "
                "K (estimates K without it), with confidence",
                build=_builder(variant),
                params=PARAMS,
                weights_file=src.filename,
                weights_source=src.describe(),
                camera=CameraUse.OPTIONAL,
                outputs=frozenset({"confidence"}),
                export=_export(variant),
                random_checkpoint=_random_checkpoint(variant),
            )
        )


_register()
