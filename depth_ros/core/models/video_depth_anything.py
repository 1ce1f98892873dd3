"""Video Depth Anything (Chen et al., "Video Depth Anything: Consistent Depth Estimation
for Super-Long Videos", CVPR 2025), streaming: temporally consistent depth on a stream,
one frame at a time, the temporal window kept in the model across frames.

Releases (github.com/DepthAnything/Video-Depth-Anything): relative inverse depth
(``video_depth_anything_vits`` / ``vitb`` / ``vitl``) and metric depth in metres, trained
on Virtual KITTI and IRS (``metric_video_depth_anything_vits`` / ``vitb`` / ``vitl``); the
same network for both. The official ``.pth`` files load unchanged (strict key match).

This is the official streaming mode (``run_streaming.py``, ``infer_video_depth_one``), the
one that fits a node seeing one frame at a time; the official offline mode (32-frame
clips with overlap and scale alignment between clips) needs future frames. The official
README notes that streaming runs without training for it and loses some accuracy against
the offline mode (ScanNet δ1 0.926 → 0.836, ViT-L).

Pre- and post-processing as the official code: the resize of Depth Anything V2
(``lower_bound``, sides multiples of 14, bicubic), with ``input_size`` lowered for images
wider than 16:9 (``input_size · 1.777 / ratio``, rounded to a multiple of 14), ImageNet
normalisation, and bilinear (align_corners=True) resizing back to the image size.

The temporal window is dropped (the next frame starts a new stream) by :meth:`reset`, when
the image size or ``input_size`` changes, and by the monocular pipeline on a time jump
(stamps going backwards or further apart than ``temporal_reset_gap_seconds``). PyTorch
only (the window is state, not a network input); float32, as the official ``--fp32``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.errors import ConfigError
from depth_ros.core.models import register_model
from depth_ros.core.models.base import InputKind, ModelConfig, ModelSpec, OutputKind
from depth_ros.core.models.depth_anything_v2 import INPUT_SIZE, PREPROCESS
from depth_ros.core.models.loading import (
    DOWNLOAD,
    MonoNetworkModel,
    WeightsSource,
    check_rgb,
    prepare,
)

if TYPE_CHECKING:
    from depth_ros.core.backends.base import Backend
    from depth_ros.core.models.nets.video_depth_anything import VideoDepthAnythingNet

_SIZES = {"vits": "Small", "vitb": "Base", "vitl": "Large"}
_NAMES = {"vits": "ViT-S", "vitb": "ViT-B", "vitl": "ViT-L"}
PARAMS = (INPUT_SIZE, DOWNLOAD)
#: the official streaming code lowers input_size beyond this aspect ratio (memory)
MAX_RATIO = 1.78


def weights_source(encoder: str, metric: bool = False) -> WeightsSource:
    """The official release on Hugging Face (no published hash known: not verified)."""
    prefix = "metric_" if metric else ""
    repo = ("Metric-" if metric else "") + f"Video-Depth-Anything-{_SIZES[encoder]}"
    return WeightsSource(
        f"{prefix}video_depth_anything_{encoder}.pth", hf_repo=f"depth-anything/{repo}"
    )


def _what(encoder: str, metric: bool) -> str:
    return f"{'Metric ' if metric else ''}Video Depth Anything {_NAMES[encoder]} checkpoint"


def stream_input_size(height: int, width: int, input_size: int) -> int:
    """``input_size`` as the official streaming code uses it for an image: lowered for
    aspect ratios beyond 16:9 (``int(input_size · 1.777 / ratio)`` rounded to a multiple
    of 14, Python's rounding)."""
    ratio = max(height, width) / min(height, width)
    if ratio > MAX_RATIO:
        return max(14, round(int(input_size * 1.777 / ratio) / 14) * 14)
    return input_size


def torch_module(encoder: str, path: Path, what: str) -> VideoDepthAnythingNet:
    """The streaming network with the official checkpoint at ``path`` (strict), eval mode."""
    from depth_ros.core.models.loading import load_official_checkpoint, read_official_state
    from depth_ros.core.models.nets.video_depth_anything import VideoDepthAnythingNet

    state = read_official_state(path, what)
    net = VideoDepthAnythingNet(encoder)
    load_official_checkpoint(net, path, what, state=state)
    return net.eval()


class VideoDepthModel(MonoNetworkModel):
    """A stateful :class:`~depth_ros.core.models.base.MonoModel`: each ``predict`` is the
    next frame of a stream (module docstring); :meth:`reset` starts a new one."""

    def __init__(self, runner: Backend, net: VideoDepthAnythingNet, input_size: int) -> None:
        super().__init__(runner, PREPROCESS, input_size, INPUT_SIZE)
        self.net = net
        self._key: tuple[int, int, int] | None = None  # (H, W, input_size) of the stream

    def reset(self) -> None:
        """Drop the temporal window: the next frame starts a new stream."""
        self.net.reset()
        self._key = None

    @property
    def frames(self) -> int:
        """Frames in the current stream (0 right after a reset)."""
        return int(self.net.frames) if self._key is not None else 0

    def network_input(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """The normalised network input of ``rgb`` at the stream's input size."""
        check_rgb(rgb)
        size = stream_input_size(rgb.shape[0], rgb.shape[1], self.input_size)
        return prepare(rgb, size, self.pre)

    def predict(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """The next frame's prediction (a new stream for a new image or input size)."""
        check_rgb(rgb)
        key = (rgb.shape[0], rgb.shape[1], self.input_size)
        if key != self._key:  # a new image size or input size: a new stream
            self.net.reset()
            self._key = key
        return super().predict(rgb)


def _torch_only(config: ModelConfig, path: Path) -> None:
    from depth_ros.core.backends import is_exported

    if is_exported(path):
        raise ConfigError(
            f"{path.name} is an exported network; Video Depth Anything keeps its temporal "
            f"window between frames and runs on PyTorch only: give the official .pth"
        )
    if config.backend not in (None, "", "auto", "torch"):
        raise ConfigError(
            f"backend {config.backend!r}: Video Depth Anything keeps its temporal window "
            f"between frames and runs on the torch backend only"
        )


def builder(encoder: str, metric: bool) -> Callable[[ModelConfig], VideoDepthModel]:
    """The ``ModelSpec.build`` of a release (torch backend only: the window is state)."""
    source, what = weights_source(encoder, metric), _what(encoder, metric)

    def build(config: ModelConfig) -> VideoDepthModel:
        from depth_ros.core.backends import BackendRequest, create_backend
        from depth_ros.core.models.loading import MONO_INPUTS, MONO_OUTPUTS, config_weights

        path = config_weights(config, source, what)
        _torch_only(config, path)
        built: list[VideoDepthAnythingNet] = []

        def factory() -> VideoDepthAnythingNet:
            built.append(torch_module(encoder, path, what))
            return built[-1]

        request = BackendRequest(
            path,
            config.device,
            module_factory=factory,
            input_names=MONO_INPUTS,
            output_names=MONO_OUTPUTS,
        )
        runner = create_backend("torch", request)
        size = config.input_size or int(dict(config.params).get("input_size", 518))
        return VideoDepthModel(runner, built[-1], size)

    return build


def random_checkpoint(encoder: str) -> Callable[[Path], None]:
    """Writes a checkpoint in the official layout with random weights (timing, tests); the
    frame position encodings keep their sinusoids, as in the official files."""

    def write(path: Path) -> None:
        import torch

        from depth_ros.core.models.checkpoints import random_state
        from depth_ros.core.models.nets.video_depth_anything import VideoDepthAnythingNet

        own = VideoDepthAnythingNet(encoder).state_dict()
        state = random_state(own, std=0.05)
        for key in own:
            if key.endswith(".pe"):
                state[key] = own[key]
        torch.save(state, path)

    return write


def _register() -> None:
    for encoder in ("vits", "vitb", "vitl"):
        for metric in (False, True):
            src = weights_source(encoder, metric)
            kind = "metric depth (Virtual KITTI + IRS)" if metric else "relative inverse depth"
            register_model(
                ModelSpec(
                    id=f"{'metric_' if metric else ''}video_depth_anything_{encoder}",
                    family="video_depth_anything",
                    input_kind=InputKind.MONO,
                    output_kind=OutputKind.METRIC if metric else OutputKind.RELATIVE,
                    description=f"Video Depth Anything {_NAMES[encoder]} (streaming, "
                    f"temporally consistent over a 32-frame window), {kind}",
                    build=builder(encoder, metric),
                    params=PARAMS,
                    weights_file=src.filename,
                    weights_source=src.describe(),
                    default_input_size=518,
                    random_checkpoint=random_checkpoint(encoder),
                )
            )


_register()
