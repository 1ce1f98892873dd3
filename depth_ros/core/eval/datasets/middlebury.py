"""Middlebury stereo: 2003 (Cones/Teddy), 2005/2006 and 2014 scene layouts, and the
Motorcycle sample shipped with scikit-image.

``PATH`` is one scene folder or a folder of scene folders. Recognised scene layouts:

* 2014: ``im0.png``, ``im1.png``, ``disp0.pfm`` (or ``disp0GT.pfm``; inf = no GT) and
  ``calib.txt`` (cam0, doffs, baseline in mm): disparity and depth ground truth.
* 2005/2006: ``view1.png``, ``view5.png``, ``disp1.png`` (0 = no GT); the PNG stores the
  full-size disparity, so it is divided by the downscale factor (3 for third size, 2 for
  half size, inferred from the width; option ``disp_scale`` overrides).
* 2003: ``im2.png``, ``im6.png``, ``disp2.png`` (quarter size, value / 4, 0 = no GT).
* 2003 as distributed with the Pandora tutorials: ``*_LEFT.tif``, ``*_RIGHT.tif`` (grey),
  optional ``cones_rgb/left_rgb.tif``, ``right_rgb.tif`` and ``*_LEFT_GT.tif`` float
  disparity already divided by 4 (0 = no GT).

2003 and 2006 publish no calibration: they are evaluated in disparity only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.camera import PinholeCamera, StereoGeometry
from depth_ros.core.errors import InputError
from depth_ros.core.eval.datasets import register_dataset
from depth_ros.core.eval.datasets.base import (
    Dataset,
    DatasetSpec,
    Frame,
    Modality,
    Options,
    StereoFrame,
    float_option,
    invalid_to_nan,
    read_image,
    read_pfm,
    read_rgb,
)
from depth_ros.core.geometry import disparity_to_depth


def parse_calib(path: Path) -> tuple[StereoGeometry, PinholeCamera]:
    """Middlebury 2014 ``calib.txt``: cam0/cam1 matrices, doffs (px), baseline (mm)."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if "=" in line:
            key, _, val = line.partition("=")
            values[key.strip()] = val.strip()
    try:
        cam0 = [float(v) for v in re.split(r"[\s;\[\]]+", values["cam0"]) if v]
        baseline_m = float(values["baseline"]) / 1000.0
        doffs = float(values.get("doffs", "0"))
        width = int(float(values.get("width", "0")))
        height = int(float(values.get("height", "0")))
    except (KeyError, ValueError) as exc:
        raise InputError(
            f"{path}: malformed Middlebury calib.txt ({exc}); expected cam0=[f 0 cx; 0 f cy; "
            "0 0 1], doffs=, baseline= (mm)"
        ) from None
    if len(cam0) != 9:
        raise InputError(f"{path}: cam0 has {len(cam0)} values, expected 9")
    geom = StereoGeometry(fx=cam0[0], baseline=baseline_m, doffs=doffs)
    geom.validate()
    cam = PinholeCamera.from_intrinsics(width, height, cam0[0], cam0[4], cam0[2], cam0[5])
    return geom, cam


def _stereo_frame(
    name: str,
    left: NDArray[np.uint8],
    right: NDArray[np.uint8],
    disparity: NDArray[np.float32],
    geometry: StereoGeometry | None = None,
    camera: PinholeCamera | None = None,
) -> StereoFrame:
    if left.shape != right.shape or disparity.shape != left.shape[:2]:
        raise InputError(
            f"{name}: left {left.shape}, right {right.shape} and GT {disparity.shape} "
            "must have the same size"
        )
    depth = disparity_to_depth(disparity, geometry) if geometry is not None else None
    return StereoFrame(name, left, right, disparity, geometry, camera, depth)


def _load_2014(scene: Path) -> Frame:
    gt_path = scene / "disp0.pfm"
    if not gt_path.is_file():
        gt_path = scene / "disp0GT.pfm"
    geometry, camera = parse_calib(scene / "calib.txt")
    left = read_rgb(scene / "im0.png")
    h, w = left.shape[:2]
    if camera.width != w:
        camera = PinholeCamera.from_intrinsics(w, h, camera.fx, camera.fy, camera.cx, camera.cy)
    return _stereo_frame(
        scene.name,
        left,
        read_rgb(scene / "im1.png"),
        invalid_to_nan(read_pfm(gt_path)),
        geometry,
        camera,
    )


