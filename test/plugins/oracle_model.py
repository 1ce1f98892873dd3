"""TEST-ONLY plugin: ``test_oracle_relative``, a fake monocular network that "predicts"
relative inverse depth from a ground-truth depth file. Never use it for real work.

No monocular network weights are reachable on the test machines, so the node tests of
the scale sources and of stereo + mono fusion need a relative prediction with a known
relation to the truth. This model gives the same "fake relative prediction" as
``benchmarks/scale_eval.py``: the ground truth's inverse depth under a fixed random
affine map, with multiplicative Gaussian noise::

    rel = (1/gt - shift) / scale * (1 + noise * N(0, 1))

so that ``metric_inverse_depth = scale * rel + shift`` (see :func:`affine_map`; the map
is drawn once per model from ``seed``, the noise anew for every frame). Pixels without
ground truth are NaN (the "network" has no value there).

Use: put ``test/plugins`` on ``PYTHONPATH`` and set ``DEPTH_ROS_PLUGINS=oracle_model``
(node processes inherit both), then run a mono node with ``model:=test_oracle_relative``
and ``gt_file:=<file.npy>`` (float32 (H, W) depth in metres, NaN = none; or the
``DEPTH_ROS_ORACLE_GT`` environment variable). The image given to ``predict`` must be
the ground truth's size; its pixels are ignored.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.errors import ConfigError, InputError
from depth_ros.core.models import register_model
from depth_ros.core.models.base import InputKind, ModelConfig, ModelSpec, OutputKind
from depth_ros.core.params import ParamSpec, Value

MODEL_ID = "test_oracle_relative"
ENV_GT = "DEPTH_ROS_ORACLE_GT"

PARAMS = (
    ParamSpec(
        "gt_file",
        "",
        f"TEST ONLY: ground-truth depth .npy (metres, NaN none); empty = ${ENV_GT}",
        read_only=True,
    ),
    ParamSpec("noise", 0.03, "TEST ONLY: relative noise of the fake prediction", 0.0, 1.0),
    ParamSpec(
        "seed", 0, "TEST ONLY: seed of the affine map and the noise", 0, 2**31 - 1, read_only=True
    ),
)


def affine_map(gt: NDArray[np.floating], seed: int) -> tuple[float, float]:
    """(scale, shift) with metric inverse depth = scale * rel + shift for this ``seed``."""
    rng = np.random.default_rng(seed)
    scale = float(rng.uniform(0.05, 5.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        shift = float(rng.uniform(-0.1, 0.3)) * float(np.nanmedian(1.0 / gt))
    return scale, shift


def fake_relative(
    gt: NDArray[np.floating], scale: float, shift: float, noise: float, rng: np.random.Generator
) -> NDArray[np.float32]:
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = (1.0 / gt - shift) / scale
    rel = rel * (1.0 + noise * rng.standard_normal(gt.shape))
    rel[~np.isfinite(rel)] = np.nan
    return rel.astype(np.float32)


class OracleRelative:
    def __init__(self, gt: NDArray[np.float32], noise: float, seed: int) -> None:
        self.gt = gt
        self.noise = noise
        self.scale, self.shift = affine_map(gt, seed)
        self._rng = np.random.default_rng(seed + 1)

    def predict(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        if rgb.shape[:2] != self.gt.shape:
            raise InputError(
                f"{MODEL_ID}: image is {rgb.shape[1]}x{rgb.shape[0]} but the ground truth is "
                f"{self.gt.shape[1]}x{self.gt.shape[0]}; expected the same size"
            )
        return fake_relative(self.gt, self.scale, self.shift, self.noise, self._rng)

    def update(self, params: Mapping[str, Value]) -> None:
        if "noise" in params:
            self.noise = float(params["noise"])


def load_gt(path: str) -> NDArray[np.float32]:
    if not path:
        raise ConfigError(f"{MODEL_ID} needs the gt_file parameter or ${ENV_GT}")
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"{MODEL_ID}: ground-truth file {file} does not exist")
    gt: NDArray[np.float32] = np.asarray(np.load(file), dtype=np.float32).copy()
    if gt.ndim != 2:
        raise ConfigError(f"{MODEL_ID}: {file} must hold an (H, W) depth, got {gt.shape}")
    gt[~(gt > 0)] = np.nan
    return gt


def build(config: ModelConfig) -> Any:
    p = {s.name: s.default for s in PARAMS}
    p.update(config.params)
    gt = load_gt(str(p["gt_file"]) or os.environ.get(ENV_GT, ""))
    return OracleRelative(gt, float(p["noise"]), int(p["seed"]))


register_model(
    ModelSpec(
        id=MODEL_ID,
        family="test_oracle",
        input_kind=InputKind.MONO,
        output_kind=OutputKind.RELATIVE,
        description="TEST ONLY: relative inverse depth made from a ground-truth file",
        build=build,
        params=PARAMS,
        needs_weights=False,
    )
)
