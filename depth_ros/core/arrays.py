"""Array type aliases for the core's annotations.

numpy's bare generics (``np.floating``, ``np.generic``, ``np.dtype``) default their type
parameters to ``Any``, which mypy's ``disallow_any_explicit`` refuses; these aliases say
what the core means instead. (Strings: ``np.generic`` and ``array.array`` take no
subscript at run time.)
"""

from __future__ import annotations

import array
from typing import TypeAlias, TypeGuard, TypeVar

import numpy as np
from numpy.typing import NDArray

#: the float scalar types images and maps come in
Floating: TypeAlias = np.float16 | np.float32 | np.float64
#: a float array of any of those precisions
FloatArray: TypeAlias = NDArray[Floating]
#: an array of any dtype (images of any encoding, checked at run time)
Array: TypeAlias = "NDArray[np.generic[object]]"
#: the dtype of such an array
DType: TypeAlias = "np.dtype[np.generic[object]]"
#: what message libraries hold a ``uint8[]`` field's bytes in (rclpy: array.array,
#: rosbags: a numpy array)
Buffer: TypeAlias = "bytes | bytearray | memoryview | array.array[int] | Array"

#: the pixel types of the images the core resamples (one type in, the same type out)
Pixel = TypeVar("Pixel", np.uint8, np.uint16, np.float32, np.float64)

_S = TypeVar("_S", bound="np.generic[object]")


def has_dtype(arr: Array, dtype: type[_S]) -> TypeGuard[NDArray[_S]]:
    """Whether ``arr``'s elements are of ``dtype`` (for mypy: ``arr`` is then such an array)."""
    return arr.dtype == np.dtype(dtype)
