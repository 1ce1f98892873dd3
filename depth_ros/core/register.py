"""Depth registered to another camera: depth_image_proc's ``register`` in vectorised numpy.

A depth image (float32 metres, NaN = invalid) of one camera is reprojected into another
camera (e.g. the colour camera of an RGB-D or stereo rig) given the rigid transform that
maps points of the depth camera's optical frame into the target's (TF target ← depth).

Conventions reproduced from ``depth_image_proc/src/register.cpp`` (image_pipeline 5.0.1,
``RegisterNode::convert``):

* pixel centres at integer coordinates: depth pixel (u, v) with depth Z unprojects to
  X = ((u - cx) Z - Tx) / fx, Y = ((v - cy) Z - Ty) / fy (Tx, Ty = P[0,3], P[1,3]);
* the point is mapped by the transform and projected with the target's P:
  u' = (fx' x + Tx') / z + cx', v' likewise, all in double precision;
* the target pixel is ``int(u' + 0.5)``: C++ conversion, which truncates toward zero, so
  u' in (-1.5, -0.5) still lands in column 0 (reproduced: not ``floor``);
* z-buffer: the stored value is the depth in the *target* frame, z, as float32; where
  several points land in one pixel the smallest z wins;
* no splatting by default: one depth pixel writes one target pixel, so a higher-resolution
  target is sparse. With ``fill_upsampling_holes`` the pixel's corners (u - 0.5, v - 0.5)
  and (u + 0.5, v + 0.5) are projected and every target pixel of the rectangle they span
  (inclusive, skipped whole when it leaves the image) receives the mean z of the two
  corners, again z-buffered;
* the output has the target's (binned, ROI-cropped) size, NaN where nothing lands.

Deliberate differences: depths <= 0 or infinite are invalid (register.cpp only skips
non-finite floats, so 0 projects the depth camera's centre), and points at z <= 0 in the
target frame (behind it) are dropped (register.cpp projects them through the centre and
stores a negative depth). The per-pixel rays are precomputed per camera pair and
transform (:class:`DepthRegistrar`), so a frame costs a few array operations; the rounding
equals register.cpp's except where u' + 0.5 lies within ~1e-12 px of an integer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.arrays import FloatArray
from depth_ros.core.camera import PinholeCamera
from depth_ros.core.errors import InputError
from depth_ros.core.projection import check_transform

FloatImage = NDArray[np.float32]
F64 = NDArray[np.float64]


def rigid_transform(rotation: FloatArray, translation: FloatArray | Sequence[float]) -> F64:
    """4x4 homogeneous matrix from a 3x3 rotation and a translation (validated)."""
    t = np.eye(4)
    t[:3, :3] = np.asarray(rotation, dtype=np.float64).reshape(3, 3)
    t[:3, 3] = np.asarray(translation, dtype=np.float64).reshape(3)
    return check_transform(t)


def _ty(camera: PinholeCamera) -> float:
    return camera.p[7] if len(camera.p) == 12 else 0.0


@dataclass(frozen=True)
class _Corner:
    """Per-pixel ray coefficients for one sub-pixel offset of the depth image: for depth
    Z, z = Z * az + bz, fx' x + Tx' = Z * au + bu, fy' y + Ty' = Z * av + bv, and
    u' + 0.5 = (Z * au + bu) / z + cu, v' + 0.5 likewise."""

    az: F64
    au: F64
    av: F64
    bz: float
    bu: float
    bv: float
    cu: float  # cx' + 0.5
    cv: float  # cy' + 0.5


def _corner(
    source: PinholeCamera, target: PinholeCamera, t: F64, shape: tuple[int, int], offset: float
) -> _Corner:
    h, w = shape
    du = (np.arange(w, dtype=np.float64) + offset - source.cx) / source.fx  # (W,)
    dv = (np.arange(h, dtype=np.float64) + offset - source.cy) / source.fy  # (H,)
    # X = Z du - Tx / fx, Y = Z dv - Ty / fy: the constant parts fold into b
    x0, y0 = -source.tx / source.fx, -_ty(source) / source.fy
    rows = []
    consts = []
    for i in range(3):
        rows.append(t[i, 0] * du[None, :] + t[i, 1] * dv[:, None] + t[i, 2])
        consts.append(t[i, 0] * x0 + t[i, 1] * y0 + t[i, 3])
    fx, fy, tx, ty = target.fx, target.fy, target.tx, _ty(target)
    return _Corner(
        az=np.ascontiguousarray(rows[2]),
        au=np.ascontiguousarray(fx * rows[0]),
        av=np.ascontiguousarray(fy * rows[1]),
        bz=float(consts[2]),
        bu=float(fx * consts[0] + tx),
        bv=float(fy * consts[1] + ty),
        cu=target.cx + 0.5,
        cv=target.cy + 0.5,
    )


class DepthRegistrar:
    """Registers depth images of one camera into another; the rays are computed once per
    (depth camera, target camera, transform, image size) and reused frame after frame."""

    def __init__(self, fill_upsampling_holes: bool = False) -> None:
        self.fill_upsampling_holes = fill_upsampling_holes
        self._key: tuple[object, ...] | None = None
        self._corners: tuple[_Corner, ...] = ()
        self._scratch: _Scratch | None = None

    def _prepare(
        self,
        depth_camera: PinholeCamera,
        target_camera: PinholeCamera,
        t: F64,
        shape: tuple[int, int],
    ) -> tuple[_Corner, ...]:
        key = (depth_camera, target_camera, t.tobytes(), shape, self.fill_upsampling_holes)
        if key != self._key:
            offsets = (-0.5, 0.5) if self.fill_upsampling_holes else (0.0,)
            self._corners = tuple(
                _corner(depth_camera, target_camera, t, shape, o) for o in offsets
            )
            self._key = key
        return self._corners

    def register(
        self,
        depth: FloatImage,
        depth_camera: PinholeCamera,
        target_camera: PinholeCamera,
        transform: FloatArray,
    ) -> FloatImage:
        """The depth image seen from ``target_camera``: (target.height, target.width)
        float32 metres along the target's optical axis, NaN where no point lands.

        ``transform``: 4x4, depth camera optical frame → target optical frame. The depth
        camera must describe the depth image's size (after binning/ROI, as
        :meth:`PinholeCamera.from_msg` gives it)."""
        if depth.ndim != 2:
            raise InputError(f"depth must be a (H, W) image, got shape {depth.shape}")
        h, w = depth.shape
        depth_camera.validate(w, h)
        target_camera.validate()
        t = check_transform(transform)
        corners = self._prepare(depth_camera, target_camera, t, (h, w))
        z = np.asarray(depth, dtype=np.float32)
        tw, th = target_camera.width, target_camera.height
        if len(corners) == 1:
            if self._scratch is None or self._scratch.size != h * w:
                self._scratch = _Scratch(h * w)
            idx, zt = _project_blocks(z, corners[0], tw, th, self._scratch)
        else:
            idx, zt = _project_rect(z, corners[0], corners[1], tw, th)
        zbuf = np.full(th * tw + 1, np.inf, dtype=np.float32)  # + 1: the trash slot
        with np.errstate(invalid="ignore"):  # the trash slot may take NaN
            np.minimum.at(zbuf, idx.ravel(), zt.ravel())  # z-buffer: nearest surface wins
        out = zbuf[:-1].reshape(th, tw)
        out[out == np.inf] = np.nan
        return out


BLOCK = 16384  # pixels per block: the float64 temporaries stay in the CPU cache


class _Scratch:
    """Buffers reused frame after frame: the per-pixel results (flat target index and
    float32 z) and the temporaries of one block."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.idx = np.empty(size, dtype=np.intp)
        self.z = np.empty(size, dtype=np.float32)
        n = min(size, BLOCK)
        self.zt, self.fu, self.fv = (np.empty(n) for _ in range(3))
        self.keep = np.empty(n, dtype=np.bool_)
        self.test = np.empty(n, dtype=np.bool_)
        self.iu = np.empty(n, dtype=np.intp)


