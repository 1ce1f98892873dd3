"""Indoor RGB-D datasets: Redwood, TUM RGB-D, NYU Depth v2 raw and SUN RGB-D.

Depth conventions on disk (converted here to float32 metres, NaN = no measurement):

* Redwood: uint16 millimetres, 0 = none. ``color/*.jpg`` + ``depth/*.png`` (paired by
  ``rgbd.match`` when present, else by sorted order).
* TUM: uint16 / 5000 = metres, 0 = none. A sequence (``rgb.txt``, ``depth.txt``; frames
  associated by nearest timestamp within 20 ms) or a single ``TUM_color.png`` /
  ``TUM_depth.png`` pair.
* NYU v2 raw: PGM with raw Kinect disparity stored little-endian despite the PGM header
  (2047 = none); metres = 351.3 / (1092.5 - raw). Raw frames are *not* registered to the
  RGB image: expect a misalignment of a few pixels. A scene folder (``r-*.ppm``,
  ``d-*.pgm`` paired by nearest timestamp) or a single ``NYU_color.ppm`` /
  ``NYU_depth.pgm`` pair.
* SUN RGB-D: uint16 with the 3 low bits moved to the top: metres =
  ((v >> 3) | (v << 13) on 16 bits) / 1000.

All default to the PrimeSense/Kinect intrinsics fx = fy = 525, cx = 319.5, cy = 239.5
(scaled to the image size); options ``fx``, ``fy``, ``cx``, ``cy`` override them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

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
    need_dir,
    read_image,
    read_rgb,
)

CAMERA_OPTIONS = ("fx", "fy", "cx", "cy")
INDOOR_MAX_DEPTH = 10.0


def default_camera(width: int, height: int, options: Options) -> PinholeCamera:
    """The dataset's camera for an image of width x height: the fx/fy/cx/cy options, else the
    Kinect-like 525 px at 640x480 scaled."""
    sx, sy = width / 640.0, height / 480.0
    fx = float_option(options, "fx", 525.0 * sx)
    fy = float_option(options, "fy", 525.0 * sy)
    cx = float_option(options, "cx", (319.5 + 0.5) * sx - 0.5)
    cy = float_option(options, "cy", (239.5 + 0.5) * sy - 0.5)
    return PinholeCamera.from_intrinsics(width, height, fx, fy, cx, cy)


def _frame(
    name: str, rgb: NDArray[np.uint8], depth: NDArray[np.float32], options: Options
) -> RGBDFrame:
    if rgb.shape[:2] != depth.shape:
        raise InputError(f"{name}: RGB {rgb.shape[:2]} and depth {depth.shape} sizes differ")
    h, w = depth.shape
    return RGBDFrame(name, rgb, depth, default_camera(w, h, options))


def _read_u16(path: Path) -> NDArray[np.uint16]:
    raw = read_image(path)
    if raw.dtype != np.uint16 or raw.ndim != 2:
        raise InputError(
            f"{path}: depth must be a 16-bit single-channel PNG, got {raw.dtype} {raw.shape}"
        )
    return np.asarray(raw, dtype=np.uint16)


def sun_depth(raw: NDArray[np.uint16]) -> NDArray[np.float32]:
    """SUN RGB-D depth PNG → metres: rotate the 16-bit value right by 3 bits, / 1000."""
    v = raw.astype(np.uint16)
    mm = (v >> np.uint16(3)) | (v << np.uint16(13))
    return invalid_to_nan(mm, 1000.0)


def nyu_raw_depth(raw: NDArray[np.uint16]) -> NDArray[np.float32]:
    """NYU v2 raw Kinect disparity → metres: 351.3 / (1092.5 - raw); 2047 = none."""
    r = raw.astype(np.float32)
    with np.errstate(divide="ignore"):
        depth = np.float32(351.3) / (np.float32(1092.5) - r)
    depth[(raw >= 2047) | ~(depth > 0)] = np.nan
    return depth.astype(np.float32)


def read_nyu_pgm(path: Path) -> NDArray[np.uint16]:
    """A raw NYU depth PGM: ASCII header ``P5 W H MAXVAL`` then little-endian uint16
    (the NYU toolbox swaps the bytes: the files are not big-endian as PGM would have)."""
    data = path.read_bytes()
    fields: list[bytes] = []
    pos = 0
    while len(fields) < 4:
        while pos < len(data) and data[pos : pos + 1].isspace():
            pos += 1
        start = pos
        while pos < len(data) and not data[pos : pos + 1].isspace():
            pos += 1
        fields.append(data[start:pos])
    pos += 1  # one whitespace after MAXVAL
    if fields[0] != b"P5":
        raise InputError(f"{path}: not a binary PGM (magic {fields[0]!r}, expected P5)")
    w, h, maxval = int(fields[1]), int(fields[2]), int(fields[3])
    if maxval < 256:
        raise InputError(f"{path}: 8-bit PGM; expected 16-bit raw Kinect disparity")
    arr = np.frombuffer(data, dtype="<u2", count=w * h, offset=pos)
    return arr.reshape(h, w).astype(np.uint16)


# --- loaders ----------------------------------------------------------------------------


def _load_mm(name: str, rgb: Path, depth: Path, scale: float, options: Options) -> Frame:
    return _frame(name, read_rgb(rgb), invalid_to_nan(_read_u16(depth), scale), options)


def _load_sun(name: str, rgb: Path, depth: Path, options: Options) -> Frame:
    return _frame(name, read_rgb(rgb), sun_depth(_read_u16(depth)), options)


def _load_nyu(name: str, rgb: Path, depth: Path, options: Options) -> Frame:
    return _frame(name, read_rgb(rgb), nyu_raw_depth(read_nyu_pgm(depth)), options)


def _dataset(
    kind: str,
    path: Path,
    names: list[str],
    loaders: list[Callable[[], Frame]],
    notes: list[str] | None = None,
) -> Dataset:
    return Dataset(
        kind,
        str(path),
        Modality.RGBD,
        names,
        loaders,
        DATASETS[kind].description,
        INDOOR_MAX_DEPTH,
        notes or [],
    )


def _single(kind: str, path: Path, prefix: str, color: str, depth: str) -> tuple[Path, Path] | None:
    folder = path if path.is_dir() else path.parent
    for sub in (folder, folder / "other_formats", folder / "RGBD" / "other_formats"):
        c, d = sub / f"{prefix}_{color}", sub / f"{prefix}_{depth}"
        if c.is_file() and d.is_file():
            return c, d
    return None


def open_redwood(path: Path, options: Options) -> Dataset:
    """A Redwood RGB-D sequence (color/ and depth/ paired by order)."""
    need_dir(path, "color/ and depth/ folders")
    for root in (path, path / "RGBD"):
        if (root / "color").is_dir() and (root / "depth").is_dir():
            break
    else:
        raise InputError(f"{path}: expected color/ and depth/ folders (Redwood layout)")
    pairs: list[tuple[Path, Path]] = []
    match = root / "rgbd.match"
    if match.is_file():
        for line in match.read_text().split("\n"):
            parts = line.split()
            if len(parts) >= 2:
                pairs.append((root / parts[1], root / parts[0]))
    else:
        colors, depths = image_files(root / "color"), image_files(root / "depth", (".png",))
        if len(colors) != len(depths):
            raise InputError(f"{root}: {len(colors)} colour but {len(depths)} depth images")
        pairs = list(zip(colors, depths, strict=True))
    scale = float_option(options, "depth_scale", 1000.0)
    return _dataset(
        "redwood",
        path,
        [c.stem for c, _ in pairs],
        [partial(_load_mm, c.stem, c, d, scale, options) for c, d in pairs],
    )


def _read_list(path: Path) -> list[tuple[float, str]]:
    out = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith("#"):
            out.append((float(parts[0]), parts[1]))
    return out


def associate(
    a: list[tuple[float, str]], b: list[tuple[float, str]], max_dt: float
) -> list[tuple[str, str]]:
    """Pair each entry of ``a`` with the entry of ``b`` nearest in time (within ``max_dt``),
    each ``b`` used once (TUM's associate.py, greedy by time difference)."""
    if not a or not b:
        return []
    ta = np.array([t for t, _ in a])
    tb = np.array([t for t, _ in b])
    idx = (
        np.clip(np.searchsorted(tb, ta), 1, len(tb) - 1)
        if len(tb) > 1
        else np.zeros(len(ta), dtype=np.int64)
    )
    left = np.maximum(idx - 1, 0)
    nearest = np.where(np.abs(tb[left] - ta) <= np.abs(tb[idx] - ta), left, idx)
    dt = np.abs(tb[nearest] - ta)
    pairs, used = [], set()
    for i in np.argsort(dt, kind="stable"):
        j = int(nearest[i])
        if dt[i] <= max_dt and j not in used:
            used.add(j)
            pairs.append((int(i), j))
    pairs.sort()
    return [(a[i][1], b[j][1]) for i, j in pairs]


def open_tum(path: Path, options: Options) -> Dataset:
    """A TUM RGB-D sequence (rgb.txt and depth.txt associated by stamp), or one colour/depth
    pair."""
    if path.is_dir() and (path / "rgb.txt").is_file() and (path / "depth.txt").is_file():
        max_dt = float_option(options, "max_dt", 0.02)
        pairs = associate(_read_list(path / "rgb.txt"), _read_list(path / "depth.txt"), max_dt)
        files = [(path / c, path / d) for c, d in pairs]
    else:
        single = _single("tum", path, "TUM", "color.png", "depth.png")
        if single is None:
            raise InputError(
                f"{path}: expected a TUM sequence (rgb.txt, depth.txt) or "
                "TUM_color.png + TUM_depth.png"
            )
        files = [single]
    scale = float_option(options, "depth_scale", 5000.0)
    return _dataset(
        "tum",
        path,
        [c.stem for c, _ in files],
        [partial(_load_mm, c.stem, c, d, scale, options) for c, d in files],
    )


def _stamp(p: Path) -> float:
    parts = p.stem.split("-")
    try:
        return float(parts[1])
    except (IndexError, ValueError):
        raise InputError(f"{p}: NYU raw file name should be r-<time>-<n> / d-<time>-<n>") from None


def open_nyu(path: Path, options: Options) -> Dataset:
    """An NYU Depth V2 raw scene (r-*.ppm and d-*.pgm associated by stamp), or one pair."""
    note = "NYU raw depth is not registered to the RGB image (offset of a few pixels)"
    colors = sorted(path.glob("r-*.ppm")) if path.is_dir() else []
    depths = sorted(path.glob("d-*.pgm")) if path.is_dir() else []
    if colors and depths:
        pairs_n = associate(
            [(_stamp(d), d.name) for d in depths],
            [(_stamp(c), c.name) for c in colors],
            float_option(options, "max_dt", 0.05),
        )
        files = [(path / c, path / d) for d, c in pairs_n]
    else:
        single = _single("nyu", path, "NYU", "color.ppm", "depth.pgm")
        if single is None:
            raise InputError(
                f"{path}: expected NYU raw r-*.ppm + d-*.pgm or NYU_color.ppm + NYU_depth.pgm"
            )
        files = [single]
    return _dataset(
        "nyu",
        path,
        [d.stem for _, d in files],
        [partial(_load_nyu, d.stem, c, d, options) for c, d in files],
        [note],
    )


def open_sun(path: Path, options: Options) -> Dataset:
    """A SUN RGB-D scene (image/ and depth/), or one colour/depth pair."""
    single = _single("sun", path, "SUN", "color.jpg", "depth.png")
    if single is None and path.is_dir() and (path / "image").is_dir():  # SUN RGB-D scene
        imgs = image_files(path / "image")
        deps = image_files(path / "depth", (".png",)) if (path / "depth").is_dir() else []
        if len(imgs) == 1 and len(deps) == 1:
            single = (imgs[0], deps[0])
    if single is None:
        raise InputError(f"{path}: expected SUN_color.jpg + SUN_depth.png or image/ + depth/")
    c, d = single
    return _dataset("sun", path, [c.stem], [partial(_load_sun, c.stem, c, d, options)])


DATASETS = {
    spec.kind: register_dataset(spec)
    for spec in (
        DatasetSpec(
            "redwood",
            Modality.RGBD,
            "Redwood RGB-D: color/ + depth/ (mm)",
            open_redwood,
            options=(*CAMERA_OPTIONS, "depth_scale"),
        ),
        DatasetSpec(
            "tum",
            Modality.RGBD,
            "TUM RGB-D sequence (rgb.txt, depth.txt; /5000)",
            open_tum,
            options=(*CAMERA_OPTIONS, "depth_scale", "max_dt"),
        ),
        DatasetSpec(
            "nyu",
            Modality.RGBD,
            "NYU Depth v2 raw (r-*.ppm, d-*.pgm raw disparity)",
            open_nyu,
            options=(*CAMERA_OPTIONS, "max_dt"),
        ),
        DatasetSpec(
            "sun",
            Modality.RGBD,
            "SUN RGB-D frame (bit-rotated mm depth)",
            open_sun,
            options=CAMERA_OPTIONS,
        ),
    )
}
