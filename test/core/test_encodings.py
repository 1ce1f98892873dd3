"""sensor_msgs/Image encodings <-> numpy arrays: round trips, padding, errors, endianness."""

from __future__ import annotations

import numpy as np
import pytest

from depth_ros.core.encodings import (
    ENCODINGS,
    array_to_image_fields,
    image_to_array,
    to_mono8,
    to_rgb8,
)
from depth_ros.core.errors import InputError


def _random_image(name: str, h: int = 3, w: int = 5, seed: int = 0) -> np.ndarray:
    enc = ENCODINGS.get(name)
    rng = np.random.default_rng(seed)
    shape = (h, w) if enc.channels == 1 else (h, w, enc.channels)
    if enc.dtype.kind == "f":
        return rng.normal(size=shape).astype(enc.dtype)
    info = np.iinfo(enc.dtype.str)
    return rng.integers(0, int(info.max) + 1, size=shape).astype(enc.dtype)


@pytest.mark.parametrize("name", ENCODINGS.names())
def test_every_encoding_round_trips(name: str) -> None:
    arr = _random_image(name)
    step, data = array_to_image_fields(arr, name)
    assert step == arr.shape[1] * ENCODINGS.get(name).pixel_bytes
    assert len(data) == step * arr.shape[0]
    back = image_to_array(name, arr.shape[0], arr.shape[1], step, data)
    assert back.dtype == arr.dtype
    assert back.shape == arr.shape
    np.testing.assert_array_equal(back, arr)


@pytest.mark.parametrize("name", ["mono8", "16UC1", "32FC1", "rgb8", "bgra8", "64FC1"])
def test_padded_step_drops_the_padding(name: str) -> None:
    arr = _random_image(name, h=4, w=3, seed=1)
    step, data = array_to_image_fields(arr, name)
    pad = 7  # odd on purpose: rows then start at unaligned offsets
    rows = np.frombuffer(data, np.uint8).reshape(arr.shape[0], step)
    padded = np.concatenate([rows, np.full((arr.shape[0], pad), 0xAB, np.uint8)], axis=1)
    back = image_to_array(name, arr.shape[0], arr.shape[1], step + pad, padded.tobytes())
    np.testing.assert_array_equal(back, arr)


def test_last_row_padding_may_be_absent() -> None:
    # Some drivers send step*(h-1) + width*bpp bytes; the pixels are all there.
    arr = np.arange(6, dtype=np.uint8).reshape(2, 3)
    data = bytes([0, 1, 2, 99, 3, 4, 5])
    np.testing.assert_array_equal(image_to_array("mono8", 2, 3, 4, data), arr)


def test_unpadded_data_is_not_copied() -> None:
    arr = _random_image("16UC1", h=4, w=6)
    step, data = array_to_image_fields(arr, "16UC1")
    buf = bytearray(data)
    out = image_to_array("16UC1", 4, 6, step, buf)
    assert np.shares_memory(out, np.frombuffer(buf, np.uint8))
    buf[0] ^= 0xFF  # a view: a change of the message buffer shows through
    assert out[0, 0] == arr[0, 0] ^ 0xFF


def test_unpadded_ndarray_data_is_not_copied() -> None:
    data = np.arange(24, dtype=np.uint8)
    out = image_to_array("rgb8", 2, 4, 12, data)
    assert np.shares_memory(out, data)
    assert out.shape == (2, 4, 3)
    assert out[1, 0, 2] == 14


def test_big_endian_16uc1() -> None:
    # 0x0102 = 258 and 0xA0B0 = 41136 on the wire, most significant byte first
    data = bytes([0x01, 0x02, 0xA0, 0xB0])
    out = image_to_array("16UC1", 1, 2, 4, data, is_bigendian=1)
    assert out.tolist() == [[258, 41136]]
    assert out.dtype == np.dtype("=u2")
    little = image_to_array("16UC1", 1, 2, 4, data, is_bigendian=0)
    assert little.tolist() == [[0x0201, 0xB0A0]]


def test_big_endian_32fc1() -> None:
    values = np.array([[1.5, -2.25]], dtype=">f4")
    out = image_to_array("32FC1", 1, 2, 8, values.tobytes(), is_bigendian=True)
    assert out.tolist() == [[1.5, -2.25]]
    assert out.dtype == np.float32


def test_big_endian_is_ignored_for_bytes() -> None:
    out = image_to_array("rgb8", 1, 1, 3, bytes([1, 2, 3]), is_bigendian=True)
    assert out.tolist() == [[[1, 2, 3]]]


