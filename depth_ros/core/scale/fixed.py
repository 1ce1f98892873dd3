"""``fixed``: a constant map, metric_inverse = scale * rel + shift (no reference needed).

For a network whose output is already metric inverse depth use scale 1, shift 0; for one
calibrated offline (e.g. with ``depth_ros eval`` against ground truth) enter its fit.
"""

from __future__ import annotations

from depth_ros.core.arrays import FloatArray
from depth_ros.core.params import ParamSpec
from depth_ros.core.scale import register_scale_source
from depth_ros.core.scale.base import ScaleContext, ScaleFit, ScaleSource


@register_scale_source
class FixedScale(ScaleSource):
    """A fixed map given by parameters: 1/metres = scale * relative + shift."""

    name = "fixed"
    temporal = False
    params = (
        ParamSpec(
            "scale",
            1.0,
            "Scale of inverse depth: 1/metres = scale * relative + shift",
            1e-9,
            1e9,
        ),
        ParamSpec("shift", 0.0, "Shift of inverse depth, 1/metres", -1e6, 1e6),
    )

    def _fit_frame(self, rel: FloatArray, context: ScaleContext) -> ScaleFit:
        return ScaleFit(scale=self.fparam("scale"), shift=self.fparam("shift"), stamp=context.stamp)
