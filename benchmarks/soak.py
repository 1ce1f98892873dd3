"""Soak test: stereo_depth (SGBM by default) fed at 30 Hz for 10 minutes.

Checks the newest-frame policy over a long run: resident memory of the node process
grows by at most 5 % (after warm-up → end) and p95 latency stamp → output stays within
``2 x processing + input period``. Prints a progress line every 10 s and the figures at
the end (``--json PATH`` also writes them); exits 1 when a check fails.

    python benchmarks/soak.py [--seconds 600] [--rate 30] [--model sgbm] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from depth_ros.cli.bench import report
from depth_ros.cli.bench_load import measure, parse_params

MAX_GROWTH_PERCENT = 5.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--node", default="stereo_depth", choices=("stereo_depth", "mono_depth"))
    p.add_argument("--seconds", type=float, default=600.0)
    p.add_argument("--rate", type=float, default=30.0)
    p.add_argument("--model", default="sgbm")
    p.add_argument("--params", nargs="*", default=[], metavar="K=V")
    p.add_argument("--log", default="", help="keep the node's log in this file")
    p.add_argument("--json", default="", help="also write the figures to this file")
    args = p.parse_args(argv)

    def progress(elapsed: float, f: dict[str, Any]) -> None:
        print(
            f"[{elapsed:5.0f} s] sent {f['sent']} processed {f['processed']} "
            f"dropped {f['dropped_by_node']} p95 {f['latency_p95_ms']:.0f} ms "
            f"(bound {f['bound_ms']:.0f}) rss {f['rss_end_mib']:.1f} MiB "
            f"({f['rss_growth_percent']:+.1f} %)",
            flush=True,
        )

    from pathlib import Path

    figures = measure(
        args.node,
        args.rate,
        args.seconds,
        args.model,
        parse_params(args.params),
        log=Path(args.log) if args.log else None,
        progress=progress,
    )
    figures["rss_within_5_percent"] = bool(figures["rss_growth_percent"] <= MAX_GROWTH_PERCENT)
    figures["ok"] = bool(figures["ok"] and figures["rss_within_5_percent"])
    report(
        figures,
        False,
        f"soak: {args.node} ({args.model}) at {args.rate:g} Hz for {args.seconds:g} s",
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
