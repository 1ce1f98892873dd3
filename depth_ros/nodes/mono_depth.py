"""``mono_depth``: one camera → depth with Depth Anything V2 or MiDaS/DPT.

Subscribes ``image`` (or ``image/compressed``) and ``camera_info``. Relative models
publish ``depth/relative`` (32FC1 relative inverse depth: larger = nearer, no unit) and,
only when a scale source is configured, metric ``depth``; metric models publish ``depth``
(32FC1 metres, NaN invalid). With metric depth come ``depth/camera_info`` and ``points``.
``depth/color`` (turbo, rgb8) is computed only while someone subscribes. The scale fit is
published on ``scale/fit`` (diagnostic_msgs/DiagnosticStatus).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header
from typing_extensions import override

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.catalogue import COMPRESSED, node_info
from depth_ros.core.colorize import colorize
from depth_ros.core.messages import rgb_from_msg, stamp_to_ns
from depth_ros.core.models.base import CameraUse, ModelSpec
from depth_ros.core.mono_pipeline import MonoOptions, MonoPipeline
from depth_ros.core.params import ParamSpec
from depth_ros.core.region import Region, camera_and_region
from depth_ros.core.scale import ScaleFit, build_scale_source, scale_source_params
from depth_ros.core.schema import SCALE_PREFIX, TRANSFORM_FIELDS, mono_node_params
from depth_ros.core.temporal import TEMPORAL_PARAMS, TemporalOptions
from depth_ros.nodes import base, process, topics
from depth_ros.nodes.convert import camera_info_msg, cloud_msg, numpy_to_image
from depth_ros.nodes.reference import ReferenceTracker

INFO = node_info("mono_depth")  # topics, default model: depth_ros.core.catalogue


class MonoDepth(base.DepthComponent):
    """The ``mono_depth`` node: a monocular network's depth, made metric by the model or a scale
    source, with its point cloud."""

    name = INFO.name
    input_kind = INFO.model_kind
    default_model = INFO.default_model
    choice_params = ("scale_source",)  # its scale.* parameters join the schema
    option_params = frozenset(
        (
            "points",
            "points_decimation",
            "min_depth",
            "max_depth",
            *(s.name for s in TEMPORAL_PARAMS),
        )
    )
    live_params = base.DepthComponent.live_params | {  # read each frame
        "valid_roi",  # (and these by ReferenceTracker)
        *(f"reference_to_camera_{c}" for c in TRANSFORM_FIELDS),
    }
    pipeline: MonoPipeline
    reference: ReferenceTracker | None = None
    last_fit: ScaleFit | None = None
    last_focal: tuple[float, bool] | None = None  # (focal px, estimated by the network)

    @override
    def schema(self, model_params: tuple[ParamSpec, ...]) -> dict[str, ParamSpec]:
        source = str(self.params.get("scale_source", "none"))  # (declared first)
        scale = scale_source_params(source) if source != "none" else ()
        return mono_node_params(model_params, scale)

    @override
    def is_option(self, name: str) -> bool:
        return super().is_option(name) or name.startswith(SCALE_PREFIX)  # scale source's

    @override
    def on_time_jump(self) -> None:
        if self.reference is not None:
            self.reference.clear()  # references of the old time would pair with new frames
        if getattr(self, "pipeline", None) is not None:
            self.pipeline.reset_stream()  # a video model's temporal window, the filter's
            if self.pipeline.scale is not None:
                self.pipeline.scale.reset()

    def flags(self) -> set[str]:
        """The catalogue's topic flags that hold (depth_ros.core.catalogue): what the
        model gives and the scale source's reference topics."""
        flags = {COMPRESSED} if self.params.get("image_transport") == COMPRESSED else set()
        source = str(self.params.get("scale_source", "none"))
        if source in INFO.flags:  # a source that listens to reference topics
            flags.add(source)
        pipeline: MonoPipeline | None = getattr(self, "pipeline", None)
        if pipeline is None:  # not configured: the inputs only
            return flags
        if pipeline.scale is not None:
            flags.add("scale")
        if not pipeline.metric or pipeline.scale is not None:
            flags.add("relative")
        if pipeline.metric:
            flags.add("metric")
            flags.update({"confidence", "normals"} & set(self._spec().outputs))
        return flags

    @override
    def inputs(self) -> Sequence[tuple[str, type]]:
        return topics.synced_inputs(INFO, self.flags())

    def _spec(self) -> ModelSpec:
        assert self.spec is not None, "the model is known once configured"
        return self.spec

    def _options(self) -> MonoOptions:
        p = self.params
        return MonoOptions(
            min_depth=float(p["min_depth"]),
            max_depth=float(p["max_depth"]) or float("inf"),
            points=str(p["points"]),
            decimation=int(p["points_decimation"]),
            temporal_filter=bool(p["temporal_filter"]),
            temporal=TemporalOptions.from_params(p),
        )

    @override
    def setup(self) -> None:
        assert self.spec is not None
        source = str(self.params["scale_source"])
        scale = None
        if source != "none":
            scale = build_scale_source(
                source,
                {
                    k[len(SCALE_PREFIX) :]: v
                    for k, v in self.params.items()
                    if k.startswith(SCALE_PREFIX)
                },
            )
            self.reference = ReferenceTracker(self.node, source, self.params)
        self.pipeline = MonoPipeline(
            self.model, self.spec.output_kind, scale, self._options(), self.spec.camera
        )

    @override
    def apply_options(self) -> None:
        self.pipeline.options = self._options()
        if self.pipeline.scale is not None:
            self.pipeline.scale.update(
                {
                    k[len(SCALE_PREFIX) :]: v
                    for k, v in self.params.items()
                    if k.startswith(SCALE_PREFIX)
                }
            )

    @override
    def create_publishers(self, qos: Any) -> dict[str, Any]:
        return topics.publishers(self, INFO, qos, self.flags())

    @override
    def extra_subscriptions(self, qos: Any) -> list[Any]:
        if self.reference is None:
            return []
        return self.reference.subscriptions(qos, topics.unsynced_inputs(INFO, self.flags()))

    def _camera(
        self, info: CameraInfo, width: int, height: int
    ) -> tuple[PinholeCamera | None, Region | None]:
        """The image's camera, None for an uncalibrated one (REP 104: K all zero) when
        the model estimates the focal itself; and its valid region (``valid_roi``)."""
        valid_roi = str(self.params.get("valid_roi", "auto"))
        camera, region = camera_and_region(info, width, height, valid_roi)
        if self._spec().camera is CameraUse.OPTIONAL and not any(camera.k):
            return None, region
        camera.validate(width, height)
        return camera, region

    @override
    def handle(self, msgs: list[Any]) -> dict[str, float]:
        t0 = time.perf_counter()
        image_msg, info = msgs
        rgb = rgb_from_msg(image_msg, self.max_pixels(), "image")
        camera, region = self._camera(info, rgb.shape[1], rgb.shape[0])
        header = image_msg.header
        stamp = stamp_to_ns(image_msg) / 1e9
        context = (
            self.reference.context(camera, rgb.shape[:2], stamp)
            if self.reference is not None and camera is not None
            else None
        )
        result = self.pipeline.process(
            rgb,
            camera,
            context,
            cloud="points" in self.pubs and self.wanted("points"),
            stamp=stamp,
            valid_region=region,
        )
        t1 = time.perf_counter()
        if result.focal_px is not None:
            self.last_focal = (result.focal_px, result.focal_estimated)
        if result.relative is not None and "relative" in self.pubs:
            self.pubs["relative"].publish(numpy_to_image(result.relative, "32FC1", header))
        if result.fit is not None:
            self.last_fit = result.fit
            self.pubs["fit"].publish(_fit_status(result.fit, self.node.get_name(), header))
            if not result.fit.ok:
                self.log.warn(result.fit.code, f"no metric depth: {result.fit.reason}")
        if result.depth is not None and "depth" in self.pubs:
            self.pubs["depth"].publish(numpy_to_image(result.depth, "32FC1", header))
            if camera is not None:
                self.pubs["depth_info"].publish(camera_info_msg(camera, header))
            if result.confidence is not None and "confidence" in self.pubs:
                self.pubs["confidence"].publish(numpy_to_image(result.confidence, "32FC1", header))
            if result.normals is not None and self.wanted("normals"):
                self.pubs["normals"].publish(numpy_to_image(result.normals, "32FC3", header))
        if result.cloud is not None:
            self.pubs["points"].publish(cloud_msg(result.cloud, header))
        if self.wanted("color"):
            shown = result.depth if result.depth is not None else result.relative
            if shown is not None:
                self.pubs["color"].publish(
                    numpy_to_image(colorize(shown, invert=result.depth is not None), "rgb8", header)
                )
        t2 = time.perf_counter()
        return {
            **result.timings_ms,
            "convert_in": (t1 - t0) * 1e3 - sum(result.timings_ms.values()),
            "publish": (t2 - t1) * 1e3,
        }

    @override
    def extra_diagnostics(self) -> dict[str, str]:
        values = {"camera_use": self.spec.camera.value} if self.spec is not None else {}
        if self.last_focal is not None:
            focal, estimated = self.last_focal
            values["focal_px"] = f"{focal:.2f}"
            values["focal_source"] = "estimated by the network" if estimated else "camera_info"
        if self.reference is not None:
            values.update({f"{t} stamp": s for t, s in self.reference.stamps().items()})
        fit = self.last_fit
        if fit is None:
            return {**values, "scale_source": str(self.params.get("scale_source", "none"))}
        return {
            **values,
            "scale_source": str(self.params.get("scale_source")),
            "scale_fit": "ok" if fit.ok else fit.reason,
            "scale": f"{fit.scale:.6g}",
            "shift": f"{fit.shift:.6g}",
            "fit_residual": f"{fit.residual:.4f}",
            "fit_inliers": str(fit.inliers),
        }

    def _diagnose(self) -> tuple[int, str, dict[str, str]]:
        # a failed scale fit publishes no depth: ERROR; a held fit: WARN
        level, message, values = super()._diagnose()
        if level == 0 and self.last_focal is not None and self.last_focal[1]:
            return (
                1,
                (
                    f"camera uncalibrated: focal estimated by the network "
                    f"({self.last_focal[0]:.1f} px); no points"
                ),
                values,
            )
        fit = self.last_fit
        if fit is not None and level < 2 and not fit.ok:
            return 2, f"no metric depth: {fit.reason}", values
        if fit is not None and level == 0 and fit.held:
            return 1, f"scale fit held: {fit.reason}", values
        return level, message, values


