"""Per-pixel confidence of a classical stereo match, in [0, 1], from what the matcher knows.

The confidence of a pixel is the product of four factors, each in [0, 1]:

* **left-right consistency** ``c_lr``: the right image is matched too (the mirrored pair
  through the same matcher) and the left disparity d_L(x) is compared with the right
  disparity at the pixel it points to, e = |d_L(x) - d_R(x - d_L(x))|:
  ``c_lr = 1 - 0.5 e / max_diff`` for e <= max_diff, 0 beyond (or where the right view has
  no match). Without the right-view match ``c_lr`` is 1 (OpenCV's own binary check then
  applies, ``disp12_max_diff``).
* **uniqueness** ``c_uniq``: on the half-size grey pair, the sum of absolute differences
  over the block window is computed for every searched disparity; c1 is the cost at the
  matcher's disparity and c2 the least cost at least 2 half-size pixels away from it. The
  margin m = (c2 - c1) / c2 (the uniqueness of stereo_image_proc / OpenCV, which keep a
  match when m > uniqueness_ratio / 100) gives ``c_uniq = clip(m / (2 u), 0, 1)`` with
  u = uniqueness_ratio / 100: 0.5 at the margin OpenCV asks for, 1 at twice that.
* **texture** ``c_tex``: the mean |dI/dx| (grey levels per pixel, central differences)
  over the block window; 0 below ``min_texture``, else ``min(1, t / (2 min_texture))``.
* **speckle membership** ``c_speckle``: connected blobs of similar disparity (OpenCV's
  filterSpeckles, as inside SGBM) smaller than ``speckle_size`` pixels are removed (0);
  pixels of blobs smaller than 4x that get 0.5; the rest 1.

Invalid pixels (NaN disparity) have confidence 0. Everything is vectorised (numpy, and
OpenCV for the filters); one loop over the half-size disparities builds the cost volume.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]


def grey_u8(image: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """RGB (H, W, 3) or grey (H, W) uint8 → grey uint8."""
    import cv2

    if image.ndim == 2:
        return image
    return np.asarray(cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY))


def texture(grey: NDArray[np.uint8], window: int) -> F32:
    """Mean |dI/dx| (central differences, grey levels per pixel) over a window."""
    import cv2

    g = grey.astype(np.float32)
    dx = np.zeros_like(g)
    dx[:, 1:-1] = np.abs(g[:, 2:] - g[:, :-2]) * np.float32(0.5)
    w = max(int(window), 3)
    return np.asarray(cv2.blur(dx, (w, w)), np.float32)


def texture_factor(tex: F32, min_texture: float) -> F32:
    """c_tex (see the module) of a texture map (all ones when ``min_texture`` <= 0)."""
    if min_texture <= 0:
        return np.ones_like(tex)
    c: F32 = np.minimum(tex / np.float32(2.0 * min_texture), np.float32(1.0)).astype(np.float32)
    c[tex < min_texture] = 0.0
    return c


def lr_factor(left_disp: F32, right_disp: F32, max_diff: float) -> F32:
    """c_lr from the left disparity and the right view's disparity (both positive, NaN
    invalid): 1 - 0.5 e / max_diff up to e = max_diff, 0 beyond."""
    h, w = left_disp.shape
    ok = np.isfinite(left_disp)
    cols = np.arange(w, dtype=np.float32)[None, :] - np.where(ok, left_disp, 0.0)
    xr = np.rint(cols).astype(np.int64)
    inside = ok & (xr >= 0) & (xr < w)
    rows = np.broadcast_to(np.arange(h)[:, None], (h, w))
    dr = np.full((h, w), np.nan, np.float32)
    dr[inside] = right_disp[rows[inside], xr[inside]]
    err = np.abs(left_disp - dr)
    tol = max(float(max_diff), 0.5)
    c: F32 = (np.float32(1.0) - np.float32(0.5 / tol) * err).astype(np.float32)
    c[~(err <= tol)] = 0.0  # NaN (no right match) too
    return c


def uniqueness_factor(
    left: NDArray[np.uint8],
    right: NDArray[np.uint8],
    disp: F32,
    min_disparity: int,
    num_disparities: int,
    window: int,
    ratio_percent: float,
) -> F32:
    """c_uniq (see the module): best (at the matcher's disparity) vs second-best SAD cost,
    on the half-size grey pair, upsampled back (bilinear)."""
    import cv2

    h, w = disp.shape
    if ratio_percent <= 0:
        return np.ones((h, w), np.float32)
    gl = cv2.pyrDown(left).astype(np.float32)
    gr = cv2.pyrDown(right).astype(np.float32)
    hh, hw = gl.shape
    k0 = int(np.floor(min_disparity / 2))
    k1 = int(np.ceil((min_disparity + num_disparities) / 2))
    ks = np.arange(k0, k1)
    win = max(int(window) // 2 | 1, 3)
    big = np.float32(1e9)
    vol = np.empty((ks.size, hh, hw), np.float32)
    diff = np.empty((hh, hw), np.float32)
    for i, k in enumerate(ks):
        diff[:] = big
        if k >= 0:
            np.abs(gl[:, k:] - gr[:, : hw - k], out=diff[:, k:])
        else:
            np.abs(gl[:, :k] - gr[:, -k:], out=diff[:, :k])
        vol[i] = cv2.blur(diff, (win, win))
    half = cv2.resize(disp, (hw, hh), interpolation=cv2.INTER_NEAREST) * np.float32(0.5)
    ok = np.isfinite(half)
    idx = np.clip(np.rint(np.where(ok, half, k0)).astype(np.int64) - k0, 0, ks.size - 1)
    c1 = np.take_along_axis(vol, idx[None], axis=0)[0]
    near = np.abs(np.arange(ks.size)[:, None, None] - idx[None]) <= 1
    c2 = np.where(near, big, vol).min(axis=0)
    margin = (c2 - c1) / np.maximum(c2, np.float32(1e-3))
    c = np.clip(margin / np.float32(2.0 * ratio_percent / 100.0), 0.0, 1.0).astype(np.float32)
    c[~ok] = 0.0
    return np.asarray(cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)


def speckle_factor(
    raw: NDArray[np.int16], invalid: int, size: int, max_diff16: int
) -> tuple[F32, NDArray[np.int16]]:
    """(c_speckle, the raw disparity with the speckles removed) for OpenCV's fixed-point
    disparity (16 x pixels, ``invalid`` marks holes)."""
    import cv2

    c = np.ones(raw.shape, np.float32)
    if size <= 0:
        return c, raw
    small = raw.copy()
    cv2.filterSpeckles(small, invalid, size, max_diff16)
    medium = raw.copy()
    cv2.filterSpeckles(medium, invalid, 4 * size, max_diff16)
    c[(medium == invalid) & (raw != invalid)] = 0.5
    c[(small == invalid) & (raw != invalid)] = 0.0
    return c, small


def combine(*factors: F32 | None, valid: NDArray[np.bool_]) -> F32:
    """The product of the factors (None: absent), 0 where the disparity is invalid."""
    out = np.ones(valid.shape, np.float32)
    for f in factors:
        if f is not None:
            out *= f
    out[~valid] = 0.0
    return out


class TemporalFilter:
    """For a static camera: an exponential average of the disparity and its confidence
    over frames, where the new disparity agrees with the history (within 1 px); elsewhere
    (a change, or a new hole) the new frame is taken as it is. ``alpha`` is the weight of
    the history (0: off)."""

    def __init__(self) -> None:
        self._disp: F32 | None = None
        self._conf: F32 | None = None

    def reset(self) -> None:
        """Forget the history (the next frame starts it again)."""
        self._disp = self._conf = None

    def apply(self, disp: F32, conf: F32, alpha: float) -> tuple[F32, F32]:
        """Filter one frame (see the class); ``alpha`` <= 0 resets and returns the frame as it
        is."""
        if alpha <= 0:
            self.reset()
            return disp, conf
        prev_d, prev_c = self._disp, self._conf
        if prev_d is None or prev_c is None or prev_d.shape != disp.shape:
            self._disp, self._conf = disp.copy(), conf.copy()
            return disp, conf
        a = np.float32(alpha)
        agree = np.abs(disp - prev_d) <= 1.0  # False where either is NaN
        out_d = disp.copy()
        out_c = conf.copy()
        out_d[agree] = a * prev_d[agree] + (1 - a) * disp[agree]
        out_c[agree] = a * prev_c[agree] + (1 - a) * conf[agree]
        self._disp, self._conf = out_d.copy(), out_c.copy()
        return out_d, out_c
