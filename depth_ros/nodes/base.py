"""The skeleton every depth node shares, so that node files hold only what differs.

A :class:`DepthComponent` owns parameters (declared from the core schema, validated on
every update), the model, publishers, synchronised subscriptions, a newest-frame worker
thread and diagnostics. It runs inside a plain ``rclpy`` node (configured and activated
at start-up) or a managed lifecycle node, as ros2/demos' lifecycle talker: ``configure``
loads the model, validates parameters and creates the (lifecycle) publishers;
``activate`` creates subscriptions, the worker and the timers; ``deactivate`` removes
those (nothing is published while inactive); ``cleanup`` releases the publishers and the
model, its device memory included.

Publishers and subscriptions take ``qos_overrides.<topic>.<publisher|subscription>.*``
parameters (rclpy's QoSOverridingOptions, as image_pipeline), on top of the
``input_qos``/``output_qos`` presets. Lazy subscriptions follow the outputs' matched
events; the node's own housekeeping (lazy check, diagnostics, the /clock watchdog) runs on
the steady clock, so it works with ``use_sim_time`` before /clock arrives.
"""

from __future__ import annotations

import abc
import copy
import statistics
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rclpy.clock import Clock, JumpThreshold
from rclpy.clock_type import ClockType
from rclpy.duration import Duration
from rclpy.event_handler import PublisherEventCallbacks
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos_overriding_options import QoSOverridingOptions

from depth_ros.core.errors import DepthRosError
from depth_ros.core.models import InputKind, ModelConfig, ModelSpec, build_model, get_model
from depth_ros.core.params import ParamSpec, Value
from depth_ros.core.sync import TimeSynchronizer
from depth_ros.nodes.convert import stamp_ns
from depth_ros.nodes.diagnostics import DiagnosticsPublisher, RateMeter, rss_bytes
from depth_ros.nodes.log_limit import RateLimitedLog
from depth_ros.nodes.parameters import declare, invalid_reasons, result
from depth_ros.nodes.publishers import size_checked, unwrapped
from depth_ros.nodes.qos import qos_profile
from depth_ros.nodes.worker import Worker


