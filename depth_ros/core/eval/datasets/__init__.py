"""Dataset readers for evaluation. Adding a dataset kind: one module here that calls
:func:`register_dataset`, and its name in ``DATASET_MODULES``.

Every reader yields :class:`StereoFrame` (rectified RGB pair, GT disparity, calibration
when known) or :class:`RGBDFrame` (RGB, GT depth in metres, camera) with NaN = no ground
truth, whatever the file convention on disk.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from depth_ros.core.errors import ConfigError, InputError
from depth_ros.core.eval.datasets.base import (
    Dataset,
    DatasetSpec,
    Frame,
    Modality,
    RGBDFrame,
    StereoFrame,
)
from depth_ros.core.registry import Registry

__all__ = [
    "DATASETS",
    "Dataset",
    "DatasetSpec",
    "Frame",
    "Modality",
    "RGBDFrame",
    "StereoFrame",
    "dataset_kinds",
    "get_dataset",
    "open_dataset",
    "register_dataset",
]

DATASET_MODULES = (
    "middlebury",
    "kitti",
    "rgbd",
    "folder",
    "rosbag",
)

#: filled on the first lookup: the modules above, then the plugins (core.registry)
DATASETS: Registry[DatasetSpec] = Registry("dataset kind", __name__, DATASET_MODULES)


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    return DATASETS.register(spec.kind, spec)


def get_dataset(kind: str) -> DatasetSpec:
    return DATASETS.get(kind)


def dataset_kinds() -> list[str]:
    return DATASETS.names()


def open_dataset(
    kind: str, path: str | Path | None = None, options: Mapping[str, str] | None = None
) -> Dataset:
    """Open a dataset of ``kind`` at ``path`` (``None`` or ``'-'`` for kinds without one)."""
    spec = get_dataset(kind)
    opts = dict(options or {})
    unknown = sorted(set(opts) - set(spec.options))
    if unknown:
        known = ", ".join(spec.options) or "(none)"
        raise ConfigError(
            f"dataset kind {kind!r} has no option {', '.join(unknown)}; known: {known}"
        )
    if path is None or str(path) == "-":
        if spec.needs_path:
            raise ConfigError(f"dataset kind {kind!r} needs a PATH")
        p = Path("-")
    else:
        p = Path(path).expanduser()
        if spec.needs_path and not p.exists():
            raise InputError(f"{p}: dataset path does not exist")
    ds = spec.open(p, opts)
    if len(ds) == 0:
        raise InputError(f"{p}: no {kind} frames with ground truth found ({spec.description})")
    return ds
