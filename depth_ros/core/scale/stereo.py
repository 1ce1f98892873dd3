"""``stereo``: the stereo node's disparity as the metric reference.

Disparity (pixels of the left image, NaN = none) becomes depth with the pair's
:class:`~depth_ros.core.camera.StereoGeometry` (Z = fx * B / (d + doffs)); from there it is
``sparse_depth``: a robust per-frame fit of scale and shift in inverse depth, smoothed and
held. The relative prediction must be of the left rectified image (same size as the
disparity). Disparities that give depths outside [min_reference_depth,
max_reference_depth] are ignored (far points carry little scale information and much noise).
"""

from __future__ import annotations

from dataclasses import replace

from depth_ros.core.arrays import FloatArray
from depth_ros.core.errors import CalibrationError
from depth_ros.core.geometry import disparity_to_depth
from depth_ros.core.params import ParamSpec, Value
from depth_ros.core.scale import register_scale_source
from depth_ros.core.scale.base import (
    NO_REFERENCE,
    FloatImage,
    ScaleContext,
    ScaleFit,
    check_same_shape,
)
from depth_ros.core.scale.sparse_depth import REFERENCE_FIT_PARAMS, SparseDepthScale


def _with_default(specs: tuple[ParamSpec, ...], **new: Value) -> tuple[ParamSpec, ...]:
    return tuple(replace(s, default=new[s.name]) if s.name in new else s for s in specs)


@register_scale_source
class StereoScale(SparseDepthScale):
    """Scale from a stereo disparity (or depth) of the same view: the sparse-depth fit on the stereo
    depth."""

    name = "stereo"
    params = _with_default(REFERENCE_FIT_PARAMS, min_points=200, max_reference_depth=30.0)

    def _reference(self, rel: FloatArray, context: ScaleContext) -> FloatImage | ScaleFit:
        if context.disparity is None:
            if context.reference is not None:  # already converted to depth by the caller
                check_same_shape(rel, context.reference, "stereo reference depth")
                return context.reference
            return ScaleFit.failed(NO_REFERENCE, "no disparity received", stamp=context.stamp)
        if context.stereo is None:
            raise CalibrationError(
                "stereo scale source got a disparity but no stereo geometry; expected "
                "ScaleContext.stereo (from the left and right camera_info)"
            )
        check_same_shape(rel, context.disparity, "disparity")
        return disparity_to_depth(context.disparity, context.stereo)
