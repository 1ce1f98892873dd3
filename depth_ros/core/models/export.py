"""Export a model's PyTorch network to ONNX, generically.

A model opts in by putting an :class:`ExportSpec` under ``ModelSpec.export``:
a factory that builds its ``torch.nn.Module`` (weights loaded) from a ``ModelConfig``,
whose ``forward`` takes the *preprocessed* network inputs (the arrays the model hands to
``Backend.run``) and returns the raw network outputs; their names; example inputs for a
given size; which axes are dynamic; and size constraints. The same factory serves the
PyTorch backend, so an exported file and the PyTorch model compute the same function.

torch is imported inside the functions only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.errors import ConfigError, InputError

if TYPE_CHECKING:
    from torch import nn

    from depth_ros.core.models.base import ModelConfig

#: ONNX metadata key recording the model ID (and ``param.<name>`` for its parameters).
META_MODEL = "depth_ros.model"


@dataclass(frozen=True)
class ExportSpec:
    """How a model's network exports to ONNX (see the module docstring)."""

    module_factory: Callable[[ModelConfig], nn.Module]  # weights loaded
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    example_inputs: Callable[[int, int], tuple[NDArray[np.float32], ...]]  # (height, width)
    dynamic_axes: Mapping[str, Mapping[int, str]] = field(default_factory=dict)
    size_multiple: int = 1
    min_size: int = 1
    default_size: tuple[int, int] = (384, 640)  # height, width of the example inputs
    opset: int = 17
    baked_params: tuple[str, ...] = ()  # parameters fixed in the exported graph


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_onnx` wrote: the file, its input size (None: dynamic), tensor names, time
    taken and metadata."""

    path: Path
    model_id: str
    height: int | None  # None: dynamic
    width: int | None
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    seconds: float
    metadata: dict[str, str]


def export_spec(model_id: str) -> ExportSpec:
    """The model's :class:`ExportSpec`, or ConfigError naming the exportable models."""
    from depth_ros.core.models import get_model, model_ids

    spec = get_model(model_id)
    ex = spec.export
    if ex is None:
        able = [m for m in model_ids() if get_model(m).export is not None]
        raise ConfigError(
            f"model {model_id!r} has no ONNX export (a classical matcher, a network "
            "keeping state between frames, or a pipeline run with PyTorch only); "
            "exportable models: "
            f"{', '.join(able) or '(none)'}"
        )
    return ex


def check_size(ex: ExportSpec, height: int, width: int) -> None:
    """InputError unless ``height`` and ``width`` suit the export (multiples, minimum)."""
    for name, v in (("height", height), ("width", width)):
        if v < ex.min_size or v % ex.size_multiple:
            raise InputError(
                f"{name} {v} is not allowed: it must be a multiple of {ex.size_multiple} "
                f"and at least {ex.min_size}"
            )


def export_onnx(
    model_id: str,
    config: ModelConfig,
    output: Path | str,
    height: int | None = None,
    width: int | None = None,
    opset: int | None = None,
) -> ExportResult:
    """Export ``model_id`` built with ``config`` (a ModelConfig: weights, params) to ONNX.

    With ``height`` and ``width`` the graph has that fixed input size; without them the
    axes the model declares dynamic stay dynamic (example inputs at ``default_size``).
    The file carries metadata: the model ID and its baked-in parameter values.
    """
    import time
    import warnings

    import onnx
    import torch

    from depth_ros.core.models import get_model
    from depth_ros.core.params import defaults

    ex = export_spec(model_id)
    if (height is None) != (width is None):
        raise InputError("give both height and width for a fixed-size export, or neither")
    dynamic = height is None
    h, w = (height, width) if height is not None and width is not None else ex.default_size
    check_size(ex, h, w)
    out = Path(output).expanduser()
    if out.suffix.lower() != ".onnx":
        raise InputError(f"output file {out} must end with .onnx")
    out.parent.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    module = ex.module_factory(config)
    module.eval()
    inputs = tuple(torch.from_numpy(np.ascontiguousarray(x)) for x in ex.example_inputs(h, w))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            inputs,
            str(out),
            input_names=list(ex.input_names),
            output_names=list(ex.output_names),
            opset_version=opset or ex.opset,
            dynamic_axes={k: dict(v) for k, v in ex.dynamic_axes.items()} if dynamic else None,
            do_constant_folding=True,
            dynamo=False,
        )
    spec = get_model(model_id)
    values = defaults({p.name: p for p in spec.params})
    values.update(config.params)
    meta = {META_MODEL: model_id}
    meta.update({f"param.{k}": str(values[k]) for k in ex.baked_params if k in values})
    # without the external data: a network over 2 GiB (Depth Pro) is written by torch with
    # its tensors in side files, which re-saving the graph must leave where they are
    proto = onnx.load(str(out), load_external_data=False)
    for k, v in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(proto, str(out))
    return ExportResult(
        out,
        model_id,
        None if dynamic else h,
        None if dynamic else w,
        ex.input_names,
        ex.output_names,
        time.perf_counter() - t0,
        meta,
    )
