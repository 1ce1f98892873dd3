"""``depth-ros bench load``: drive a node faster than it can process and check that it
keeps up by dropping stale frames (newest-frame policy).

The node runs in its own process (as ``ros2 run`` would); this process publishes the
demo frames at ``--rate`` Hz with the current time as stamp, receives the node's outputs,
and reads the node's own figures from /diagnostics (stereo: the xyzrgb cloud is subscribed too,
as rviz would). Reported: frames sent, outputs
received, frames the node dropped, latency stamp → output received (p50/p95/max), the
node's processing time, the bound ``2 x processing + input period`` with whether p95
meets it, and the node's resident memory (VmRSS) after warm-up and at the end.
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from depth_ros.cli.bench import report

NODES = ("stereo_depth", "mono_depth")


def register(sub: Any) -> None:
    """Add ``bench load`` (a node fed faster than it keeps up) to the bench sub-commands."""
    p = sub.add_parser("load", help="newest-frame behaviour of a node under fast input")
    p.add_argument("--node", choices=NODES, default="stereo_depth")
    p.add_argument("--rate", type=float, default=30.0, help="input frames per second")
    p.add_argument("--seconds", type=float, default=20.0, help="measured duration")
    p.add_argument("--model", default="", help="model ID (default: the node's default)")
    p.add_argument(
        "--params",
        nargs="*",
        default=[],
        metavar="K=V",
        help="extra node parameters, e.g. disparity_range=128 weights=/path",
    )
    p.add_argument(
        "--warmup",
        type=float,
        default=60.0,
        help="longest wait for the node's first output, seconds",
    )
    p.add_argument("--log", default="", help="write the node's log to this file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def parse_value(text: str) -> object:
    """``k=v`` values as ROS would read them: bool, int, float, else string."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_params(items: list[str]) -> dict[str, object]:
    """``K=V`` items as a parameter mapping, values typed by :func:`parse_value`; exits on a
    malformed item."""
    params: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--params expects K=V, got {item!r}")
        params[key] = parse_value(value)
    return params


