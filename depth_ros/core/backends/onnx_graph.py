"""Exact, load-time rewrites of ONNX graphs that ONNX Runtime does not do itself.

Graphs converted from TensorFlow (tf2onnx: HITNet's released graphs) keep TF's NHWC
layout around NCHW convolutions; where TF tiled a feature map along its channels and the
converter then moved the layout transpose after the ``Tile``, ONNX Runtime transposes the
tiled tensor (128 times the data in HITNet's level initialisation). Transposing before
tiling moves the same values: the result is bit for bit the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from depth_ros.core.errors import WeightsError

if TYPE_CHECKING:
    import onnx


def _perm(node: onnx.NodeProto) -> list[int] | None:
    for attr in node.attribute:
        if attr.name == "perm":
            return [int(p) for p in attr.ints]
    return None


def swap_tile_transpose(model: onnx.ModelProto) -> int:
    """Rewrite ``Transpose(Tile(x, r), perm)`` into ``Tile(Transpose(x, perm), r[perm])``
    in ``model`` (an ``onnx.ModelProto``, changed in place) wherever the repeats ``r``
    are a constant initializer and the Tile's output feeds only that Transpose (which must
    name its ``perm``). Returns how many pairs were swapped. Output values are unchanged."""
    from onnx import numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    graph_outputs = {o.name for o in graph.output}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    producer = {out: i for i, node in enumerate(graph.node) for out in node.output}
    nodes = list(graph.node)
    swapped = 0
    for t_index, t in enumerate(list(nodes)):
        if t.op_type != "Transpose" or t.input[0] not in producer:
            continue
        tile_index = producer[t.input[0]]
        tile = nodes[tile_index]
        perm = _perm(t)
        if (
            tile.op_type != "Tile"
            or perm is None
            or len(tile.input) != 2
            or tile.input[1] not in inits
            or uses.get(tile.output[0], 0) != 1
            or tile.output[0] in graph_outputs
        ):
            continue
        repeats = numpy_helper.to_array(inits[tile.input[1]])
        if repeats.ndim != 1 or len(repeats) != len(perm):
            continue
        permuted = numpy_helper.from_array(
            np.ascontiguousarray(repeats[perm], dtype=np.int64),
            f"{tile.output[0]}/repeats_permuted",
        )
        graph.initializer.append(permuted)
        small = f"{t.output[0]}/before_tile"
        x, tiled = tile.input[0], t.output[0]
        t.input[0], t.output[0] = x, small
        tile.input[0], tile.input[1], tile.output[0] = small, permuted.name, tiled
        # the Transpose now runs where the Tile did (its input exists there), the Tile
        # where the Transpose did (before every reader of the tiled tensor)
        nodes[tile_index], nodes[t_index] = t, tile
        swapped += 1
    if swapped:
        copies = [type(n).FromString(n.SerializeToString()) for n in nodes]
        del graph.node[:]
        graph.node.extend(copies)
    return swapped


def rewritten_model(path: Path) -> bytes:
    """The serialized ONNX model at ``path`` after :func:`swap_tile_transpose`, to give
    ``onnxruntime.InferenceSession`` instead of the path (clear WeightsError when the
    file is not an ONNX model)."""
    import onnx

    try:
        model = onnx.load(str(path))
    except Exception as exc:
        raise WeightsError(
            f"{path} cannot be loaded as an ONNX model ({type(exc).__name__}: "
            f"{str(exc).strip()[:300]}); expected a valid ONNX model file"
        ) from exc
    swap_tile_transpose(model)
    data: bytes = model.SerializeToString()
    return data
