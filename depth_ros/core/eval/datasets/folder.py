"""A generic folder of RGB images and reference depth.

Layout (``PATH``)::

    rgb/  (or images/, image/, color/)   NAME.png|jpg
    depth/                               NAME.png (uint16, / depth_scale, default 1000 = mm)
                                         or NAME.npy (float metres)
    intrinsics.yaml                      one camera for all frames, or
    calib/NAME.yaml                      one per frame

Images and depth maps are paired by file stem. The intrinsics YAML may be a ROS
camera_info YAML, an OpenCV FileStorage file (as written by RTAB-Map) or plain
``fx, fy, cx, cy``. 0, negative and non-finite depth = no ground truth.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.errors import InputError
from depth_ros.core.eval.datasets import register_dataset
from depth_ros.core.eval.datasets.base import (
    Dataset,
    DatasetSpec,
    Frame,
    Modality,
    Options,
    RGBDFrame,
    float_option,
    image_files,
    invalid_to_nan,
    load_camera_yaml,
    need_dir,
    read_image,
    read_rgb,
)

IMAGE_DIRS = ("rgb", "images", "image", "color")


def _load(name: str, image: Path, depth: Path, calib: Path | None, scale: float) -> Frame:
    rgb = read_rgb(image)
    if depth.suffix == ".npy":
        arr = np.load(depth)
        if arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        gt = invalid_to_nan(np.asarray(arr, dtype=np.float32))
    else:
        raw = read_image(depth)
        gt = invalid_to_nan(raw, 1.0 if raw.dtype.kind == "f" else scale)
    if gt.shape != rgb.shape[:2]:
        raise InputError(f"{depth}: depth {gt.shape} and image {rgb.shape[:2]} sizes differ")
    cam: PinholeCamera | None = None
    if calib is not None:
        h, w = gt.shape
        c = load_camera_yaml(calib, w, h)
        if (c.width, c.height) not in ((w, h), (0, 0)):
            c = c.scaled(w, h)
        cam = PinholeCamera.from_intrinsics(w, h, c.fx, c.fy, c.cx, c.cy)
    return RGBDFrame(name, rgb, gt, cam)


def open_folder(path: Path, options: Options) -> Dataset:
    """A folder of rgb/ (or image/, color/) and depth/ files paired by name."""
    need_dir(path, "rgb/ and depth/ folders")
    img_dir = next((path / d for d in IMAGE_DIRS if (path / d).is_dir()), None)
    if img_dir is None or not (path / "depth").is_dir():
        raise InputError(f"{path}: expected depth/ and one of {', '.join(IMAGE_DIRS)}/")
    depths = {
        p.stem: p
        for p in sorted((path / "depth").iterdir())
        if p.suffix.lower() in (".png", ".npy", ".tif", ".tiff", ".exr")
    }
    shared = next(
        (
            path / f
            for f in ("intrinsics.yaml", "camera_info.yaml", "calib.yaml")
            if (path / f).is_file()
        ),
        None,
    )
    scale = float_option(options, "depth_scale", 1000.0)
    names: list[str] = []
    loaders: list[Callable[[], Frame]] = []
    for img in image_files(img_dir):
        depth = depths.get(img.stem)
        if depth is None:
            continue
        per_frame = path / "calib" / f"{img.stem}.yaml"
        calib = per_frame if per_frame.is_file() else shared
        names.append(img.stem)
        loaders.append(partial(_load, img.stem, img, depth, calib, scale))
    return Dataset(
        "folder",
        str(path),
        Modality.RGBD,
        names,
        loaders,
        SPEC.description,
        float_option(options, "max_depth", 0.0) or None,
    )


SPEC = register_dataset(
    DatasetSpec(
        "folder",
        Modality.RGBD,
        "generic folder: rgb/ + depth/ (PNG mm or NPY m) + intrinsics YAML",
        open_folder,
        options=("depth_scale", "max_depth"),
    )
)
