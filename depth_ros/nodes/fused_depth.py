"""``fused_depth``: stereo depth where stereo matches, monocular depth everywhere else.

Subscribes, synchronised by stamp: ``image`` (the LEFT rectified image of the stereo pair,
or ``image/compressed``), ``camera_info`` (its camera_info) and ``disparity``
(stereo_msgs/DisparityImage from ``stereo_depth``: the image holds d + doffs, so
depth = f * T / value; values below ``min_disparity`` are invalid). Runs the monocular
model on the image, aligns its relative inverse depth to the stereo depth (the ``stereo``
scale source, parameters ``scale.*``: robust fit, smoothed, held for ``scale.hold_time``)
and fills the stereo holes (:mod:`depth_ros.core.fusion`).

Publishes ``depth`` (32FC1 metres, NaN = none) with ``depth/camera_info``, ``points``
(PointCloud2), ``depth/confidence`` (mono8, where each depth comes from: 0 none, 1 stereo,
2 monocular filling a stereo hole, 3 monocular replacing a stereo depth that disagreed by
more than ``max_disagreement``), ``scale/fit`` (diagnostic_msgs/DiagnosticStatus: scale,
shift, residual, inliers...) and, while someone subscribes, ``depth/color``. When no fit
is available (no stereo matches yet, degenerate fit) ``depth`` carries the stereo depth
alone and the diagnostics say why. Outside the valid region (``valid_roi``, as
stereo_depth's: :mod:`depth_ros.core.region`) there is no depth, not even monocular.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
from typing_extensions import override

from depth_ros.core.catalogue import COMPRESSED, node_info
from depth_ros.core.colorize import colorize
from depth_ros.core.errors import ConfigError, InputError
from depth_ros.core.fusion import SOURCE_NONE, StereoMonoFusion
from depth_ros.core.messages import depth_from_disparity_msg, rgb_from_msg, stamp_to_ns
from depth_ros.core.models import OutputKind
from depth_ros.core.models.base import StreamingModel
from depth_ros.core.params import ParamSpec, Value
from depth_ros.core.pointcloud import depth_to_cloud
from depth_ros.core.region import blank_outside, camera_and_region
from depth_ros.core.scale import ScaleFit
from depth_ros.core.schema import SCALE_PREFIX, fused_node_params
from depth_ros.nodes import base, process, topics
from depth_ros.nodes.convert import camera_info_msg, cloud_msg, numpy_to_image
from depth_ros.nodes.mono_depth import _fit_status

INFO = node_info("fused_depth")  # topics, default model: depth_ros.core.catalogue


class FusedDepth(base.DepthComponent):
    """The ``fused_depth`` node: a relative monocular prediction aligned to the stereo disparity
    every frame, filling the stereo depth's holes."""

    name = INFO.name
    input_kind = INFO.model_kind
    default_model = INFO.default_model
    option_params = frozenset(
        (
            "points",
            "points_decimation",
            "min_depth",
            "max_depth",
            "max_disagreement",
            *(
                SCALE_PREFIX + s.name
                for s in StereoMonoFusion.params
                if s.name not in ("min_depth", "max_depth", "max_disagreement")
            ),
        )
    )
    live_params = base.DepthComponent.live_params | {"valid_roi"}  # read every frame
    fusion: StereoMonoFusion
    last_fit: ScaleFit | None = None

    @override
    def schema(self, model_params: tuple[ParamSpec, ...]) -> dict[str, ParamSpec]:
        return fused_node_params(model_params)

    def flags(self) -> set[str]:
        """The catalogue's topic flags that hold (depth_ros.core.catalogue)."""
        return {COMPRESSED} if self.params.get("image_transport") == COMPRESSED else set()

    @override
    def inputs(self) -> Sequence[tuple[str, type]]:
        return topics.synced_inputs(INFO, self.flags())

    def _fusion_params(self) -> dict[str, Value]:
        p = self.params
        values: dict[str, Value] = {
            k[len(SCALE_PREFIX) :]: v for k, v in p.items() if k.startswith(SCALE_PREFIX)
        }
        values["max_disagreement"] = float(p["max_disagreement"])
        values["min_depth"] = float(p["min_depth"])
        values["max_depth"] = float(p["max_depth"])
        return values

    @override
    def setup(self) -> None:
        assert self.spec is not None
        if self.spec.output_kind is not OutputKind.RELATIVE:
            raise ConfigError(
                f"fused_depth needs a relative monocular model (aligned to stereo every "
                f"frame); {self.spec.id!r} is {self.spec.output_kind.value}"
            )
        self.fusion = StereoMonoFusion(self._fusion_params())

    @override
    def apply_options(self) -> None:
        self.fusion.update(self._fusion_params())

    @override
    def on_time_jump(self) -> None:
        fusion = getattr(self, "fusion", None)
        if fusion is not None:
            fusion.reset()  # the scale fit of the old time is not held over the jump
        if isinstance(self.model, StreamingModel):
            self.model.reset()  # a video model's temporal window

    @override
    def teardown(self) -> None:
        self.last_fit = None

    @override
    def create_publishers(self, qos: Any) -> dict[str, Any]:
        return topics.publishers(self, INFO, qos, self.flags())

    @override
    def handle(self, msgs: list[Any]) -> None:
        image_msg, info, disparity = msgs
        rgb = rgb_from_msg(image_msg, self.max_pixels(), "image")
        h, w = rgb.shape[:2]
        camera, region = camera_and_region(info, w, h, str(self.params["valid_roi"]))
        camera.validate(w, h)
        stereo = depth_from_disparity_msg(disparity)
        if stereo.shape != (h, w):
            raise InputError(
                f"disparity is {stereo.shape[1]}x{stereo.shape[0]} but the image is {w}x{h}; "
                "expected the disparity of this (left rectified) image"
            )
        relative = np.asarray(self.model.predict(rgb), dtype=np.float32)
        if relative.shape != (h, w):
            raise InputError(f"model returned {relative.shape}, expected {(h, w)}")
        header = image_msg.header
        result = self.fusion.process(
            stereo,
            relative,
            stamp=stamp_to_ns(image_msg) / 1e9,
            stereo_stamp=stamp_to_ns(disparity) / 1e9,
        )
        depth, source = result.depth, result.source
        # outside the valid region (a filled rectification border): no depth, not even mono
        blank_outside(region, np.nan, depth)
        blank_outside(region, SOURCE_NONE, source)
        lo = float(self.params["min_depth"])
        hi = float(self.params["max_depth"]) or math.inf
        if lo > 0 or math.isfinite(hi):
            with np.errstate(invalid="ignore"):
                out = (depth < lo) | (depth > hi)
            depth[out] = np.nan
            source[out] = SOURCE_NONE
        fit = result.fit
        self.last_fit = fit
        self.pubs["fit"].publish(_fit_status(fit, self.node.get_name(), header))
        if not fit.ok:
            self.log.warn(fit.code, f"no monocular filling, stereo depth only: {fit.reason}")
        self.pubs["depth"].publish(numpy_to_image(depth, "32FC1", header))
        self.pubs["depth_info"].publish(camera_info_msg(camera, header))
        self.pubs["confidence"].publish(numpy_to_image(source, "mono8", header))
        points = str(self.params["points"])
        if points != "none" and self.wanted("points"):
            cloud = depth_to_cloud(
                depth,
                camera,
                rgb if points == "xyzrgb" else None,
                int(self.params["points_decimation"]),
            )
            self.pubs["points"].publish(cloud_msg(cloud, header))
        if self.wanted("color"):
            self.pubs["color"].publish(numpy_to_image(colorize(depth, invert=True), "rgb8", header))

    @override
    def extra_diagnostics(self) -> dict[str, str]:
        fit = self.last_fit
        if fit is None:
            return {"scale_fit": "none yet"}
        return {
            "scale_fit": "ok" if fit.ok and not fit.held else fit.reason,
            "scale": f"{fit.scale:.6g}",
            "shift": f"{fit.shift:.6g}",
            "fit_residual": f"{fit.residual:.4f}",
            "fit_inliers": str(fit.inliers),
        }

    def _diagnose(self) -> tuple[int, str, dict[str, str]]:
        level, message, values = super()._diagnose()
        fit = self.last_fit
        if level == 0 and fit is not None and (fit.held or not fit.ok):
            return (
                1,
                f"stereo only, no monocular filling: {fit.reason}"
                if not fit.ok
                else (f"scale fit held: {fit.reason}"),
                values,
            )
        return level, message, values


def main(args: list[str] | None = None) -> int:
    """Run ``fused_depth`` as a plain node until shutdown; the exit status."""
    return process.run(FusedDepth, args)


def main_lifecycle(args: list[str] | None = None) -> int:
    """Run ``fused_depth`` as a lifecycle node until shutdown; the exit status."""
    return process.run(FusedDepth, args, lifecycle=True)


if __name__ == "__main__":
    sys.exit(main())
