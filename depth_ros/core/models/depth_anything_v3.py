"""Depth Anything 3 (Lin et al., 2025, arXiv 2511.10647): the single-image path of the
any-view releases (DA3-Small / Base / Large / Giant), DA3Mono-Large (relative),
DA3Metric-Large (metres from the camera's focal length) and DA3Nested-Giant-Large (Giant
and Metric-Large together: metres from the image alone).

Weights: the official Hugging Face releases (``depth-anything/DA3-SMALL`` ...), each a
``model.safetensors`` (keys ``model.*``, as ``DepthAnything3.save_pretrained`` writes them)
next to a ``config.json`` naming the configuration (``"model_name": "da3-small"``...). The
safetensors file loads unchanged with a strict key match; a ``config.json`` lying next to
it must name this model's configuration (DA3Mono-Large and DA3Metric-Large have the same
keys and shapes: only the config tells them apart). The ray head's LayerNorm, shared by
its four levels, is stored once (under level 0, as safetensors' ``save_model`` keeps the
first name); a ``torch.save`` of the official ``state_dict()`` (it under all four levels,
equal) loads as well.

Pre- and post-processing follow the official ``DepthAnything3.inference`` for one image
(``InputProcessor``, ``upper_bound_resize`` at ``process_res`` 504 by default):

- the longest side is resized to ``input_size`` (``lower_bound_resize``: the shortest),
  sides ``int(round(side * scale))``, OpenCV on the uint8 image (INTER_AREA when shrinking,
  INTER_CUBIC when enlarging); then each side to the nearest multiple of 14 (ties up) with
  a second resize (cubic if a side grows, else area); RGB / 255, ImageNet normalisation;
- any-view: depth (up to scale) and confidence at the network size; the camera decoder's
  focal estimate. Mono / Metric: depth, and sky pixels (sky head < 0.3 is not sky) set to
  the 0.99 quantile of the non-sky depth when both hold more than 10 pixels. The official
  code takes that quantile of a random sample of 100 000 pixels when there are more; here
  it is exact (deterministic, and equal to the official one up to 100 000 pixels);
- Metric: metres = depth x f / 300, f = (fx + fy) / 2 of the camera's intrinsics resized
  with the image to the network input (official README and ``apply_metric_scaling``);
- Nested (``NestedDepthAnything3Net``): the Metric branch's depth x f / 300 with the
  any-view branch's *predicted* focal (camera_info is not used), the any-view depth
  scaled to it by least squares over the non-sky pixels whose confidence is at least the
  median (and depths above 1e-3 / 1e-2 m), then sky pixels set to min(0.99 quantile of the
  non-sky depth, 200 m) with confidence 1 (the lowest). Quantiles exact here (the official
  code samples 100 000 pixels when there are more).

The official code returns maps at the network size; they are resized to the image here
(bilinear, ``align_corners=False``). ``OutputKind.RELATIVE`` is inverse depth: the
relative models' prediction is ``1 / depth`` (their depth is defined up to scale, so its
inverse is an affine-invariant inverse depth with zero shift). ``MonoOutput.confidence``
is ``1 - 1 / c`` of the official confidence ``c = 1 + exp(logit)``, i.e. the sigmoid of the
logit, in (0, 1). The any-view releases' focal estimate (the camera decoder's field of
view, in image pixels) is reported as ``focal_px`` (estimated); their depth does not use
camera_info. The official ``inference`` runs under CUDA autocast (bf16/fp16); here the
network runs in float32 unless the torch backend is asked for fp16.

Not here: multi-view inference, pose-conditioned depth (``cam_enc``) and Gaussians
(Giant's ``gs_head``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
from depth_ros.core.models.loading import (
    DOWNLOAD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    WeightsSource,
    check_rgb,
    resize_prediction,
)
from depth_ros.core.params import ParamSpec, Value

if TYPE_CHECKING:
    import torch
    from torch import nn

    from depth_ros.core.backends.base import Backend
    from depth_ros.core.camera import PinholeCamera
    from depth_ros.core.models.checkpoints import StateDict
    from depth_ros.core.models.export import ExportSpec

PATCH = 14
METRIC_FOCAL_DIVISOR = 300.0  # metres = depth * focal / 300 (official README, FAQ)
SKY_THRESHOLD = 0.3  # compute_sky_mask: sky head output below it is not sky
SKY_QUANTILE = 0.99
RESIZE_METHODS = ("upper_bound_resize", "lower_bound_resize")

DEFAULT_SIZE = 504  # official process_res
INPUT_SIZE = ParamSpec(
    "input_size",
    DEFAULT_SIZE,
    "Processing resolution (official process_res): the longest image side is resized to "
    "it (shortest with lower_bound_resize), then each side to a multiple of 14",
    min=28,
    max=4032,
)
RESIZE_METHOD = ParamSpec(
    "resize_method",
    "upper_bound_resize",
    "Official process_res_method: bound the longest side (upper) or the shortest (lower)",
    choices=RESIZE_METHODS,
)
PARAMS = (INPUT_SIZE, RESIZE_METHOD, DOWNLOAD)


@dataclass(frozen=True)
class Release:
    """One official release: its configuration and Hugging Face repository."""

    key: str  # our model ID suffix
    config: str  # official configuration name (config.json's model_name)
    repo: str  # depth-anything/<repo>
    label: str
    kind: str  # anyview | mono | metric | nested
    licence: str

    @property
    def model_id(self) -> str:
        """The registered model ID of the release."""
        return f"depth_anything_v3_{self.key}"

    @property
    def what(self) -> str:
        """What the checkpoint is, for error messages."""
        return (
            f"Depth Anything 3 {self.label} checkpoint (model.safetensors of "
            f"huggingface.co/depth-anything/{self.repo}, configuration {self.config})"
        )

    def source(self) -> WeightsSource:
        """Where the release's model.safetensors is published (its SHA-256 is not verified)."""
        # the SHA-256 of the released files could not be looked up here: not verified
        return WeightsSource(
            "model.safetensors", hf_repo=f"depth-anything/{self.repo}", cache_subdir=self.repo
        )


