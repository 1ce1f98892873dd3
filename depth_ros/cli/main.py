"""``depth-ros``: one command, several subcommands.

Adding a subcommand: one module in this package with ``register(subparsers)`` that adds
a parser whose default ``func`` takes the parsed namespace and returns an exit code, and
its name in ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from depth_ros import __version__
from depth_ros.core.errors import DepthRosError

COMMANDS = ("demo", "predict", "bench", "bag", "export", "eval", "params")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="depth-ros", description="Depth from monocular and stereo cameras, with ROS 2."
    )
    parser.add_argument("--version", action="version", version=f"depth-ros {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"depth_ros.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"depth_ros.cli.{name}":
                continue  # subcommand not part of this build
            raise
        module.register(sub)
    return parser


def _show_calibration_warnings(command: str) -> Any:
    """Calibration warnings as one line each, ``depth-ros CMD: warning: ...`` (not
    Python's file:line format); other warnings as usual. Returns the previous hook."""
    import warnings

    from depth_ros.core.calibration import CalibrationWarning

    default = warnings.showwarning

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        if issubclass(category, CalibrationWarning):
            print(f"depth-ros {command}: warning: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    warnings.showwarning = show
    return default


def main(argv: Sequence[str] | None = None) -> int:
    import warnings

    args = build_parser().parse_args(argv)
    previous = _show_calibration_warnings(args.command)
    try:
        return int(args.func(args) or 0)
    except DepthRosError as exc:
        print(f"depth-ros {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        warnings.showwarning = previous


if __name__ == "__main__":
    sys.exit(main())
