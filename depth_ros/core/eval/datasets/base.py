"""What a dataset is: a list of frames, loaded lazily, of one modality.

A *stereo* frame holds a rectified RGB pair, ground-truth disparity of the left image
(pixels, NaN = none) and, where the calibration is known, the :class:`StereoGeometry`
(then ``depth`` is the ground truth in metres). An *RGB-D* frame holds an RGB image,
ground-truth depth in metres (NaN = none) and the :class:`PinholeCamera` of that image.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.camera import PinholeCamera, StereoGeometry
from depth_ros.core.errors import ConfigError, InputError


class Modality(enum.Enum):
    STEREO = "stereo"
    RGBD = "rgbd"


@dataclass(frozen=True)
class StereoFrame:
    name: str
    left: NDArray[np.uint8]  # (H, W, 3) RGB, rectified
    right: NDArray[np.uint8]
    disparity: NDArray[np.float32] | None  # GT, pixels of the left image, NaN = none
    geometry: StereoGeometry | None = None
    camera: PinholeCamera | None = None  # left camera, when known
    depth: NDArray[np.float32] | None = None  # GT metres, NaN = none (from disparity)

    @property
    def rgb(self) -> NDArray[np.uint8]:
        return self.left


@dataclass(frozen=True)
class RGBDFrame:
    name: str
    rgb: NDArray[np.uint8]  # (H, W, 3)
    depth: NDArray[np.float32]  # GT metres, NaN = none
    camera: PinholeCamera | None = None


Frame = StereoFrame | RGBDFrame


@dataclass
class Dataset:
    """Frames of one dataset, each loaded when iterated (``loaders`` are called lazily)."""

    kind: str
    path: str
    modality: Modality
    names: list[str]
    loaders: list[Callable[[], Frame]]
    description: str = ""
    max_depth: float | None = None  # conventional evaluation cap for this dataset, metres
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.loaders)

    def __iter__(self) -> Iterator[Frame]:
        for load in self.loaders:
            yield load()

    def limit(self, n: int | None) -> Dataset:
        if n is None or n >= len(self):
            return self
        return Dataset(
            self.kind,
            self.path,
            self.modality,
            self.names[:n],
            self.loaders[:n],
            self.description,
            self.max_depth,
            list(self.notes),
        )


Options = Mapping[str, str]
Opener = Callable[[Path, Options], Dataset]


@dataclass(frozen=True)
class DatasetSpec:
    kind: str
    modality: Modality
    description: str
    open: Opener
    needs_path: bool = True
    options: Sequence[str] = ()  # option names understood (``--dataset-option k=v``)


# --- small helpers shared by the readers -------------------------------------------------


def read_image(path: Path, flags: int | None = None) -> NDArray[np.generic]:
    """cv2.imread with an :class:`InputError` naming the file when it cannot be read."""
    import cv2

    if not path.is_file():
        raise InputError(f"{path}: file not found")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED if flags is None else flags)
    if img is None:
        from depth_ros.core.imagefile import describe_unreadable

        raise InputError(describe_unreadable(path))
    return np.asarray(img)


def read_rgb(path: Path) -> NDArray[np.uint8]:
    """An image file as RGB uint8 (grey is repeated, 16-bit and float are scaled by the
    rule of :func:`depth_ros.core.imagefile.to_uint8`); EXIF orientation is ignored (the
    ground truth is not rotated either)."""
    from depth_ros.core.imagefile import to_uint8

    img = to_uint8(read_image(path), str(path))
    if img.ndim == 3 and img.shape[2] in (1, 2):
        img = img[:, :, 0]
    if img.ndim == 2:
        return np.ascontiguousarray(np.repeat(img[:, :, None], 3, axis=2))
    if img.shape[2] == 4:
        img = img[:, :, :3]
    return np.ascontiguousarray(img[:, :, ::-1])  # OpenCV gives BGR


def read_pfm(path: Path) -> NDArray[np.float32]:
    """A PFM (portable float map) file, as used by Middlebury 2014 and SceneFlow."""
    with open(path, "rb") as f:
        header = f.readline().strip()
        if header not in (b"Pf", b"PF"):
            raise InputError(f"{path}: not a PFM file (header {header[:8]!r}, expected Pf/PF)")
        dims = f.readline().split()
        while not dims:  # tolerate blank lines
            dims = f.readline().split()
        width, height = int(dims[0]), int(dims[1])
        scale = float(f.readline().strip())
        dtype = np.dtype("<f4") if scale < 0 else np.dtype(">f4")
        channels = 3 if header == b"PF" else 1
        data = np.frombuffer(f.read(), dtype=dtype)
    need = width * height * channels
    if data.size < need:
        raise InputError(f"{path}: PFM data truncated ({data.size} of {need} values)")
    arr = data[:need].reshape(height, width, channels)[::-1]  # PFM rows run bottom-up
    out = np.ascontiguousarray(arr[:, :, 0] if channels == 1 else arr, dtype=np.float32)
    return out


def invalid_to_nan(arr: NDArray[np.generic], scale: float = 1.0) -> NDArray[np.float32]:
    """Divide by ``scale``; 0, negative and non-finite values become NaN."""
    out = arr.astype(np.float32) / np.float32(scale)
    out[~(out > 0) | ~np.isfinite(out)] = np.nan
    return out


def need_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise InputError(f"{path}: expected a directory holding {what}")
    return path


def float_option(options: Options, name: str, default: float) -> float:
    if name not in options:
        return default
    try:
        return float(options[name])
    except ValueError:
        raise ConfigError(f"dataset option {name}={options[name]!r} is not a number") from None


def image_files(
    folder: Path, exts: Sequence[str] = (".png", ".jpg", ".jpeg", ".ppm")
) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in exts and p.is_file())


def _yaml_matrix(value: object) -> list[float] | None:
    if isinstance(value, Mapping) and "data" in value:
        value = value["data"]
    if isinstance(value, (list, tuple)):
        flat: list[float] = []
        for v in value:
            flat.extend(float(x) for x in (v if isinstance(v, (list, tuple)) else [v]))
        return flat
    return None


def load_camera_yaml(
    path: Path, width: int | None = None, height: int | None = None
) -> PinholeCamera:
    """Intrinsics from a YAML file: ROS camera_info YAML (``camera_matrix``,
    ``projection_matrix``), OpenCV FileStorage YAML (``%YAML:1.0``) with the same keys, a
    ``K``/``k`` list, or plain ``fx, fy, cx, cy`` (+ ``width``, ``height``)."""
    import yaml

    text = path.read_text()
    if text.startswith("%YAML:"):  # OpenCV's directive; PyYAML wants "%YAML 1.x"
        text = text.split("\n", 1)[1]
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(doc, Mapping):
        raise InputError(f"{path}: expected a mapping with camera intrinsics")
    w = int(doc.get("image_width", doc.get("width", width or 0)))
    h = int(doc.get("image_height", doc.get("height", height or 0)))
    k = None
    for key in ("camera_matrix", "K", "k", "intrinsics"):
        if key in doc:
            k = _yaml_matrix(doc[key])
            break
    p = _yaml_matrix(doc.get("projection_matrix", doc.get("P", doc.get("p"))))
    if k is None and all(key in doc for key in ("fx", "fy", "cx", "cy")):
        fx, fy, cx, cy = (float(doc[key]) for key in ("fx", "fy", "cx", "cy"))
        k = [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]
    if k is None or len(k) != 9:
        raise InputError(
            f"{path}: no intrinsics found; expected camera_matrix (3x3), K (9 values) or "
            "fx, fy, cx, cy"
        )
    if p is None or len(p) != 12:
        p = [k[0], 0.0, k[2], 0.0, 0.0, k[4], k[5], 0.0, 0.0, 0.0, 1.0, 0.0]
    cam = PinholeCamera(width=w, height=h, k=tuple(k), p=tuple(p), d=(0.0,) * 5)
    return cam