RELEASES = (
    Release("small", "da3-small", "DA3-SMALL", "Small", "anyview", "Apache-2.0"),
    Release("base", "da3-base", "DA3-BASE", "Base", "anyview", "Apache-2.0"),
    # the "-1.1" releases are the retrained ones the official README recommends; the
    # original DA3-LARGE / DA3-GIANT files have the same layout and load as well
    Release("large", "da3-large", "DA3-LARGE-1.1", "Large", "anyview", "CC BY-NC 4.0"),
    Release("giant", "da3-giant", "DA3-GIANT-1.1", "Giant", "anyview", "CC BY-NC 4.0"),
    Release("mono_large", "da3mono-large", "DA3MONO-LARGE", "Mono-Large", "mono", "Apache-2.0"),
    Release(
        "metric_large", "da3metric-large", "DA3METRIC-LARGE", "Metric-Large", "metric", "Apache-2.0"
    ),
    Release(
        "nested_giant_large",
        "da3nested-giant-large",
        "DA3NESTED-GIANT-LARGE-1.1",
        "Nested-Giant-Large",
        "nested",
        "CC BY-NC 4.0",
    ),
)
#: how many arrays each kind's network gives
N_OUTPUTS = {"anyview": 3, "mono": 2, "metric": 2, "nested": 5}


# ---------------------------------------------------------------------------- processing


