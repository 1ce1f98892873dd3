"""Image files → the 8-bit pictures the models take, whatever their bit depth.

One rule for every reader (``depth-ros predict``, ``bag make``, the evaluation datasets):

* 8-bit: unchanged;
* 16-bit unsigned (PNG, TIFF): the high byte (``v >> 8``);
* float (and other integer types): values in [0, 1] are scaled by 255; values in
  [0, 255] are taken as 8-bit levels; anything else is stretched min-max to 0..255.
  Non-finite pixels become 0 and are left out of the min-max;
* grey (and grey + alpha) → RGB by repeating the channel (:func:`read_rgb8`), or kept
  grey (:func:`read_image8`); an alpha channel is dropped; OpenCV's BGR → RGB.

A file OpenCV cannot decode is an :class:`InputError` naming the path and what it holds
(empty, a folder, a text file, a PNG that does not decode...).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.arrays import Array, has_dtype
from depth_ros.core.errors import InputError

# leading bytes → format name, for saying what an unreadable file is
#: the file suffixes taken for images where a folder of them is read
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".ppm", ".pgm", ".webp")

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "BigTIFF"),
    (b"BM", "BMP"),
    (b"RIFF", "RIFF (WebP?)"),
    (b"GIF8", "GIF"),
    (b"Pf", "PFM"),
    (b"PF", "PFM"),
    (b"%PDF", "PDF"),
    (b"PK\x03\x04", "zip archive"),
    (b"\x93NUMPY", "numpy .npy array"),
)


def to_uint8(image: Array, source: str = "image") -> NDArray[np.uint8]:
    """``image`` (any dtype, any channel count) with 8-bit values by the module's rule;
    the channel layout is unchanged."""
    if has_dtype(image, np.uint8):
        return image
    if has_dtype(image, np.uint16):
        return (image >> np.uint16(8)).astype(np.uint8)
    if image.dtype == np.bool_:
        return np.asarray(image.astype(np.uint8) * np.uint8(255), dtype=np.uint8)
    if image.dtype.kind not in "fiu":
        raise InputError(f"{source}: pixels of type {image.dtype} are no image values")
    values = image.astype(np.float32, copy=False)
    finite = np.isfinite(values)
    if not finite.any():
        return np.zeros(image.shape, np.uint8)
    lo = float(values[finite].min())
    hi = float(values[finite].max())
    if lo >= 0.0 and hi <= 1.0:
        scaled = values * np.float32(255.0)
    elif lo >= 0.0 and hi <= 255.0:
        scaled = values
    elif hi > lo:
        scaled = (values - np.float32(lo)) * np.float32(255.0 / (hi - lo))
    else:
        scaled = np.zeros_like(values)
    out = np.clip(np.where(finite, scaled, 0.0), 0.0, 255.0)
    return np.asarray(np.rint(out), dtype=np.uint8)


def describe_unreadable(path: Path) -> str:
    """What ``path`` is, for an error saying it is not an image OpenCV can read."""
    if not path.exists():
        return f"{path}: no such file"
    if path.is_dir():
        return f"{path}: is a folder, not an image file"
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError as exc:
        return f"{path}: cannot be read ({exc.strerror})"
    if size == 0:
        return f"{path}: the file is empty (0 bytes)"
    kind = next((name for magic, name in _MAGIC if head.startswith(magic)), None)
    if kind is not None:
        return (
            f"{path}: a {kind} file of {size} bytes that OpenCV cannot decode "
            "(truncated or corrupt, or an unsupported variant)"
        )
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"{path}: not an image ({size} bytes starting with {head[:8]!r})"
    first = text.strip().splitlines()[0][:40] if text.strip() else ""
    return f"{path}: not an image but a text file of {size} bytes (starts {first!r})"


def read_image8(path: str | Path) -> NDArray[np.uint8]:
    """An image file as 8-bit RGB (H, W, 3), or grey (H, W) for grey files; any bit
    depth (module doc). EXIF orientation is applied, alpha is dropped."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise InputError(describe_unreadable(path))
    # ANYDEPTH | ANYCOLOR: 16-bit and float kept, grey kept grey, EXIF orientation applied
    image = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    if image is None or image.size == 0:
        raise InputError(describe_unreadable(path))
    image = to_uint8(np.asarray(image), str(path))
    if image.ndim == 3 and image.shape[2] in (1, 2):  # grey (+ alpha)
        image = image[:, :, 0]
    if image.ndim == 2:
        return np.ascontiguousarray(image)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise InputError(f"{path}: an image of shape {image.shape}; expected grey or RGB")
    return np.ascontiguousarray(image[:, :, 2::-1])  # BGR(A) → RGB


def read_rgb8(path: str | Path) -> NDArray[np.uint8]:
    """An image file as 8-bit RGB (H, W, 3): :func:`read_image8` with grey repeated."""
    image = read_image8(path)
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))
    return image