def _fit_status(fit: ScaleFit, name: str, header: Header) -> DiagnosticStatus:
    """The ``scale/fit`` message of ``fit``, returned for the image of ``header``
    (``frame_stamp``: its stamp, sec.nanosec: a DiagnosticStatus has no header)."""
    level = (
        DiagnosticStatus.OK
        if fit.ok and not fit.held
        else (DiagnosticStatus.WARN if fit.ok else DiagnosticStatus.ERROR)
    )
    values = {
        "scale": fit.scale,
        "shift": fit.shift,
        "residual": fit.residual,
        "inliers": fit.inliers,
        "points": fit.points,
        "held": fit.held,
        "age": fit.age,
        "source": fit.source,
        "frame_stamp": f"{header.stamp.sec}.{header.stamp.nanosec:09d}",
    }
    return DiagnosticStatus(
        level=level,
        name=f"{name}: scale fit",
        message=fit.reason or "ok",
        values=[KeyValue(key=k, value=str(v)) for k, v in values.items()],
    )


def main(args: list[str] | None = None) -> int:
    """Run ``mono_depth`` as a plain node until shutdown; the exit status."""
    return process.run(MonoDepth, args)


def main_lifecycle(args: list[str] | None = None) -> int:
    """Run ``mono_depth`` as a lifecycle node until shutdown; the exit status."""
    return process.run(MonoDepth, args, lifecycle=True)


if __name__ == "__main__":
    sys.exit(main())
