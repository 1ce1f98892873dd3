"""The process a depth node runs in: a plain node (configured and activated at start-up)
or a managed lifecycle node around a :class:`~depth_ros.nodes.base.DepthComponent`, the
entry point of the node executables, and a shutdown that is clean however many SIGINT or
SIGTERM arrive."""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any, NoReturn

import rclpy
import rclpy.executors
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from typing_extensions import override

from depth_ros.nodes.base import DepthComponent
from depth_ros.runtime import keep_heap


class PlainNode(Node):
    """A regular node: configured and activated at start-up."""

    def __init__(self, component: type[DepthComponent], **kwargs: Any) -> None:
        super().__init__(component.name, **kwargs)
        self.impl = component(self)
        self.impl.binding.serve_atomic_requests()  # one request, one atomic update
        if self.impl.configure():
            self.impl.activate()
        else:  # stay up, idle, and say why on /diagnostics (ERROR)
            self.impl.start_diagnostics()


class ManagedNode(LifecycleNode):
    """A lifecycle node driven by ``<node>/change_state``."""

    def __init__(self, component: type[DepthComponent], **kwargs: Any) -> None:
        super().__init__(component.name, **kwargs)
        self.impl = component(self)
        self.impl.binding.serve_atomic_requests()  # one request, one atomic update

    @override
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        return (
            TransitionCallbackReturn.SUCCESS
            if self.impl.configure()
            else TransitionCallbackReturn.FAILURE
        )

    @override
    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.impl.activate()
        return super().on_activate(state)

    @override
    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.impl.deactivate()
        return super().on_deactivate(state)

    @override
    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.impl.cleanup()
        return TransitionCallbackReturn.SUCCESS

    @override
    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.impl.deactivate()
        self.impl.cleanup()
        return TransitionCallbackReturn.SUCCESS


def run(
    component: type[DepthComponent], args: list[str] | None = None, lifecycle: bool = False
) -> NoReturn:
    """Entry point of a node executable (``ros2 run depth_ros <name>``); exits the process
    with status 0 once the node is shut down (by any number of SIGINT/SIGTERM)."""
    keep_heap()
    argv = list(sys.argv if args is None else args)
    if "--lifecycle" in argv:
        argv.remove("--lifecycle")
        lifecycle = True
    stop = install_stop_signals()
    rclpy.init(args=argv, signal_handler_options=SignalHandlerOptions.NO)
    install_stop_signals(stop)  # (again: whatever rclpy did to the handlers)
    node: Node = ManagedNode(component) if lifecycle else PlainNode(component)
    try:
        spin_until(node, stop)
    finally:
        node.impl.deactivate()  # type: ignore[attr-defined]
        node.destroy_node()
        # uninstalling would restore the default action: a late signal would kill us
        rclpy.try_shutdown(uninstall_handlers=False)
        # the interpreter's finalisation restores the default action of Python handlers
        # (and DDS teardown can take a while): a late signal would kill us with -SIGINT
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
    # Everything is released: skip the interpreter's finalisation, which with torch and
    # DDS loaded takes seconds (7 s measured on a loaded machine) after the node is gone,
    # long enough for ros2 launch to escalate to SIGTERM and SIGKILL.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def install_stop_signals(stop: threading.Event | None = None) -> threading.Event:
    """SIGINT and SIGTERM, any number of them and however close together (Ctrl-C under
    ``ros2 launch`` often delivers two), only set the returned event: the spin loop
    ends and the node shuts down once, cleanly, with no KeyboardInterrupt raised in the
    middle of a teardown (rclpy's own handlers are not installed)."""
    event = threading.Event() if stop is None else stop

    def handler(signum: int, frame: Any) -> None:
        event.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)
    return event


def spin_until(node: Node, stop: threading.Event, period: float = 0.1) -> None:
    """Spin ``node`` until ``stop`` is set or the context shuts down."""
    executor = rclpy.executors.SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while not stop.is_set() and node.context.ok():
            executor.spin_once(timeout_sec=period)
    except rclpy.executors.ExternalShutdownException:
        pass
    finally:
        executor.remove_node(node)
        executor.shutdown(timeout_sec=0)
