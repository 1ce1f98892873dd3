"""``depth-ros params NODE [--model ID] [--scale-source S]``: a node's parameters, with
descriptions, ranges and defaults, from the same schema the node declares; ``--topics``:
its topics, from the node catalogue the node creates them from."""

from __future__ import annotations

import argparse
from typing import Any

from depth_ros.core.catalogue import NODES, NodeInfo, Topic, markdown_table, node_info
from depth_ros.core.errors import ConfigError
from depth_ros.core.params import ParamSpec


def register(sub: Any) -> None:
    """Add the ``params`` command (a node's parameter table)."""
    p = sub.add_parser("params", help="list a node's parameters (ranges, defaults)")
    p.add_argument("node", choices=tuple(NODES))
    p.add_argument(
        "--topics",
        action="store_true",
        help="list the node's topics instead (with --markdown: the README's table of all nodes)",
    )
    p.add_argument("--model", help="include this model's own parameters (default: the node's)")
    p.add_argument("--scale-source", default="none", help="include this scale source's")
    p.add_argument("--markdown", action="store_true", help="print a markdown table")
    p.set_defaults(func=run)


def node_params(node: str, model: str | None, scale_source: str = "none") -> dict[str, ParamSpec]:
    """The parameters ``node`` declares with ``model`` (default: the node's) and
    ``scale_source``."""
    from depth_ros.core import profiles

    model = model or node_info(node).default_model  # ("" for register_depth)
    specs = profiles.node_params(node, model, {"scale_source": scale_source})
    if specs is None:
        raise ConfigError(f"{node} has no parameter schema")
    return specs


def _topic_line(info: NodeInfo, direction: str, topic: Topic) -> str:
    when = "; ".join(info.flags[f] for f in topic.when)
    notes = ", ".join(x for x in (topic.doc, when, "on demand" * topic.on_demand) if x)
    return f"{direction:4s} {topic.name:30s} {topic.type:34s} {notes}"


def print_topics(node: str, markdown: bool) -> None:
    """The node's topics (``markdown``: the README's node table, every node)."""
    if markdown:
        print(markdown_table(), end="")
        return
    info = NODES[node]
    for topic in info.subscribes:
        print(_topic_line(info, "sub", topic))
    for topic in info.publishes:
        print(_topic_line(info, "pub", topic))


def run(args: argparse.Namespace) -> int:
    """``params``: print the node's parameters, as text or a markdown table."""
    if args.topics:
        print_topics(args.node, args.markdown)
        return 0
    specs = node_params(args.node, args.model, args.scale_source)
    if args.markdown:
        print("| parameter | type | default | range / choices | description |")
        print("|---|---|---|---|---|")
    for spec in specs.values():
        if spec.choices:
            rng = " \\| ".join(spec.choices) if args.markdown else "|".join(spec.choices)
        elif spec.min is not None or spec.max is not None:
            rng = f"[{spec.min:g}, {spec.max:g}]" + (f" step {spec.step:g}" if spec.step else "")
            rng += " odd" if spec.odd else ""
        else:
            rng = ""
        ro = " (read-only)" if spec.read_only else ""
        if args.markdown:
            print(
                f"| `{spec.name}` | {spec.type.__name__} | `{spec.default!r}` | {rng} | "
                f"{spec.description}{ro} |"
            )
        else:
            print(
                f"{spec.name:40s} {spec.type.__name__:5s} {spec.default!r:>14}  {rng:24s} "
                f"{spec.description}{ro}"
            )
    return 0