def _project_blocks(
    z: FloatImage, c: _Corner, tw: int, th: int, s: _Scratch
) -> tuple[NDArray[np.intp], NDArray[np.float32]]:
    """Flat target index (``tw * th`` = nowhere) and float32 target z of every depth
    pixel, computed block by block into ``s`` (the arithmetic of :func:`_pixels`,
    :func:`_inside` and :func:`_flat_index`, without full-image temporaries)."""
    zf = z.reshape(-1)
    az, au, av = c.az.reshape(-1), c.au.reshape(-1), c.av.reshape(-1)
    trash = tw * th
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for a in range(0, zf.size, BLOCK):
            b = min(a + BLOCK, zf.size)
            n = b - a
            zc = zf[a:b]
            zt, fu, fv, keep, test, iu = (
                s.zt[:n],
                s.fu[:n],
                s.fv[:n],
                s.keep[:n],
                s.test[:n],
                s.iu[:n],
            )
            np.multiply(zc, az[a:b], out=zt)
            zt += c.bz
            np.multiply(zc, au[a:b], out=fu)
            fu += c.bu
            fu /= zt
            fu += c.cu
            np.multiply(zc, av[a:b], out=fv)
            fv += c.bv
            fv /= zt
            fv += c.cv
            np.greater(zc, 0, out=keep)
            for arr, op, limit in (
                (zc, np.less, np.inf),
                (zt, np.greater, 0.0),
                (fu, np.greater, -1.0),
                (fu, np.less, tw),
                (fv, np.greater, -1.0),
                (fv, np.less, th),
            ):
                op(arr, limit, out=test)
                keep &= test
            iv = s.idx[a:b]
            np.copyto(iv, fv, casting="unsafe")  # truncation toward zero, as C++'s int()
            np.copyto(iu, fu, casting="unsafe")
            iv *= tw
            iv += iu
            np.logical_not(keep, out=keep)
            np.copyto(iv, trash, where=keep)
            np.copyto(s.z[a:b], zt, casting="same_kind")
    return s.idx, s.z


