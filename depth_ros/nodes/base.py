"""The skeleton every depth node shares, so that node files hold only what differs.

A :class:`DepthComponent` owns the model, the publishers and the lifecycle, and puts
together the parameter binding (:mod:`depth_ros.nodes.parameters`: declared from the core
schema, validated in the on-set callback, applied in the post-set callback), the input
stage (:mod:`depth_ros.nodes.inputs`: lazy subscriptions, synchroniser, newest-frame
worker, time jumps) and the diagnostics (:mod:`depth_ros.nodes.diagnostics`). It runs
inside a plain ``rclpy`` node (configured and activated at start-up) or a managed
lifecycle node (:mod:`depth_ros.nodes.process`), as ros2/demos' lifecycle talker:
``configure`` loads the model, validates parameters and creates the (lifecycle)
publishers; ``activate`` creates subscriptions, the worker and the timers; ``deactivate``
removes those (nothing is published while inactive); ``cleanup`` releases the publishers
and the model, its device memory included.

Publishers and subscriptions take ``qos_overrides.<topic>.<publisher|subscription>.*``
parameters (rclpy's QoSOverridingOptions, as image_pipeline), on top of the
``input_qos``/``output_qos`` presets. Lazy subscriptions follow the outputs' matched
events; the node's own housekeeping (lazy check, diagnostics, the /clock watchdog) runs on
the steady clock, so it works with ``use_sim_time`` before /clock arrives.
"""

from __future__ import annotations

import abc
import copy
import dataclasses
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rclpy.event_handler import PublisherEventCallbacks
from rclpy.node import Node
from rclpy.qos_overriding_options import QoSOverridingOptions

from depth_ros.core.errors import DepthRosError
from depth_ros.core.models import InputKind, ModelConfig, ModelSpec, build_model, get_model
from depth_ros.core.params import ParamSpec, Value
from depth_ros.nodes import diagnostics
from depth_ros.nodes.diagnostics import DiagnosticsPublisher, FrameStats
from depth_ros.nodes.inputs import InputStage
from depth_ros.nodes.log_limit import RateLimitedLog
from depth_ros.nodes.parameters import ParameterBinding
from depth_ros.nodes.publishers import size_checked, unwrapped
from depth_ros.nodes.qos import qos_profile
from depth_ros.nodes.worker import BetweenFrames, ComputeThread

DEFAULT_MAX_PIXELS = 50_000_000