def test_unknown_encoding_names_the_supported_ones() -> None:
    with pytest.raises(InputError, match=r"unsupported image encoding 'yuv422'.*16UC1.*rgb8"):
        image_to_array("yuv422", 1, 1, 2, b"\0\0")


def test_truncated_data_is_refused() -> None:
    # two rows of 9 bytes: the last row's padding may be absent, so 18 bytes are needed
    with pytest.raises(InputError, match=r"truncated: 11 bytes for 3x2 rgb8 .*step 9 \(need 18\)"):
        image_to_array("rgb8", 2, 3, 9, bytes(11))


def test_step_too_small_is_refused() -> None:
    with pytest.raises(InputError, match=r"step 5 is smaller than width\*2 = 6"):
        image_to_array("16UC1", 2, 3, 5, bytes(12))


@pytest.mark.parametrize(("h", "w"), [(0, 3), (3, 0), (-1, 2)])
def test_empty_image_is_refused(h: int, w: int) -> None:
    with pytest.raises(InputError, match="no pixels"):
        image_to_array("mono8", h, w, 3, bytes(9))


def test_array_to_fields_checks_channels_and_dtype() -> None:
    with pytest.raises(InputError, match=r"cannot be encoded as rgb8"):
        array_to_image_fields(np.zeros((2, 2), np.uint8), "rgb8")
    with pytest.raises(InputError, match=r"dtype float64 does not match 32FC1"):
        array_to_image_fields(np.zeros((2, 2)), "32FC1")


def test_array_to_fields_of_a_non_contiguous_view() -> None:
    arr = np.arange(24, dtype=np.uint8).reshape(4, 6)[:, ::2]
    step, data = array_to_image_fields(arr, "mono8")
    assert step == 3
    np.testing.assert_array_equal(image_to_array("mono8", 4, 3, step, data), arr)


# --- colour conversions -----------------------------------------------------------------

PIXEL_RGB = (200, 100, 30)
# ITU-R 601 as OpenCV rounds it: 0.299 R + 0.587 G + 0.114 B
GREY = round(0.299 * 200 + 0.587 * 100 + 0.114 * 30)


@pytest.mark.parametrize(
    ("encoding", "pixel"),
    [
        ("rgb8", (200, 100, 30)),
        ("bgr8", (30, 100, 200)),
        ("rgba8", (200, 100, 30, 7)),
        ("bgra8", (30, 100, 200, 7)),
    ],
)
def test_to_rgb8_and_mono8_of_colour(encoding: str, pixel: tuple[int, ...]) -> None:
    arr = np.zeros((2, 3, len(pixel)), np.uint8)
    arr[:] = pixel
    rgb = to_rgb8(arr, encoding)
    assert rgb.shape == (2, 3, 3)
    assert rgb.dtype == np.uint8
    assert tuple(rgb[1, 2]) == PIXEL_RGB
    grey = to_mono8(arr, encoding)
    assert grey.shape == (2, 3)
    assert int(grey[0, 0]) == pytest.approx(GREY, abs=1)


def test_rgb8_to_rgb8_is_the_input() -> None:
    arr = np.zeros((2, 2, 3), np.uint8)
    assert to_rgb8(arr, "rgb8") is arr


def test_mono8_conversions() -> None:
    arr = np.array([[0, 17], [128, 255]], np.uint8)
    rgb = to_rgb8(arr, "mono8")
    assert rgb.shape == (2, 2, 3)
    for c in range(3):
        np.testing.assert_array_equal(rgb[:, :, c], arr)
    assert to_mono8(arr, "mono8") is arr


def test_16_bit_colour_keeps_the_high_byte() -> None:
    arr = np.array([[[0x1234, 0xFF00, 0x00FF]]], np.uint16)
    assert to_rgb8(arr, "rgb16").tolist() == [[[0x12, 0xFF, 0x00]]]
    assert to_rgb8(arr, "bgr16").tolist() == [[[0x00, 0xFF, 0x12]]]


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1", "64FC1", "8UC3"])
def test_depth_encodings_are_not_colour(encoding: str) -> None:
    arr = _random_image(encoding)
    with pytest.raises(InputError, match="not a colour or mono image"):
        to_rgb8(arr, encoding)
    with pytest.raises(InputError, match="not a colour or mono image"):
        to_mono8(arr, encoding)
