"""Sizes read from PNG/JPEG headers match what OpenCV decodes; other data is refused."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from depth_ros.core.errors import InputError
from depth_ros.core.imageheader import compressed_size


@pytest.mark.parametrize("ext", [".png", ".jpg"])
@pytest.mark.parametrize("shape", [(7, 13, 3), (480, 640, 3), (5, 3)])
def test_size_from_header_matches_decoded(ext: str, shape: tuple[int, ...]) -> None:
    image = (np.random.default_rng(0).random(shape) * 255).astype(np.uint8)
    ok, data = cv2.imencode(ext, image)
    assert ok
    width, height, fmt = compressed_size(data.tobytes())
    decoded = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    assert decoded is not None
    assert (height, width) == decoded.shape[:2]
    assert fmt == ("png" if ext == ".png" else "jpeg")


def test_progressive_jpeg_with_exif_like_segments() -> None:
    image = np.zeros((33, 65, 3), np.uint8)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert ok
    raw = data.tobytes()
    app1 = b"\xff\xe1" + (10).to_bytes(2, "big") + b"Exif\0\0\0\0"  # an extra segment
    assert compressed_size(raw[:2] + app1 + raw[2:])[:2] == (65, 33)


@pytest.mark.parametrize("data", [b"", b"GIF89a....", b"\x89PNG\r\n\x1a\n\0\0", b"\xff\xd8\xff"])
def test_unknown_or_truncated_headers_are_refused(data: bytes) -> None:
    with pytest.raises(InputError):
        compressed_size(data)