def _pixels(z: FloatImage, c: _Corner) -> tuple[F64, F64, F64]:
    """Target depth z and u' + 0.5, v' + 0.5 (before truncation) of every depth pixel."""
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        zt = z * c.az
        zt += c.bz
        fu = z * c.au
        fu += c.bu
        fu /= zt
        fu += c.cu
        fv = z * c.av
        fv += c.bv
        fv /= zt
        fv += c.cv
    return zt, fu, fv


def _inside(z: FloatImage, zt: F64, fu: F64, fv: F64, tw: int, th: int) -> NDArray[np.bool_]:
    """Valid source depth (0 < Z < inf), in front of the target (z > 0) and int(fu),
    int(fv) (truncated toward zero) a pixel of a tw x th image. NaN compares false."""
    with np.errstate(invalid="ignore"):
        keep = z > 0
        keep &= z < np.inf
        keep &= zt > 0
        keep &= fu > -1.0
        keep &= fu < tw
        keep &= fv > -1.0
        keep &= fv < th
    return keep


def _project_rect(
    z: FloatImage, c1: _Corner, c2: _Corner, tw: int, th: int
) -> tuple[NDArray[np.intp], NDArray[np.float32]]:
    """``fill_upsampling_holes``: every pixel of the rectangle spanned by the projected
    corners, with the corners' mean z. register.cpp skips the rectangle when corner 1 is
    left of / above the image or corner 2 right of / below it; a rectangle whose corners
    are swapped (u2 < u1) is empty. Both corners must then lie inside the image, which
    also keeps the conversions to int in range."""
    z1, fu1, fv1 = _pixels(z, c1)
    z2, fu2, fv2 = _pixels(z, c2)
    keep = _inside(z, z1, fu1, fv1, tw, th) & _inside(z, z2, fu2, fv2, tw, th)
    u1, v1 = fu1[keep].astype(np.intp), fv1[keep].astype(np.intp)
    u2, v2 = fu2[keep].astype(np.intp), fv2[keep].astype(np.intp)
    zm = (0.5 * (z1[keep] + z2[keep])).astype(np.float32)
    nw = u2 - u1 + 1
    nh = v2 - v1 + 1
    ok = (nw > 0) & (nh > 0)
    u1, v1, nw, nh, zm = u1[ok], v1[ok], nw[ok], nh[ok], zm[ok]
    base = v1 * tw + u1
    trash = tw * th
    idx: list[NDArray[np.intp]] = []
    # the usual rectangles (up to SMALL x SMALL): one pass per offset over every pixel
    for dy in range(min(int(nh.max(initial=0)), SMALL)):
        for dx in range(min(int(nw.max(initial=0)), SMALL)):
            at = base + (dy * tw + dx)
            np.copyto(at, trash, where=(nh <= dy) | (nw <= dx))
            idx.append(at)
    zs = [zm] * len(idx)
    big = (nw > SMALL) | (nh > SMALL)  # the rest, pixel by pixel of their rectangles
    if big.any():
        b_base, b_w, b_h, b_z = base[big], nw[big], nh[big], zm[big]
        n = b_w * b_h
        k = np.arange(int(n.sum()), dtype=np.intp) - np.repeat(np.cumsum(n) - n, n)
        width = np.repeat(b_w, n)
        dy_big = k // width
        idx.append(np.repeat(b_base, n) + dy_big * tw + (k - dy_big * width))
        zs.append(np.repeat(b_z, n))
    if not idx:
        return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float32)
    return np.concatenate(idx), np.concatenate(zs)


SMALL = 3  # rectangles up to 3 x 3 take the per-offset passes of _project_rect


def register_depth(
    depth: FloatImage,
    depth_camera: PinholeCamera,
    target_camera: PinholeCamera,
    transform: FloatArray,
    fill_upsampling_holes: bool = False,
) -> FloatImage:
    """One-shot :meth:`DepthRegistrar.register` (the rays are not kept)."""
    return DepthRegistrar(fill_upsampling_holes).register(
        depth, depth_camera, target_camera, transform
    )