def _nearest_multiple(x: int, p: int = PATCH) -> int:
    down = (x // p) * p
    up = down + p
    return up if abs(up - x) <= abs(x - down) else down


def network_size(height: int, width: int, input_size: int, method: str) -> tuple[int, int]:
    """(height, width) of the network input for an image, by the official two resizes
    (at least one patch per side, where the official code would fail)."""
    return _sizes(height, width, input_size, method)[1]


def _sizes(
    height: int, width: int, input_size: int, method: str
) -> tuple[tuple[int, int], tuple[int, int]]:
    if method not in RESIZE_METHODS:
        raise ConfigError(
            f"resize_method must be one of {', '.join(RESIZE_METHODS)}, got {method!r}"
        )
    side = max(height, width) if method == "upper_bound_resize" else min(height, width)
    h1, w1 = height, width
    if side != input_size:
        scale = input_size / float(side)
        # Python round: half to even, as the official code
        w1, h1 = max(1, round(width * scale)), max(1, round(height * scale))
    return (h1, w1), (max(PATCH, _nearest_multiple(h1)), max(PATCH, _nearest_multiple(w1)))


def prepare(rgb: NDArray[np.uint8], input_size: int, method: str) -> NDArray[np.float32]:
    """RGB uint8 (H, W, 3) → network input (1, 3, h, w) float32, as the official
    ``InputProcessor``."""
    import cv2

    check_rgb(rgb)
    h, w = rgb.shape[:2]
    (h1, w1), (h2, w2) = _sizes(h, w, input_size, method)
    image = rgb
    if (h1, w1) != (h, w):
        grow = input_size > (max(h, w) if method == "upper_bound_resize" else min(h, w))
        interp = cv2.INTER_CUBIC if grow else cv2.INTER_AREA
        image = np.asarray(cv2.resize(image, (w1, h1), interpolation=interp), np.uint8)
    if (h2, w2) != (h1, w1):
        grow = w2 > w1 or h2 > h1
        interp = cv2.INTER_CUBIC if grow else cv2.INTER_AREA
        image = np.asarray(cv2.resize(image, (w2, h2), interpolation=interp), np.uint8)
    # torchvision's ToTensor and Normalize, in float32
    x: NDArray[np.float32] = image.astype(np.float32)
    np.divide(x, np.float32(255.0), out=x)
    np.subtract(x, np.asarray(IMAGENET_MEAN, np.float32), out=x)
    np.divide(x, np.asarray(IMAGENET_STD, np.float32), out=x)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)


def fill_sky(depth: NDArray[np.float32], sky: NDArray[np.float32]) -> NDArray[np.float32]:
    """The official Mono/Metric sky step: sky pixels (``sky >= 0.3``) take the 0.99
    quantile of the other pixels' depth, when both sets hold more than 10 pixels (exact
    quantile; the official one samples 100 000 pixels when there are more)."""
    clear = sky < SKY_THRESHOLD
    n_clear = int(clear.sum())
    if n_clear <= 10 or clear.size - n_clear <= 10:
        return depth
    out = depth.copy()
    out[~clear] = np.quantile(depth[clear], SKY_QUANTILE)
    return out


def metric_focal(camera: PinholeCamera, height: int, width: int, net: tuple[int, int]) -> float:
    """The official metric focal: (fx + fy) / 2 of K resized with the image to the network
    input (``InputProcessor._resize_ixt``)."""
    fx, fy = float(camera.fx), float(camera.fy)
    for name, f in (("fx", fx), ("fy", fy)):
        if not np.isfinite(f) or f <= 0:
            raise InputError(f"camera focal length {name} must be positive, got {f}")
    return (fx * net[1] / width + fy * net[0] / height) / 2.0


