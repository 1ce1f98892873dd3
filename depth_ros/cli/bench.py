"""``depth-ros bench KIND``: measurements that compare side by side in one run.

Each kind is a module ``depth_ros.cli.bench_<kind>`` with ``register(subparsers)``;
adding one is one module and its name in ``KINDS``.
"""

from __future__ import annotations

import importlib
import json
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

KINDS = ("stereo", "mono", "load")


def register(sub: Any) -> None:
    p = sub.add_parser("bench", help="benchmarks: stereo, mono, load")
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND")
    for kind in KINDS:
        try:
            module = importlib.import_module(f"depth_ros.cli.bench_{kind}")
        except ModuleNotFoundError as exc:
            if exc.name == f"depth_ros.cli.bench_{kind}":
                continue
            raise
        module.register(kinds)


def median_ms(samples: Sequence[float]) -> float:
    return float(statistics.median(samples)) if samples else float("nan")


def report(figures: Mapping[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        print(json.dumps(figures, indent=2))
        return
    print(title)
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        text = f"{value:.2f}" if isinstance(value, float) else str(value)
        print(f"  {key:{width}s}  {text}")