class DepthComponent(abc.ABC):
    """Subclasses set ``name``, ``input_kind``, ``default_model`` and implement
    :meth:`schema`, :meth:`inputs`, :meth:`create_publishers`, :meth:`handle`."""

    name: str = "depth"
    input_kind: InputKind = InputKind.STEREO
    default_model: str = "sgbm"
    option_params: frozenset[str] = frozenset()  # changes re-run :meth:`apply_options`
    # read from ``self.params`` each time they are used (no re-apply needed); together
    # with ``option_params`` and the model's parameters, every parameter that is not
    # read-only takes effect at runtime (checked in test/nodes/test_reliability.py)
    live_params: frozenset[str] = frozenset(
        ("approximate_sync_tolerance_seconds", "max_image_pixels")
    )

    def __init__(self, node: Node) -> None:
        self.node = node
        self.log = RateLimitedLog(node)
        self.lock = threading.Lock()
        self.spec: ModelSpec | None = None
        self.model: Any = None
        self.specs: dict[str, ParamSpec] = {}
        self.params: dict[str, Value] = {}
        self.model_params: set[str] = set()
        self.subs: list[Any] = []
        self.pubs: dict[str, Any] = {}
        self.worker: Worker | None = None
        self.sync: TimeSynchronizer[Any] | None = None
        self.in_rate = RateMeter()
        self.out_rate = RateMeter()
        self.proc_ms: deque[float] = deque(maxlen=50)
        self.latency_ms: deque[float] = deque(maxlen=50)
        self.stage_ms: dict[str, deque[float]] = {}  # per-stage times handle() reports
        self._lazy_timer: Any = None
        self._in_qos: Any = None
        self.last_input: list[float] = []
        self.diagnostics: DiagnosticsPublisher | None = None
        self.state = "unconfigured"
        # parameter updates made while a forward pass runs, applied before the next frame
        self._pending_lock = threading.Lock()
        self._pending_model: dict[str, Value] = {}
        self._shadow: Any = None  # the model with the pending updates (validation only)
        self._pending_options = False
        self._pending_jump = False  # time went backwards: on_time_jump() before next frame
        self._startup_invalid: dict[str, str] = {}  # invalid start-up values: name → reason
        self._jump_handle: Any = None
        self._declaring = False
        self._activated_at = 0.0  # steady time of activate(), for the /clock watchdog
        self._clock_warned = False
        node.add_on_set_parameters_callback(self._on_set)

    # -- what subclasses provide ------------------------------------------------------
    @abc.abstractmethod
    def schema(self, model_params: tuple[ParamSpec, ...]) -> dict[str, ParamSpec]:
        """Every parameter of the node for a model with these parameters."""

    @abc.abstractmethod
    def inputs(self) -> Sequence[tuple[str, type]]:
        """Synchronised input topics and types."""

    @abc.abstractmethod
    def create_publishers(self, qos: Any) -> dict[str, Any]: ...

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
        invalid = self._startup_invalid
        model_spec = self.schema(())["model"]
        model_spec = ParamSpec(**{**model_spec.__dict__, "default": self.default_model})
        model_id = str(declare(self.node, {"model": model_spec}, invalid)["model"])
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
        self.specs = {**schema, "model": model_spec}
        self._declaring = True
        try:
            self.params = declare(self.node, self.specs, invalid)
        finally:
            self._declaring = False
        self.model_params = {s.name for s in model_specs}
        if spec is None:
            return False
        reasons = list(invalid.values()) + self.cross_reasons(self.params)
        if reasons:
            self.log.error(
                "param", f"cannot start {self.name}: invalid parameters: " + "; ".join(reasons)
            )
            return False
        self.spec = spec
        weights = str(self.params.get("weights", "")) or None
        input_size = int(self.params.get("input_size", 0) or 0) or None
        backend = str(self.params.get("backend", "auto"))
        try:
            self.model = build_model(
                model_id,
                ModelConfig(
                    weights=None if weights is None else Path(weights),
                    # ModelConfig: None = chosen from the weights file ("auto" is not
                    # understood by every model: psmnet then built torch without its net)
                    backend=None if backend == "auto" else backend,
                    device=str(self.params.get("device", "cpu")),
                    input_size=input_size,
                    params={k: self.params[k] for k in self.model_params},
                ),
            )
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
        out_qos = qos_profile(str(self.params["output_qos"]), 1)
        self.pubs = size_checked(
            self.create_publishers(out_qos), str(self.params["output_qos"]), self.log
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
        if self.state == "active" and bool(self.params.get("lazy", False)):
            self._update_subscriptions()

    def _housekeeping(self) -> None:
        """Steady-clock timer: the lazy check (a fallback to the matched events) and one
        warning when use_sim_time is on and no /clock has arrived."""
        if bool(self.params.get("lazy", False)):
            self._update_subscriptions()
        if (
            not self._clock_warned
            and self.node.get_parameter("use_sim_time").value
            and time.monotonic() - self._activated_at > CLOCK_WAIT_S
            and self.node.get_clock().now().nanoseconds == 0
        ):
            self._clock_warned = True
            self.log.warn(
                "clock",
                (
                    f"use_sim_time is true but no /clock has arrived in {CLOCK_WAIT_S:g} s: "
                    "ROS time stands at 0. Play bags with `ros2 bag play --clock`, run the "
                    "simulator's clock bridge, or set use_sim_time:=false"
                ),
            )

    def activate(self) -> None:
        in_qos = qos_profile(str(self.params["input_qos"]), int(self.params["queue_size"]))
        inputs = self.inputs()
        self.last_input = [0.0] * len(inputs)
        self.sync = TimeSynchronizer(
            len(inputs),
            queue_size=int(self.params["queue_size"]),
            approximate=bool(self.params.get("approximate_sync", False)),
            tolerance_ns=int(
                float(self.params.get("approximate_sync_tolerance_seconds", 0.0)) * 1e9
            ),
        )
        self.worker = Worker(self._process, name=f"{self.name}_worker")
        self._in_qos = in_qos
        if self._jump_handle is None:  # ROS time reset (use_sim_time, simulator restart)
            self._jump_handle = self.node.get_clock().create_jump_callback(
                JumpThreshold(
                    min_forward=None, min_backward=Duration(nanoseconds=-1), on_clock_change=False
                ),
                post_callback=self._on_clock_jump,
            )
        # as image_pipeline: subscribe to the inputs only while someone listens (matched
        # events, checked on the steady clock too); and the /clock watchdog
        self._activated_at = time.monotonic()
        self._lazy_timer = self.node.create_timer(
            0.5, self._housekeeping, clock=Clock(clock_type=ClockType.STEADY_TIME)
        )
        self.state = "active"
        self._update_subscriptions()
        self.start_diagnostics()
        self.state = "active"

    def _update_subscriptions(self) -> None:
        listening = not bool(self.params.get("lazy", False)) or self.wanted()
        if listening and not self.subs:
            self.subs = [
                self.node.create_subscription(
                    t,
                    topic,
                    self._input_callback(i),
                    copy.copy(self._in_qos),
                    qos_overriding_options=QoSOverridingOptions.with_default_policies(),
                )
                for i, (topic, t) in enumerate(self.inputs())
            ] + self.extra_subscriptions(self._in_qos)
        elif not listening and self.subs:
            for sub in self.subs:
                self.node.destroy_subscription(sub)
            self.subs = []

    def start_diagnostics(self) -> None:
        """Publish on /diagnostics (also while a failed configure keeps the node idle)."""
        if self.diagnostics is None:
            self.diagnostics = DiagnosticsPublisher(
                self.node, float(self.params.get("diagnostics_period", 1.0)), self._diagnose
            )

    def deactivate(self) -> None:
        if self._lazy_timer is not None:
            self.node.destroy_timer(self._lazy_timer)
            self._lazy_timer = None
        for sub in self.subs:
            self.node.destroy_subscription(sub)
        self.subs = []
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        if self.diagnostics is not None:
            self.diagnostics.destroy()
            self.diagnostics = None
        if self._jump_handle is not None:
            self._jump_handle.unregister()
            self._jump_handle = None
        if self.state == "active":
            self.state = "inactive"

    def cleanup(self) -> None:
        for pub in self.pubs.values():
            self.node.destroy_publisher(unwrapped(pub))
        self.pubs = {}
        with self.lock:
            with self._pending_lock:  # the model goes: what was pending for it too
                self._pending_model, self._shadow, self._pending_options = {}, None, False
            self.teardown()
            close = getattr(self.model, "close", None)
            if callable(close):
                close()
            self.model = None
            _release_device_memory()
        self.state = "unconfigured"

    # -- parameters --------------------------------------------------------------------
    def _on_set(self, params: list[Parameter[Any]]) -> Any:
        if not self.specs:  # declaring: descriptors already check ranges
            return result([])
        if self._declaring:  # start-up values: configure reports them, in one line
            return result(invalid_reasons(self.specs, params))
        reasons = invalid_reasons(self.specs, params)
        changed = {p.name: p.value for p in params if p.name in self.specs}
        if not reasons:  # constraints between parameters, on the values after the update
            reasons = self.cross_reasons({**self.params, **changed})
        model_changes = {k: v for k, v in changed.items() if k in self.model_params}
        if not reasons and model_changes and self.model is not None:
            try:
                self._update_model(model_changes)
            except DepthRosError as exc:
                reasons.append(str(exc))
        if reasons:
            reason = "; ".join(reasons)  # one message per distinct rejection per period
            self.log.warn("param:" + reason, "rejected parameter update: " + reason)
            return result(reasons)
        self.params.update(changed)
        for name in changed:
            self._startup_invalid.pop(name, None)  # a valid value replaces a refused one
        tolerance = changed.get("approximate_sync_tolerance_seconds")
        if tolerance is not None and self.sync is not None:
            self.sync.tolerance_ns = int(float(tolerance) * 1e9)
        if any(self.is_option(n) for n in changed) and self.model is not None:
            if not self.lock.acquire(timeout=LOCK_WAIT_S):
                with self._pending_lock:  # busy: applied before the next frame
                    self._pending_options = True
                return result([])
            try:
                self._apply_pending()
                self.apply_options()
            except DepthRosError as exc:
                return result([str(exc)])
            finally:
                self.lock.release()
        return result([])

    def set_parameters_service(self, request: Any, response: Any) -> Any:
        """``<node>/set_parameters`` with the parameters of one request applied together:
        those that are each valid are set in one atomic update, so that constraints
        between them (P1 < P2, min_depth < max_depth) are checked on the values after the
        whole request, never half-applied. A parameter that is invalid on its own (unknown,
        read-only, out of range) is rejected alone, as ROS does."""
        node = self.node
        results: list[Any] = [None] * len(request.parameters)
        batch: list[tuple[int, Parameter[Any]]] = []
        for i, msg in enumerate(request.parameters):
            param = Parameter.from_parameter_msg(msg)
            reason = None
            if not node.has_parameter(param.name):
                reason = f"parameter {param.name!r} is not declared"
            elif node.describe_parameter(param.name).read_only:
                reason = f"parameter {param.name!r} is read-only"
            elif param.name in self.specs:
                reason = self.specs[param.name].validate(param.value)
            if reason is None:
                batch.append((i, param))
                continue
            try:  # let rclpy give its own reason (and log it as usual)
                results[i] = node.set_parameters_atomically([param])
            except Exception:
                results[i] = result([reason])
            if results[i].successful:  # our check was stricter than rclpy's: keep ours
                results[i] = result([reason])
        if batch:
            together = node.set_parameters_atomically([p for _, p in batch])
            for i, _ in batch:
                results[i] = together
        response.results = results
        return response

    def _update_model(self, changes: dict[str, Value]) -> None:
        """Apply model parameters without waiting for a forward pass in progress (parameter
        services stay responsive): while the worker is busy, validate them on a shallow
        copy of the model (raises DepthRosError, nothing changes) and apply them to the
        live model before the next frame."""
        if self.lock.acquire(timeout=LOCK_WAIT_S):
            try:
                self._apply_pending()
                self.model.update(changes)
            finally:
                self.lock.release()
            return
        with self._pending_lock:
            shadow = copy.copy(self._shadow if self._shadow is not None else self.model)
            shadow.update(changes)
            self._shadow = shadow
            self._pending_model.update(changes)

    def _apply_pending(self) -> None:
        """With ``self.lock`` held: apply the updates made during the last forward pass."""
        with self._pending_lock:
            changes, self._pending_model, self._shadow = self._pending_model, {}, None
            options, self._pending_options = self._pending_options, False
            jump, self._pending_jump = self._pending_jump, False
        if jump and self.model is not None:
            self.on_time_jump()
        if changes and self.model is not None:
            self.model.update(changes)  # validated on the shadow already
        if options and self.model is not None:
            self.apply_options()

    # -- data path ---------------------------------------------------------------------
    def _input_callback(self, index: int) -> Callable[[Any], None]:
        def callback(msg: Any) -> None:
            self.last_input[index] = time.monotonic()
            sync = self.sync
            if sync is None or self.worker is None:
                return
            jumps = sync.jumps
            matched = sync.add(index, stamp_ns(msg.header.stamp), msg)
            if sync.jumps != jumps:
                self._time_jumped(
                    f"input stamps jumped back by {sync.last_jump_ns / 1e9:.3f} s on "
                    f"{self.inputs()[index][0]} (bag loop or simulator reset?)"
                )
            if matched is not None:
                self.in_rate.tick()
                self.worker.submit((time.monotonic(), matched))

        return callback

    def _on_clock_jump(self, jump: Any) -> None:
        if jump.delta.nanoseconds < 0 and self.sync is not None:
            self.sync.reset()
            self._time_jumped(f"ROS time jumped back by {-jump.delta.nanoseconds / 1e9:.3f} s")

    def _time_jumped(self, what: str) -> None:
        """Logged once per jump (rate-limited): the synchroniser starts over."""
        self.log.warn("time jump", f"{what}: synchroniser cleared, carrying on")
        with self._pending_lock:  # applied by the worker before the next frame
            self._pending_jump = True

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
                self._apply_pending()
                stages = self.handle(msgs)
        except DepthRosError as exc:
            self.log.error(str(exc), f"dropping frame: {exc}")
            return
        except Exception as exc:  # a bug must not kill the worker thread for good
            if self.node.context.ok():  # (at shutdown, publishing fails: nothing to say)
                self.log.error(repr(exc), f"unexpected error, dropping frame: {exc!r}")
            return
        self.out_rate.tick()
        self.proc_ms.append((time.perf_counter() - t0) * 1e3)
        for stage, ms in (stages or {}).items():
            self.stage_ms.setdefault(stage, deque(maxlen=50)).append(ms)
        self.latency_ms.append((time.monotonic() - received) * 1e3)

    def _diagnose(self) -> tuple[int, str, dict[str, str]]:
        now = time.monotonic()
        values = {
            "model": str(self.params.get("model", "")),
            "backend": str(self.params.get("backend", "")),
            "device": str(self.params.get("device", "")),
            "input_rate_hz": f"{self.in_rate.rate():.2f}",
            "output_rate_hz": f"{self.out_rate.rate():.2f}",
            "processing_ms": f"{_median(self.proc_ms):.1f}",  # over the last 50 frames
            "latency_ms": f"{_median(self.latency_ms):.1f}",
            "dropped_frames": str(self.worker.slot.dropped if self.worker else 0),
            "errors": str(self.log.count),
            "state": self.state,
            "rss_mb": f"{rss_bytes() / 2**20:.0f}",
            **{f"{k}_ms": f"{_median(v):.1f}" for k, v in self.stage_ms.items()},
            **self.extra_diagnostics(),
        }
        if self.state == "error":
            return 2, self.log.last_error or "not configured", values
        if self.state == "active" and not self.subs:
            return 0, "idle: no subscriber to any output (lazy), inputs not subscribed", values
        inputs = self.inputs()
        stale = [inputs[i][0] for i, t in enumerate(self.last_input) if now - t > 5.0]
        if stale and len(stale) == len(inputs):
            return 1, "no input received for 5 s", values
        if stale:
            return 1, "no messages on " + ", ".join(stale), values
        if self.in_rate.rate() == 0.0:
            return 1, "inputs arrive but never synchronise (stamps differ?)", values
        if self.log.last_error and self.out_rate.rate() == 0.0:
            return 2, self.log.last_error, values
        if self.proc_ms and self.in_rate.rate() * _median(self.proc_ms) > 1000.0:
            return 1, "falling behind: input faster than processing (dropping frames)", values
        return 0, "ok", values


DEFAULT_MAX_PIXELS = 50_000_000
LOCK_WAIT_S = 0.1  # longest a parameter update waits for the worker before deferring
CLOCK_WAIT_S = 3.0  # with use_sim_time: warn when no /clock has come after this long


def _median(values: deque[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def _release_device_memory() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