def rss_kib(pid: int) -> int:
    """VmRSS of a process in KiB (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, linearly interpolated; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def run(args: argparse.Namespace) -> int:
    """``bench load``: measure the node and print its figures; exit status 0."""
    figures = measure(
        args.node,
        args.rate,
        args.seconds,
        args.model,
        parse_params(args.params),
        warmup=args.warmup,
        log=Path(args.log) if args.log else None,
    )
    report(
        figures,
        args.json,
        f"bench load: {args.node} ({figures['model']}) at {args.rate:g} Hz for {args.seconds:g} s",
    )
    return 0 if figures["ok"] else 1


def measure(
    node_name: str,
    rate: float,
    seconds: float,
    model: str = "",
    params: dict[str, object] | None = None,
    warmup: float = 60.0,
    log: Path | None = None,
    progress: Any = None,
    settle: float | None = None,
) -> dict[str, Any]:
    """Run the load test: start the node, wait for its first output, drive it for
    ``settle`` s (default min(10, seconds / 6)) unmeasured, then ``seconds`` measured.
    ``progress(elapsed_s, figures_so_far)`` is called about every 10 s when given."""
    from depth_ros.runtime import local_dds_env

    local_dds_env()
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image, PointCloud2

    from depth_ros import processes
    from depth_ros.core.eval.samples import load_sample
    from depth_ros.core.messages import stamp_to_ns
    from depth_ros.nodes.convert import camera_info_msg, numpy_to_image
    from depth_ros.nodes.qos import qos_profile

    node_params: dict[str, object] = {"diagnostics_period": 0.5, **(params or {})}
    if model:
        node_params["model"] = model
    own_log = log is None
    log_path = log or Path(tempfile.mkstemp(prefix=f"{node_name}_", suffix=".log")[1])
    # a namespace of its own: other nodes on the same domain do not mix in
    ns = f"/bench_load_{os.getpid()}"
    proc = processes.start(node_name, processes.ros_args(node_params, namespace=ns), log=log_path)
    rclpy.init()
    node = rclpy.create_node(f"bench_load_{os.getpid()}")
    try:
        sample = load_sample("motorcycle")
        qos_in = qos_profile("sensor_data", 5)
        qos_out = qos_profile("reliable", 10)
        stamp = node.get_clock().now().to_msg()
        from std_msgs.msg import Header

        header = Header(stamp=stamp, frame_id=sample.left_camera.frame_id)
        # messages built once; only their stamps change (publishing cost stays small)
        if node_name == "stereo_depth":
            frames = [
                ("left/image_rect", numpy_to_image(sample.left, "rgb8", header)),
                ("left/camera_info", camera_info_msg(sample.left_camera, header)),
                ("right/image_rect", numpy_to_image(sample.right, "rgb8", header)),
                ("right/camera_info", camera_info_msg(sample.right_camera, header)),
            ]
            outputs = ["depth"]
        else:
            frames = [
                ("image", numpy_to_image(sample.left, "rgb8", header)),
                ("camera_info", camera_info_msg(sample.left_camera, header)),
            ]
            outputs = ["depth", "depth/relative"]
        pubs = [node.create_publisher(type(m), f"{ns}/{topic}", qos_in) for topic, m in frames]
        arrivals: list[tuple[int, int]] = []  # (stamp ns, receive ns) of each output

        def on_output(msg: Any) -> None:
            arrivals.append((stamp_to_ns(msg), time.time_ns()))

        outputs = [f"{ns}/{t}" for t in outputs]
        subs = [node.create_subscription(Image, t, on_output, qos_out) for t in outputs]
        clouds: list[int] = []  # stamps of the point clouds received (as rviz would take them)
        if node_name == "stereo_depth":
            subs.append(
                node.create_subscription(
                    PointCloud2, f"{ns}/points", lambda m: clouds.append(stamp_to_ns(m)), qos_out
                )
            )
        diags: list[tuple[float, dict[str, str], int, str]] = []

        def on_diag(msg: DiagnosticArray) -> None:
            for status in msg.status:
                if status.name.startswith(f"{ns}/{node_name}:"):
                    values = {kv.key: kv.value for kv in status.values}
                    diags.append((time.monotonic(), values, status.level[0], status.message))

        node.create_subscription(DiagnosticArray, "/diagnostics", on_diag, 10)

        def spin(until: float) -> None:
            while True:
                left = until - time.monotonic()
                if left <= 0:
                    break
                rclpy.spin_once(node, timeout_sec=min(left, 0.05))

        def publish() -> None:
            now = node.get_clock().now().to_msg()
            for pub, (_, msg) in zip(pubs, frames, strict=True):
                msg.header.stamp = now
                pub.publish(msg)

        t_up = time.monotonic()
        deadline = t_up + warmup
        while time.monotonic() < deadline and not (
            all(p.get_subscription_count() > 0 for p in pubs)
            and any(node.count_publishers(node.resolve_topic_name(t)) for t in outputs)
        ):
            if proc.poll() is not None:
                raise RuntimeError(f"{node_name} exited: {_tail(log_path)}")
            spin(time.monotonic() + 0.1)
        spin(time.monotonic() + 0.5)
        # warm-up: one frame at a time until outputs come
        while time.monotonic() < deadline and not arrivals:
            if proc.poll() is not None:
                raise RuntimeError(f"{node_name} exited: {_tail(log_path)}")
            publish()
            spin(time.monotonic() + 1.0)
        if not arrivals:
            raise RuntimeError(
                f"{node_name} produced no output within {warmup:.0f} s: " + _tail(log_path)
            )
        spin(time.monotonic() + 1.5)  # let the diagnostics catch up
        startup_s = time.monotonic() - t_up
        period = 1.0 / rate

        def drive(duration: float, tick: Any = None) -> set[int]:
            """Publish at ``rate`` for ``duration`` s; ``tick(elapsed, sent)`` every 10 s."""
            sent: set[int] = set()
            t0 = time.monotonic()
            next_pub, next_tick, end = t0, t0 + 10.0, t0 + duration
            while (now := time.monotonic()) < end:
                if now >= next_pub:
                    publish()
                    sent.add(stamp_to_ns(frames[0][1]))
                    next_pub += period
                    if next_pub < now - period:  # we fell behind ourselves: no burst
                        next_pub = now + period
                if now >= next_tick:
                    if tick is not None:
                        tick(now - t0, sent)
                    next_tick += 10.0
                spin(min(next_pub, end))
            return sent

        # settle under load (allocator pools, DDS buffers) before the baseline is taken
        drive(settle if settle is not None else min(10.0, seconds / 6.0))
        spin(time.monotonic() + 1.0)
        dropped0 = int(diags[-1][1].get("dropped_frames", 0)) if diags else 0
        rss_start = rss_kib(proc.pid)
        rss_samples = [rss_start]
        arrivals.clear()
        clouds.clear()
        n_diag0 = len(diags)

        def figures_at(elapsed: float, sent: set[int]) -> dict[str, Any]:
            return _figures(
                node_name,
                node_params,
                rate,
                sent,
                arrivals,
                diags[n_diag0:],
                dropped0,
                rss_start,
                rss_samples,
                elapsed,
                startup_s,
            )

        def tick(elapsed: float, sent: set[int]) -> None:
            rss_samples.append(rss_kib(proc.pid))
            if progress is not None:
                progress(elapsed, figures_at(elapsed, sent))

        sent = drive(seconds, tick)
        spin(time.monotonic() + 3.0)  # the last frames in flight, a fresh diagnostic
        rss_samples.append(rss_kib(proc.pid))
        figures = figures_at(seconds, sent)
        figures["clouds_received"] = len(clouds)
        for sub in subs:
            node.destroy_subscription(sub)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        code = _stop(proc)
    figures["node_exit_code"] = code
    # the bare computation on the same machine, right after (node stopped): what the
    # node's output rate is to be compared with
    figures.update(bare_rate(node_name, node_params, min(10.0, max(seconds / 3.0, 2.0))))
    if figures.get("bare_fps"):  # the node can at best keep up with min(camera, bare)
        figures["output_vs_bare"] = figures["output_rate_hz"] / min(figures["bare_fps"], rate)
    if own_log:
        log_path.unlink(missing_ok=True)
    else:
        figures["log"] = str(log_path)
    return figures


def _figures(
    node_name: str,
    params: dict[str, object],
    rate: float,
    sent: set[int],
    arrivals: list[tuple[int, int]],
    diags: list[tuple[float, dict[str, str], int, str]],
    dropped0: int,
    rss_start: int,
    rss_samples: list[int],
    seconds: float,
    startup_s: float,
) -> dict[str, Any]:
    latencies = [(rx - st) / 1e6 for st, rx in arrivals if st in sent]
    times = sorted(rx for st, rx in arrivals if st in sent)
    # saturated node: the gap between outputs is one frame's processing (+ publishing)
    intervals = [(b - a) / 1e6 for a, b in itertools.pairwise(times)]
    processed = len({st for st, _ in arrivals if st in sent})
    proc_ms = [
        float(v["processing_ms"])
        for _, v, _, _ in diags
        if float(v.get("processing_ms", 0) or 0) > 0
    ]
    last = diags[-1][1] if diags else {}
    dropped = int(last.get("dropped_frames", dropped0)) - dropped0
    processing = sum(proc_ms) / len(proc_ms) if proc_ms else float("nan")
    bound = 2.0 * processing + 1000.0 / rate
    p95 = percentile(latencies, 95)
    rss_end = rss_samples[-1]
    growth = (rss_end - rss_start) / rss_start * 100.0 if rss_start else float("nan")
    levels = [lvl for _, _, lvl, _ in diags]
    return {
        "node": node_name,
        "model": str(params.get("model", "default")),
        "rate_hz": rate,
        "seconds": round(seconds, 1),
        "startup_s": round(startup_s, 1),
        "sent": len(sent),
        "processed": processed,
        "dropped_by_node": dropped,
        "lost_or_unsynced": len(sent) - processed - dropped,
        "output_rate_hz": processed / seconds if seconds else float("nan"),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": p95,
        "latency_max_ms": max(latencies) if latencies else float("nan"),
        "processing_ms": processing,
        "processing_max_ms": max(proc_ms) if proc_ms else float("nan"),
        "output_interval_p50_ms": percentile(intervals, 50),
        "output_interval_p95_ms": percentile(intervals, 95),
        "node_latency_ms": float(last.get("latency_ms", "nan")),
        "bound_ms": bound,
        "p95_within_bound": bool(p95 <= bound),
        "rss_start_mib": rss_start / 1024.0,
        "rss_end_mib": rss_end / 1024.0,
        "rss_max_mib": max(rss_samples) / 1024.0,
        "rss_growth_percent": growth,
        "diagnostics_received": len(diags),
        # where the time goes (medians over the node's last 50 frames, handle()'s stages)
        "stages_ms": {
            k[:-3]: float(v)
            for k, v in last.items()
            if k.endswith("_ms") and k not in ("processing_ms", "latency_ms")
        },
        "diagnostic_levels": {str(lvl): levels.count(lvl) for lvl in sorted(set(levels))},
        "last_diagnostic": diags[-1][3] if diags else "",
        "ok": bool(processed > 0 and p95 <= bound),
    }


def bare_rate(node_name: str, params: dict[str, object], seconds: float) -> dict[str, Any]:
    """``bare_fps``: frames per second of the node's computation without ROS (the core
    pipeline on the same Motorcycle pair, same model parameters and outputs: disparity,
    depth and the cloud the node makes), and ``output_vs_bare``. Stereo only (None
    otherwise)."""
    if node_name != "stereo_depth":
        return {"bare_fps": None}
    from depth_ros.core.eval.samples import load_sample
    from depth_ros.core.models import ModelConfig, build_stereo, get_model
    from depth_ros.core.stereo import StereoOptions, StereoPipeline

    model_id = str(params.get("model") or "sgbm")
    names = {p.name for p in get_model(model_id).params}
    model = build_stereo(
        model_id,
        ModelConfig(
            weights=Path(str(params["weights"])) if params.get("weights") else None,
            params={k: v for k, v in params.items() if k in names},  # type: ignore[misc]
        ),
    )
    options = StereoOptions(
        points=str(params.get("points", "xyzrgb")),
        decimation=int(str(params.get("points_decimation", 1))),
        rectify=bool(params.get("rectify", False)),
    )
    pipe = StereoPipeline(model, options)
    s = load_sample("motorcycle")
    pipe.process(s.left, s.right, s.left_camera, s.right_camera)  # warm-up
    n, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds or n < 3:
        pipe.process(s.left, s.right, s.left_camera, s.right_camera)
        n += 1
    return {"bare_fps": n / elapsed, "bare_frames": n}


def _tail(path: Path, chars: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return ""


def _stop(proc: subprocess.Popen[bytes]) -> int:
    from depth_ros import processes

    return processes.stop(proc)
