"""KITTI: the stereo 2012/2015 benchmark layout and the depth (completion/prediction)
layout.

* ``kitti-stereo``: ``image_2/*_10.png``, ``image_3/*_10.png`` and ``disp_occ_0/*_10.png``
  (2015) or ``colored_0``/``colored_1``/``disp_occ`` (2012); disparity = uint16 / 256,
  0 = none. Calibration from ``calib_cam_to_cam/<id>.txt`` (P_rect_02/03) or
  ``calib/<id>.txt`` (P2/P3 or P0/P1) when present. Option ``gt`` picks the GT folder
  (e.g. ``disp_noc_0``).
* ``kitti-depth``: ``image/*.png``, ``groundtruth_depth/*.png`` (uint16 / 256 = metres,
  0 = none) and ``intrinsics/*.txt`` (3x3 K), as in ``val_selection_cropped``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from depth_ros.core.camera import PinholeCamera, StereoGeometry
from depth_ros.core.errors import InputError
from depth_ros.core.eval.datasets import register_dataset
from depth_ros.core.eval.datasets.base import (
    Dataset,
    DatasetSpec,
    Frame,
    Modality,
    Options,
    RGBDFrame,
    StereoFrame,
    image_files,
    invalid_to_nan,
    need_dir,
    read_image,
    read_rgb,
)
from depth_ros.core.geometry import disparity_to_depth

KITTI_MAX_DEPTH = 80.0


def parse_kitti_calib(path: Path) -> tuple[StereoGeometry, PinholeCamera] | None:
    """Left/right rectified projection matrices → geometry and left camera."""
    rows: dict[str, list[float]] = {}
    for line in path.read_text().splitlines():
        key, _, val = line.partition(":")
        try:
            rows[key.strip()] = [float(v) for v in val.split()]
        except ValueError:
            continue
    for lk, rk in (
        ("P_rect_02", "P_rect_03"),
        ("P2", "P3"),
        ("P_rect_00", "P_rect_01"),
        ("P0", "P1"),
    ):
        if len(rows.get(lk, [])) == 12 and len(rows.get(rk, [])) == 12:
            pl, pr = rows[lk], rows[rk]
            fx = pl[0]
            baseline = (pl[3] - pr[3]) / fx  # P[0,3] = -fx * t_x relative to camera 0
            geom = StereoGeometry(fx=fx, baseline=baseline, doffs=pr[2] - pl[2])
            cam = PinholeCamera.from_intrinsics(0, 0, pl[0], pl[5], pl[2], pl[6])
            return geom, cam
    return None


def _load_stereo(name: str, left: Path, right: Path, gt: Path, calib: Path | None) -> Frame:
    img_l = read_rgb(left)
    disp = invalid_to_nan(read_image(gt), 256.0)
    geom = cam = None
    if calib is not None:
        parsed = parse_kitti_calib(calib)
        if parsed is not None:
            geom, cam = parsed
            h, w = img_l.shape[:2]
            cam = PinholeCamera.from_intrinsics(w, h, cam.fx, cam.fy, cam.cx, cam.cy)
    depth = disparity_to_depth(disp, geom) if geom is not None else None
    return StereoFrame(name, img_l, read_rgb(right), disp, geom, cam, depth)


def open_kitti_stereo(path: Path, options: Options) -> Dataset:
    """KITTI 2012/2015 stereo: image_2/image_3 pairs with their disp_occ_0 (or ``gt``) ground
    truth."""
    need_dir(path, "KITTI stereo folders (image_2, image_3, disp_occ_0)")
    root = path / "training" if (path / "training").is_dir() else path
    layouts = [
        (lname, rname, options.get("gt", gname))
        for lname, rname, gname in (
            ("image_2", "image_3", "disp_occ_0"),
            ("colored_0", "colored_1", "disp_occ"),
        )
    ]
    found = [lay for lay in layouts if (root / lay[0]).is_dir() and (root / lay[2]).is_dir()]
    if not found:
        raise InputError(
            f"{path}: expected image_2/, image_3/, disp_occ_0/ (KITTI 2015) or "
            "colored_0/, colored_1/, disp_occ/ (KITTI 2012)"
        )
    lname, rname, gname = found[0]
    names: list[str] = []
    loaders: list[Callable[[], Frame]] = []
    for gt in image_files(root / gname, (".png",)):
        left, right = root / lname / gt.name, root / rname / gt.name
        if not (left.is_file() and right.is_file()):
            continue
        fid = gt.stem.split("_")[0]
        calib = next(
            (
                c
                for c in (root / "calib_cam_to_cam" / f"{fid}.txt", root / "calib" / f"{fid}.txt")
                if c.is_file()
            ),
            None,
        )
        names.append(gt.stem)
        loaders.append(partial(_load_stereo, gt.stem, left, right, gt, calib))
    return Dataset(
        "kitti-stereo",
        str(path),
        Modality.STEREO,
        names,
        loaders,
        STEREO.description,
        KITTI_MAX_DEPTH,
    )


def _load_depth(name: str, image: Path, gt: Path, intrinsics: Path | None) -> Frame:
    rgb = read_rgb(image)
    depth = invalid_to_nan(read_image(gt), 256.0)
    h, w = depth.shape
    cam = None
    if intrinsics is not None:
        k = [float(v) for v in intrinsics.read_text().split()]
        if len(k) != 9:
            raise InputError(f"{intrinsics}: expected 9 values of K, got {len(k)}")
        cam = PinholeCamera.from_intrinsics(w, h, k[0], k[4], k[2], k[5])
    return RGBDFrame(name, rgb, depth, cam)


def open_kitti_depth(path: Path, options: Options) -> Dataset:
    """KITTI depth (selection): image/ with groundtruth_depth/ and intrinsics/ per frame."""
    need_dir(path, "image/ and groundtruth_depth/")
    if not ((path / "image").is_dir() and (path / "groundtruth_depth").is_dir()):
        raise InputError(f"{path}: expected image/, groundtruth_depth/ (and intrinsics/)")
    names: list[str] = []
    loaders: list[Callable[[], Frame]] = []
    images = image_files(path / "image", (".png",))
    gts = image_files(path / "groundtruth_depth", (".png",))
    intr = image_files(path / "intrinsics", (".txt",)) if (path / "intrinsics").is_dir() else []
    if len(images) != len(gts):
        raise InputError(f"{path}: {len(images)} images but {len(gts)} depth maps")
    for i, (img, gt) in enumerate(zip(images, gts, strict=True)):
        names.append(img.stem)
        loaders.append(partial(_load_depth, img.stem, img, gt, intr[i] if i < len(intr) else None))
    return Dataset(
        "kitti-depth", str(path), Modality.RGBD, names, loaders, DEPTH.description, KITTI_MAX_DEPTH
    )


STEREO = register_dataset(
    DatasetSpec(
        "kitti-stereo",
        Modality.STEREO,
        "KITTI 2012/2015 stereo (disparity PNG / 256)",
        open_kitti_stereo,
        options=("gt",),
    )
)
DEPTH = register_dataset(
    DatasetSpec(
        "kitti-depth",
        Modality.RGBD,
        "KITTI depth selection (image/, groundtruth_depth/ / 256)",
        open_kitti_depth,
    )
)