class DepthComponent(abc.ABC):
    """Subclasses set ``name``, ``input_kind``, ``default_model`` and implement
    :meth:`schema`, :meth:`inputs`, :meth:`create_publishers`, :meth:`handle`."""

    name: str = "depth"
    input_kind: InputKind = InputKind.STEREO
    default_model: str = "sgbm"
    # parameters whose start-up value shapes the schema (as ``model`` does): declared
    # first, so that :meth:`schema` finds them in ``self.params``
    choice_params: tuple[str, ...] = ()
    option_params: frozenset[str] = frozenset()  # changes re-run :meth:`apply_options`
    # read from ``self.params`` each time they are used (no re-apply needed); together
    # with ``option_params`` and the model's parameters, every parameter that is not
    # read-only takes effect at runtime (checked in test/nodes/test_param_effect.py)
    live_params: frozenset[str] = frozenset(
        ("approximate_sync_tolerance_seconds", "max_image_pixels")
    )

    def __init__(self, node: Node) -> None:
        self.node = node
        self.log = RateLimitedLog(node)
        self.spec: ModelSpec | None = None
        self.model: Any = None
        self.model_params: set[str] = set()
        self.pubs: dict[str, Any] = {}
        self.state = "unconfigured"
        self.frames = BetweenFrames(self.apply_options, self.on_time_jump)
        self.lock = self.frames.lock  # held while a frame is processed
        self.binding = ParameterBinding(node, self.log, self._check_update, self._apply_update)
        # the model is built, run and closed on this one thread (see ComputeThread)
        self.compute = ComputeThread(f"{self.name}_compute")
        self.input_stage = InputStage(node, self.log, self.name, self.compute)
        self.stats = FrameStats()
        self.diagnostics: DiagnosticsPublisher | None = None

    @property
    def params(self) -> dict[str, Value]:
        """The parameter values in force (updated once an update is accepted)."""
        return self.binding.values

    @property
    def specs(self) -> dict[str, ParamSpec]:
        """The node's parameters (empty before configure)."""
        return self.binding.specs

    # -- what subclasses provide ------------------------------------------------------
    @abc.abstractmethod
    def schema(self, model_params: tuple[ParamSpec, ...]) -> dict[str, ParamSpec]:
        """Every parameter of the node for a model with these parameters and the values
        of :attr:`choice_params` in :attr:`params` (their defaults before they are
        declared). Declares nothing: the component declares what it returns."""

    @abc.abstractmethod
    def inputs(self) -> Sequence[tuple[str, type]]:
        """Synchronised input topics and types."""

    @abc.abstractmethod
    def create_publishers(self, qos: Any) -> dict[str, Any]:
        """The node's publishers by output name (created on configure, with ``qos``)."""
        ...

    @abc.abstractmethod
    def handle(self, msgs: list[Any]) -> Mapping[str, float] | None:
        """Process one synchronised set and publish; raise DepthRosError on bad input.
        May return the milliseconds spent per stage (shown in the diagnostics)."""

    def setup(self) -> None:
        """After the model is built (configure): build pipelines, scale sources..."""

    def apply_options(self) -> None:
        """After a change of one of ``option_params``."""

    def extra_subscriptions(self, qos: Any) -> list[Any]:
        """Unsynchronised subscriptions (references, compressed images...)."""
        return []

    def extra_diagnostics(self) -> dict[str, str]:
        """The node's own figures, shown after the common ones."""
        return {}

    def teardown(self) -> None:
        """Undo :meth:`setup` (cleanup)."""

    def cross_reasons(self, values: Mapping[str, Value]) -> list[str]:
        """Why this full set of parameter values is inconsistent (constraints between
        parameters); checked at configure and on every update, on the values after it."""
        reasons = []
        lo, hi = values.get("min_depth"), values.get("max_depth")
        if isinstance(lo, (int, float)) and isinstance(hi, (int, float)) and 0 < hi <= lo:
            reasons.append(
                f"min_depth ({lo:g}) must be smaller than max_depth ({hi:g}; 0 = no limit)"
            )
        return reasons

    def is_option(self, name: str) -> bool:
        """Whether a change of ``name`` re-runs :meth:`apply_options`."""
        return name in self.option_params

    def takes_effect(self, name: str) -> bool:
        """Whether a runtime change of ``name`` is used (options, live values, the model's
        own parameters); every parameter that is not read-only must be."""
        return self.is_option(name) or name in self.live_params or name in self.model_params

    def on_time_jump(self) -> None:
        """Time went backwards (stamps or ROS time): forget what depends on the old time."""

    def max_pixels(self) -> int:
        """``max_image_pixels``: larger inputs are refused before they are converted."""
        return int(self.params.get("max_image_pixels", DEFAULT_MAX_PIXELS))

    # -- lifecycle ---------------------------------------------------------------------
    def configure(self) -> bool:
        """Declare the parameters and build the model; False (state ``error``, one line
        logged saying why) on an unknown model, an invalid start-up parameter, or a model
        that cannot be built. The node stays up either way."""
        try:
            ok = self._configure()
        except Exception as exc:  # nothing may escape as a traceback at start-up
            self.log.error("configure", f"cannot start {self.name}: {exc}")
            ok = False
        if not ok:
            self.state = "error"
        return ok

    def _configure(self) -> bool:
        base = self.schema(())
        model_spec = dataclasses.replace(base["model"], default=self.default_model)
        chosen = self.binding.declare_first(
            {"model": model_spec, **{name: base[name] for name in self.choice_params}}
        )
        model_id = str(chosen["model"])
        model_specs: tuple[ParamSpec, ...] = ()
        try:
            spec = get_model(model_id)
            if spec.input_kind is not self.input_kind:
                raise DepthRosError(
                    f"model {model_id!r} is a {spec.input_kind.value} model; {self.name} needs "
                    f"a {self.input_kind.value} model"
                )
            model_specs = spec.params
        except DepthRosError as exc:
            self.log.error("model", f"cannot start {self.name}: {exc}")
            spec = None
        try:
            schema = self.schema(model_specs)
        except DepthRosError as exc:  # e.g. an unknown scale_source
            self.log.error("param", f"cannot start {self.name}: {exc}")
            return False
        self.binding.bind({**schema, "model": model_spec})
        self.model_params = {s.name for s in model_specs}
        if spec is None:
            return False
        reasons = list(self.binding.startup_invalid.values()) + self.cross_reasons(self.params)
        if reasons:
            self.log.error(
                "param", f"cannot start {self.name}: invalid parameters: " + "; ".join(reasons)
            )
            return False
        self.spec = spec
        weights = str(self.params.get("weights", "")) or None
        input_size = int(self.params.get("input_size", 0) or 0) or None
        try:
            config = ModelConfig(
                weights=None if weights is None else Path(weights),
                backend=str(self.params.get("backend", "auto")),  # resolved by the model
                device=str(self.params.get("device", "cpu")),
                input_size=input_size,
                params={k: self.params[k] for k in self.model_params},
            )
            self.model = self.compute.call(lambda: build_model(model_id, config))
            self.setup()
        except DepthRosError as exc:
            self.log.error("model", f"cannot load model {model_id!r}: {exc}")
            return False
        self.create_outputs()
        self.state = "inactive"
        self.node.get_logger().info(f"{self.name} configured: model {model_id}")
        return True

    def create_outputs(self) -> None:
        """The output publishers (at configure: lifecycle publishers exist while
        inactive), with ``output_qos`` and the shared-memory size check."""
        output_qos = str(self.params["output_qos"])
        self.pubs = size_checked(
            self.create_publishers(qos_profile(output_qos, 1)), output_qos, self.log
        )

    def publisher(self, msg_type: type, topic: str, qos: Any) -> Any:
        """An output publisher: a lifecycle publisher in a managed node (publishes only
        while active), QoS overridable by parameters, and its matched events drive the
        lazy input subscriptions."""
        create = getattr(self.node, "create_lifecycle_publisher", self.node.create_publisher)
        return create(
            msg_type,
            topic,
            copy.copy(qos),
            qos_overriding_options=QoSOverridingOptions.with_default_policies(),
            event_callbacks=PublisherEventCallbacks(matched=self._on_matched),
        )

    def _on_matched(self, info: Any) -> None:
        if self.state == "active":
            self.input_stage.update_subscriptions()

    def activate(self) -> None:
        """Inputs subscribed (lazily), worker and housekeeping started, diagnostics on."""
        self.state = "active"
        self.input_stage.start(
            self.inputs(),
            self.params,
            self._process,
            wanted=self.wanted,
            extra_subscriptions=self.extra_subscriptions,
            on_jump=self.frames.time_jumped,
        )
        self.start_diagnostics()

    def start_diagnostics(self) -> None:
        """Publish on /diagnostics (also while a failed configure keeps the node idle)."""
        if self.diagnostics is None:
            self.diagnostics = DiagnosticsPublisher(
                self.node, float(self.params.get("diagnostics_period", 1.0)), self._diagnose
            )

    def deactivate(self) -> None:
        """Subscriptions, worker, timers and diagnostics gone; publishers kept."""
        self.input_stage.stop()
        if self.diagnostics is not None:
            self.diagnostics.destroy()
            self.diagnostics = None
        if self.state == "active":
            self.state = "inactive"

    def cleanup(self) -> None:
        """Publishers and the model released (device memory included)."""
        for pub in self.pubs.values():
            self.node.destroy_publisher(unwrapped(pub))
        self.pubs = {}
        with self.lock:
            self.frames.clear()
            self.teardown()
            close = getattr(self.model, "close", None)
            if callable(close):
                self.compute.call(close)
            self.model = None
            self.compute.call(_release_device_memory)
        self.state = "unconfigured"

    # -- parameters (the binding's check and apply) -------------------------------------
    def _check_update(self, changed: Mapping[str, Value], after: Mapping[str, Value]) -> list[str]:
        """On-set: constraints between parameters, then the model's own checks."""
        reasons = self.cross_reasons(after)
        model_changes = {k: v for k, v in changed.items() if k in self.model_params}
        if not reasons and model_changes and self.model is not None:
            try:
                self.frames.trial(self.model, model_changes)
            except DepthRosError as exc:
                reasons.append(str(exc))
        return reasons

    def _apply_update(self, changed: Mapping[str, Value]) -> None:
        """Post-set: the accepted values take effect (between two frames)."""
        tolerance = changed.get("approximate_sync_tolerance_seconds")
        if tolerance is not None:
            self.input_stage.set_tolerance(float(tolerance))
        model_changes = {k: v for k, v in changed.items() if k in self.model_params}
        options = any(self.is_option(n) for n in changed)
        if self.model is None or not (model_changes or options):
            return
        try:
            self.frames.change(self.model, model_changes, options)
        except DepthRosError as exc:  # validated in on-set: not expected
            self.log.warn(f"apply:{exc}", f"parameter update not applied: {exc}")

    # -- data path ---------------------------------------------------------------------
    def wanted(self, *names: str) -> bool:
        """Whether any of these publishers (default: all) has a subscriber."""
        pubs = [self.pubs[n] for n in names] if names else list(self.pubs.values())
        return any(p.get_subscription_count() > 0 for p in pubs)

    def _process(self, item: tuple[float, list[Any]]) -> None:
        received, msgs = item
        if self.model is None or not self.pubs or not self.wanted():
            return  # lazy: nobody listens, nothing computed
        t0 = time.perf_counter()
        try:
            with self.lock:
                self.frames.run_pending(self.model)
                stages = self.handle(msgs)
        except DepthRosError as exc:
            self.log.error(str(exc), f"dropping frame: {exc}")
            return
        except Exception as exc:  # a bug must not kill the worker thread for good
            if self.node.context.ok():  # (at shutdown, publishing fails: nothing to say)
                self.log.error(repr(exc), f"unexpected error, dropping frame: {exc!r}")
            return
        self.stats.record(received, t0, stages)

    def _diagnose(self) -> tuple[int, str, dict[str, str]]:
        """Level, message and figures for /diagnostics (nodes refine the level)."""
        values = diagnostics.node_values(
            self.params, self.input_stage, self.stats, self.log, self.state
        )
        values.update(self.extra_diagnostics())
        level, message = diagnostics.node_status(self.state, self.input_stage, self.stats, self.log)
        return level, message, values


def _release_device_memory() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