def nested_metric(
    depth: NDArray[np.float32],
    conf: NDArray[np.float32],
    focal: NDArray[np.float32],
    metric_raw: NDArray[np.float32],
    sky: NDArray[np.float32],
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """The official ``NestedDepthAnything3Net`` on one image's maps (network size): the
    any-view depth in metres and its confidence (see the module docstring)."""
    metric = metric_raw * np.float32((float(focal[0]) + float(focal[1])) / 2.0 / 300.0)
    clear = sky < SKY_THRESHOLD
    if int(clear.sum()) <= 10:
        raise InputError(
            "Depth Anything 3 Nested: at most 10 pixels are not sky, too few to align the "
            "relative depth with the metric branch (the official code fails the same way)"
        )
    median_conf = np.quantile(conf[clear], 0.5)
    mask = (conf >= median_conf) & clear & (metric > 1e-2) & (depth > 1e-3)
    a = metric[mask].astype(np.float64)
    b = depth[mask].astype(np.float64)
    scale = float(a @ b) / max(float(b @ b), 1e-12)
    out = (depth * np.float32(scale)).astype(np.float32)
    confidence = conf.copy()
    if (~clear).any():
        out[~clear] = min(float(np.quantile(out[clear], SKY_QUANTILE)), 200.0)
        confidence[~clear] = 1.0
    return out, confidence


def _inverse(depth: NDArray[np.float32]) -> NDArray[np.float32]:
    with np.errstate(divide="ignore"):
        return (np.float32(1.0) / depth).astype(np.float32)


class DepthAnything3Model:
    """A :class:`~depth_ros.core.models.base.CameraAwareMonoModel` around a backend that
    runs :class:`~depth_ros.core.models.nets.depth_anything_v3.DepthAnything3Net` (or its
    ONNX export)."""

    def __init__(self, runner: Backend, release: Release, input_size: int, method: str) -> None:
        self.runner = runner
        self.release = release
        self._check(input_size, method)
        self.input_size = input_size
        self.method = method

    @staticmethod
    def _check(input_size: object, method: object) -> None:
        for spec, value in ((INPUT_SIZE, input_size), (RESIZE_METHOD, method)):
            why = spec.validate(value)
            if why:
                raise ConfigError(why)

    def update(self, params: Mapping[str, Value]) -> None:
        """Apply ``input_size`` and ``resize_method`` (checked first)."""
        size = params.get("input_size", self.input_size)
        method = params.get("resize_method", self.method)
        self._check(size, method)
        self.input_size, self.method = int(size), str(method)

    def network_input(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """The (1, 3, h, w) array the backend runs for ``rgb``."""
        return prepare(rgb, self.input_size, self.method)

    def raw(self, rgb: NDArray[np.uint8]) -> list[NDArray[np.float32]]:
        """The network's outputs at the network size (official values, before resizing):
        any-view [depth, confidence, (fx, fy)], Mono/Metric [depth after the sky step,
        sky], nested [metres, confidence, (fx, fy)]."""
        x = self.network_input(rgb)
        outs = [np.asarray(o, dtype=np.float32) for o in self.runner.run([x])]
        h, w = x.shape[-2:]
        kind = self.release.kind
        want = N_OUTPUTS[kind]
        if len(outs) < want:
            raise InputError(
                f"the Depth Anything 3 network gave {len(outs)} outputs, expected {want}"
            )
        depth = outs[0].reshape(h, w)
        if kind == "nested":
            focal = outs[2].reshape(2)
            metric, conf = nested_metric(
                depth, outs[1].reshape(h, w), focal, outs[3].reshape(h, w), outs[4].reshape(h, w)
            )
            return [metric, conf, focal]
        if kind == "anyview":
            return [depth, outs[1].reshape(h, w), outs[2].reshape(2)]
        sky = outs[1].reshape(h, w)
        return [fill_sky(depth, sky), sky]

    def predict(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Relative releases: inverse depth at the image's size. Metric: refused (the
        metric scale needs the camera; use ``infer``)."""
        return self.infer(rgb, None).depth

    def infer(self, rgb: NDArray[np.uint8], camera: PinholeCamera | None) -> MonoOutput:
        """Depth (metres for Metric, Nested and with a camera for any-view), confidence where the
        release gives one, and the focal used."""
        check_rgb(rgb)
        kind = self.release.kind
        if kind == "metric" and camera is None:
            raise InputError(
                "Depth Anything 3 Metric's metric scale follows the camera's focal length: "
                "it needs the camera's intrinsics (camera_info) with every image"
            )
        h, w = rgb.shape[:2]
        outs = self.raw(rgb)
        net = outs[0].shape
        depth = resize_prediction(outs[0], h, w, "bilinear")
        if kind == "metric":
            assert camera is not None
            focal = metric_focal(camera, h, w, (net[0], net[1]))
            return MonoOutput(
                (depth * np.float32(focal / METRIC_FOCAL_DIVISOR)).astype(np.float32),
                focal_px=(float(camera.fx) + float(camera.fy)) / 2.0,
            )
        if kind == "mono":
            return MonoOutput(_inverse(depth))
        # nested: metres (the any-view depth aligned to the metric branch)
        published = depth if kind == "nested" else _inverse(depth)
        conf = outs[1]
        confidence = resize_prediction(1.0 - 1.0 / np.maximum(conf, 1.0), h, w, "bilinear")
        fx = float(outs[2][0]) * w / net[1]
        return MonoOutput(
            published,
            confidence=np.clip(confidence, 0.0, 1.0).astype(np.float32),
            focal_px=fx,
            focal_estimated=True,
        )

    def close(self) -> None:
        """Release the backend."""
        self.runner.close()


# ---------------------------------------------------------------------------- weights


def check_config_json(path: Path, release: Release) -> None:
    """A ``config.json`` next to the weights (as the Hugging Face release has) must name
    this release's configuration: DA3Mono-Large and DA3Metric-Large share their keys."""
    config = path.parent / "config.json"
    if not config.is_file():
        return
    try:
        name = json.loads(config.read_text()).get("model_name")
    except (OSError, ValueError, AttributeError):
        return  # not the official config.json: nothing to compare
    if isinstance(name, str) and name != release.config:
        raise WeightsError(
            f"{config} names configuration {name!r}, but {release.model_id} needs "
            f"{release.config!r}: {path} is not the {release.what}"
        )


def _weights(config: ModelConfig, release: Release) -> Path:
    from depth_ros.core.models.loading import config_weights

    return config_weights(config, release.source(), release.what)


def torch_module(release: Release, path: Path) -> nn.Module:
    """The network with the official checkpoint at ``path`` loaded (strict), eval mode."""
    from depth_ros.core.models.loading import load_official_checkpoint, read_official_state
    from depth_ros.core.models.nets.depth_anything_v3 import DepthAnything3Net

    check_config_json(Path(path), release)
    state = read_official_state(path, release.what)
    if not any(k.startswith("model.") for k in state):
        raise WeightsError(
            f"{path} has no model.* keys (found e.g. {next(iter(state))!r}): expected the "
            f"{release.what}"
        )
    state = merge_tied(state, path, release.what)
    import torch

    with torch.device("meta"):  # every parameter comes from the file: no initialisation
        net = DepthAnything3Net(release.config)
    net = net.to_empty(device="cpu")
    load_official_checkpoint(net, path, release.what, state=state)
    return net.eval()


def merge_tied(state: Mapping[str, torch.Tensor], path: Path, what: str) -> StateDict:
    """The ray head's one LayerNorm under its stored name (level 0): a file holding it
    under several levels (``torch.save`` of the official ``state_dict()``) must hold the
    same values under each; one holding it under another level only is renamed."""
    import torch

    out = dict(state)
    for prefix, leaf in [(p, leaf) for p in _AUX_PREFIXES for leaf in ("weight", "bias")]:
        names = [f"{prefix}.{level}.2.{leaf}" for level in range(4)]
        present = [n for n in names if n in out]
        if not present or present == names[:1]:
            continue
        first = out[present[0]]
        for n in present[1:]:
            if out[n].shape != first.shape or not torch.equal(out[n], first):
                raise WeightsError(
                    f"{path}: {n} differs from {present[0]}, but the official network shares "
                    f"one LayerNorm between them: not the {what}"
                )
        for n in present:
            del out[n]
        out[names[0]] = first
    return out


_AUX_PREFIXES = ("model.head.scratch.output_conv2_aux", "model.da3.head.scratch.output_conv2_aux")


def tied_aliases(release: Release) -> dict[str, str]:
    """What safetensors' save_model records for the ray head's shared LayerNorm."""
    if release.kind not in ("anyview", "nested"):
        return {}
    prefix = _AUX_PREFIXES[release.kind == "nested"]
    return {
        f"{prefix}.{level}.2.{leaf}": f"{prefix}.0.2.{leaf}"
        for level in (1, 2, 3)
        for leaf in ("weight", "bias")
    }


def random_checkpoint(release: Release) -> Callable[[Path], None]:
    """Writes a ``model.safetensors`` in the official layout with random weights."""

    def write(path: Path) -> None:
        import torch
        from safetensors.torch import save_file

        from depth_ros.core.models.checkpoints import random_state
        from depth_ros.core.models.nets.depth_anything_v3 import DepthAnything3Net

        with torch.device("meta"):
            net = DepthAnything3Net(release.config)
        state = random_state(net.state_dict(), std=0.02)
        meta = {"format": "pt", **tied_aliases(release)}
        save_file({k: v.contiguous() for k, v in state.items()}, str(path), metadata=meta)

    return write


def builder(release: Release) -> Callable[[ModelConfig], DepthAnything3Model]:
    """The ``ModelSpec.build`` of a release: size and resize method checked before the
    weights are read."""

    def build(config: ModelConfig) -> DepthAnything3Model:
        from depth_ros.core.backends import BackendRequest, create_backend
        from depth_ros.core.models.loading import MONO_INPUTS

        params = dict(config.params)
        size = config.input_size or int(params.get("input_size", INPUT_SIZE.default))
        method = str(params.get("resize_method", RESIZE_METHOD.default))
        DepthAnything3Model._check(size, method)
        path = _weights(config, release)
        request = BackendRequest(
            path,
            config.device,
            module_factory=lambda: torch_module(release, path),
            input_names=MONO_INPUTS,
            output_names=output_names(release),
        )
        runner = create_backend(config.backend, request)
        return DepthAnything3Model(runner, release, size, method)

    return build


def output_names(release: Release) -> tuple[str, ...]:
    """The network's output tensors for the release's kind (export and backends)."""
    anyview = ("depth", "confidence", "focal")
    if release.kind == "nested":
        return (*anyview, "metric_depth", "sky")
    return anyview if release.kind == "anyview" else ("depth", "sky")


def example_inputs(height: int, width: int) -> tuple[NDArray[np.float32], ...]:
    """A (1, 3, height, width) network input from a random image (ONNX export)."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    x = (img.astype(np.float32) / 255 - np.asarray(IMAGENET_MEAN, np.float32)) / np.asarray(
        IMAGENET_STD, np.float32
    )
    return (np.ascontiguousarray(x.transpose(2, 0, 1)[None]),)


def export_spec(release: Release) -> ExportSpec:
    """How the release exports to ONNX (fixed size: the position embedding is resampled for it)."""
    from depth_ros.core.models.export import ExportSpec

    return ExportSpec(
        module_factory=lambda config: torch_module(release, _weights(config, release)),
        input_names=("image",),
        output_names=output_names(release),
        example_inputs=example_inputs,
        dynamic_axes={},  # the position embedding and RoPE tables are baked for the size
        size_multiple=PATCH,
        min_size=PATCH,
        default_size=(378, 504),  # a 640x480 image at input size 504
    )


def _description(release: Release) -> str:
    if release.kind == "metric":
        return (
            "Depth Anything 3 Metric-Large: metric depth = network depth x focal / 300 "
            "(mean fx, fy at the network input); needs camera_info"
        )
    if release.kind == "nested":
        return (
            "Depth Anything 3 Nested-Giant-Large: Giant's depth aligned to Metric-Large's "
            "metres with Giant's own focal estimate (camera_info not used), with confidence"
        )
    if release.kind == "mono":
        return "Depth Anything 3 Mono-Large: relative depth, published as inverse depth"
    return (
        f"Depth Anything 3 {release.label} (any-view release, single-image path): depth up "
        "to scale, published as inverse depth, with confidence and an estimated focal"
    )


def _register() -> None:
    for release in RELEASES:
        src = release.source()
        metric = release.kind in ("metric", "nested")
        register_model(
            ModelSpec(
                id=release.model_id,
                family="depth_anything_v3",
                input_kind=InputKind.MONO,
                output_kind=OutputKind.METRIC if metric else OutputKind.RELATIVE,
                description=_description(release) + f" ({release.licence})",
                build=builder(release),
                params=PARAMS,
                weights_file=src.filename,
                weights_source=src.describe(),
                default_input_size=DEFAULT_SIZE,
                camera=CameraUse.REQUIRED if release.kind == "metric" else CameraUse.NONE,
                outputs=(
                    frozenset({"confidence"})
                    if release.kind in ("anyview", "nested")
                    else frozenset()
                ),
                random_checkpoint=random_checkpoint(release),
                export=export_spec(release),
            )
        )


_register()