def _load_png_gt(scene: Path, left: str, right: str, gt: str, scale: float | None) -> Frame:
    img_l = read_rgb(scene / left)
    raw = read_image(scene / gt)
    if raw.ndim == 3:
        raw = raw[:, :, 0]
    if scale is None:  # 2005/2006: stored value = full-size disparity
        w = img_l.shape[1]
        scale = 3.0 if w < 500 else 2.0 if w < 800 else 1.0
    return _stereo_frame(scene.name, img_l, read_rgb(scene / right), invalid_to_nan(raw, scale))


def _load_pandora(scene: Path, prefix: str) -> Frame:
    rgb_dir = scene / "cones_rgb"
    if (rgb_dir / "left_rgb.tif").is_file() and (rgb_dir / "right_rgb.tif").is_file():
        left, right = read_rgb(rgb_dir / "left_rgb.tif"), read_rgb(rgb_dir / "right_rgb.tif")
    else:
        left = read_rgb(scene / f"{prefix}_LEFT.tif")
        right = read_rgb(scene / f"{prefix}_RIGHT.tif")
    gt = invalid_to_nan(read_image(scene / f"{prefix}_LEFT_GT.tif"))
    return _stereo_frame(prefix.lower(), left, right, gt)


def _scene_loader(scene: Path, options: Options) -> Callable[[], Frame] | None:
    if (
        (scene / "im0.png").is_file()
        and (scene / "calib.txt").is_file()
        and ((scene / "disp0.pfm").is_file() or (scene / "disp0GT.pfm").is_file())
    ):
        return partial(_load_2014, scene)
    scale = float_option(options, "disp_scale", 0.0) or None
    if all((scene / f).is_file() for f in ("view1.png", "view5.png", "disp1.png")):
        return partial(_load_png_gt, scene, "view1.png", "view5.png", "disp1.png", scale)
    if all((scene / f).is_file() for f in ("im2.png", "im6.png", "disp2.png")):
        return partial(_load_png_gt, scene, "im2.png", "im6.png", "disp2.png", scale or 4.0)
    for gt in sorted(scene.glob("*_LEFT_GT.tif")):
        prefix = gt.name[: -len("_LEFT_GT.tif")]
        if (scene / f"{prefix}_LEFT.tif").is_file() or (scene / "cones_rgb").is_dir():
            return partial(_load_pandora, scene, prefix)
    return None


def open_middlebury(path: Path, options: Options) -> Dataset:
    """A Middlebury scene folder, or a folder of scenes (2014/2021 and 2003 layouts)."""
    scenes = [path] if path.is_dir() else []
    loader = _scene_loader(path, options) if path.is_dir() else None
    if loader is None and path.is_dir():
        scenes = sorted(p for p in path.iterdir() if p.is_dir())
    names: list[str] = []
    loaders: list[Callable[[], Frame]] = []
    for scene in scenes:
        found = loader if scene == path else _scene_loader(scene, options)
        if found is not None:
            names.append(scene.name)
            loaders.append(found)
    return Dataset("middlebury", str(path), Modality.STEREO, names, loaders, SPEC.description)


def _load_motorcycle() -> Frame:
    from depth_ros.core.eval.samples import motorcycle

    s = motorcycle()
    return StereoFrame(
        "motorcycle", s.left, s.right, s.disparity, s.geometry, s.left_camera, s.depth
    )


def open_motorcycle(path: Path, options: Options) -> Dataset:
    """The Motorcycle pair embedded in scikit-image (``path`` is ignored)."""
    return Dataset(
        "motorcycle",
        "skimage.data.stereo_motorcycle",
        Modality.STEREO,
        ["motorcycle"],
        [_load_motorcycle],
        MOTORCYCLE.description,
    )


SPEC = register_dataset(
    DatasetSpec(
        "middlebury",
        Modality.STEREO,
        "Middlebury 2003/2006/2014 scene folders (or a folder of them)",
        open_middlebury,
        options=("disp_scale",),
    )
)
MOTORCYCLE = register_dataset(
    DatasetSpec(
        "motorcycle",
        Modality.STEREO,
        "Middlebury 2014 Motorcycle, quarter size, from scikit-image (PATH ignored)",
        open_motorcycle,
        needs_path=False,
    )
)
