"""The size of a compressed (PNG or JPEG) image, read from its header without decoding it.

A few hundred kilobytes of PNG can decode to gigabytes of pixels; nodes read the size
here and refuse an image beyond their limit before ``cv2.imdecode`` allocates it.
PNG: the IHDR chunk, which the specification requires first (width and height at bytes
16-24, big-endian). JPEG: the first start-of-frame marker (SOF0-SOF15 but DHT, JPG and
DAC), found by walking the marker segments from SOI.
"""

from __future__ import annotations

from depth_ros.core.errors import InputError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset((0x01, *range(0xD0, 0xD9)))  # TEM, RSTn, SOI: no length field


def compressed_size(data: bytes | bytearray | memoryview) -> tuple[int, int, str]:
    """(width, height, "png" | "jpeg") from the header; InputError if it is neither format
    or the header is cut short."""
    buf = bytes(data[:8]) if len(data) >= 8 else bytes(data)
    if buf.startswith(PNG_SIGNATURE):
        head = bytes(data[8:33])
        if len(head) < 25 or head[4:8] != b"IHDR":
            raise InputError("PNG image has no IHDR header chunk (truncated or corrupt)")
        return int.from_bytes(head[8:12], "big"), int.from_bytes(head[12:16], "big"), "png"
    if buf.startswith(b"\xff\xd8"):
        return (*_jpeg_size(data), "jpeg")
    raise InputError(
        f"compressed image is neither PNG nor JPEG (starts with {buf[:4].hex() or 'nothing'})"
    )


def _jpeg_size(data: bytes | bytearray | memoryview) -> tuple[int, int]:
    view = memoryview(data)
    i, n = 2, len(view)
    while i + 4 <= n:
        if view[i] != 0xFF:
            raise InputError(f"JPEG image is corrupt: no marker at byte {i}")
        marker = view[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _STANDALONE:
            i += 2
            continue
        length = int.from_bytes(view[i + 2 : i + 4], "big")
        if marker in _SOF:
            if i + 9 > n:
                break
            height = int.from_bytes(view[i + 5 : i + 7], "big")
            width = int.from_bytes(view[i + 7 : i + 9], "big")
            return width, height
        if marker == 0xDA or length < 2:  # start of scan before any frame header
            break
        i += 2 + length
    raise InputError("JPEG image has no frame header (truncated or corrupt)")
